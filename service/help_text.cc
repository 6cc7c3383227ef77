// `sentinel --help` from the settings table (see help_text.h).
#include "service/help_text.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/config.h"

namespace tasksentinel {

std::string SidecarHelp(const std::function<bool(const std::string& flag)>& has_flag) {
  std::string out =
      "usage: sentinel [--setting_name=VALUE ...]\n"
      "       sentinel exec [--until-idle [--idle-wait DURATION]] [--max-tasks N]\n"
      "                     [--grace DURATION] -- CMD ARGS...\n"
      "       sentinel --help | --version\n\n"
      "Task Sentinel coordination sidecar: serves tasksentinel.v1.SentinelService over gRPC for\n"
      "one worker, coordinating through a GitHub repository (GITHUB_OWNER/GITHUB_REPO set) or\n"
      "the embedded store in SENTINEL_DATA_DIR. Stops cleanly on SIGTERM or SIGINT. `exec` also\n"
      "runs CMD once per task of this worker (docs/clients.md).\n\n"
      "Every setting is an environment variable; its flag (the name in lower case) overrides\n"
      "it, and the JSON config file (SENTINEL_CONFIG) fills in the rest. Precedence: flag >\n"
      "environment > config file > default. Full reference: docs/configuration.md.\n\n"
      "Settings:\n";
  for (const SettingInfo& s : AllSettings()) {
    const std::string flag = absl::AsciiStrToLower(s.name);
    absl::StrAppend(&out, "  ", s.name, "  ",
                    has_flag(flag) ? absl::StrCat("--", flag)
                                   : std::string("(environment only, no flag)"),
                    "\n      ", s.description, "\n      default: ",
                    s.default_value.empty() ? "(empty)" : s.default_value, "\n");
  }
  absl::StrAppend(&out,
                  "\nOther flags:\n"
                  "  --help     this text\n"
                  "  --version  the version, the commit built and the build mode\n");
  return out;
}

}  // namespace tasksentinel
