// Configuration (see config.h). Every setting is one entry of a table (config_table.cc, built
// from the factories of config_setting.h) that knows how to parse the setting's text into its
// Config field and how to print the field back. LoadConfig picks each setting's text (flag, else
// environment, else the config file of config_file.h), runs it through the table, then checks
// the relations between settings; the built-in defaults are Config's member initialisers, which
// also give AllSettings() its default values.
#include "core/config.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "core/config_file.h"
#include "core/config_setting.h"

namespace tasksentinel {
namespace {

using config_internal::EnvLookup;
using config_internal::FileValues;
using config_internal::FindSetting;
using config_internal::IsIdChar;
using config_internal::Json;
using config_internal::CheckApiToken;
using config_internal::kApiTokenFileSetting;
using config_internal::kApiTokenSetting;
using config_internal::kConfigSetting;
using config_internal::kMaxCpuCores;
using config_internal::kMaxWorkerIdLength;
using config_internal::kTokenSetting;
using config_internal::Quote;
using config_internal::RawValue;
using config_internal::ReadConfigFile;
using config_internal::Setting;
using config_internal::Settings;

std::string SystemHostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// "<hostname>-<pid>", with characters a worker id may not contain replaced by '-' and the
// hostname shortened to fit.
std::string DefaultWorkerId(absl::string_view hostname) {
  const std::string suffix = absl::StrCat("-", getpid());
  std::string id = absl::StrCat(hostname.substr(0, kMaxWorkerIdLength - suffix.size()), suffix);
  for (char& c : id) {
    if (!IsIdChar(c)) c = '-';
  }
  return id;
}

std::string DefaultDataDir(const EnvLookup& env) {
  const std::string xdg = env("XDG_DATA_HOME").value_or("");
  if (absl::StartsWith(xdg, "/")) return absl::StrCat(xdg, "/task-sentinel");
  const std::string home = env("HOME").value_or("");
  if (!home.empty()) return absl::StrCat(home, "/.local/share/task-sentinel");
  return "./.task-sentinel";
}

// Config's defaults, with the machine-dependent ones filled in.
Config Defaults(const EnvLookup& env) {
  Config config;
  config.hostname = SystemHostname();
  config.worker_id = DefaultWorkerId(config.hostname);
  config.cpu_cores = std::min(static_cast<int>(std::thread::hardware_concurrency()), kMaxCpuCores);
  config.data_dir = DefaultDataDir(env);
  return config;
}

// Resolves and validates every setting; see LoadConfig.
class Loader {
 public:
  explicit Loader(const ConfigSources& sources) : sources_(sources) {
    env_ = [this](const std::string& name) -> std::optional<std::string> {
      return sources_.env ? sources_.env(name) : std::nullopt;
    };
  }
  Loader(const Loader&) = delete;  // env_ refers to this
  Loader& operator=(const Loader&) = delete;

  absl::StatusOr<Config> Load() {
    for (const auto& [name, value] : sources_.flags) {
      if (FindSetting(name) == nullptr) {
        errors_.push_back(absl::StrCat("unknown setting ", name, " (flag)"));
      }
    }
    if (std::optional<RawValue> path = FromCommandLine(kConfigSetting);
        path && !path->text.empty()) {
      ReadConfigFile(path->text, absl::StrCat(kConfigSetting, " (", path->origin, ")"), env_,
                     &file_values_, &errors_);
    }
    Config config = Defaults(env_);
    for (const Setting& setting : Settings()) {
      std::optional<RawValue> raw = FromCommandLine(setting.name);
      if (!raw) {
        auto it = file_values_.find(setting.name);
        if (it == file_values_.end()) continue;
        raw = it->second.raw;
      }
      origins_[setting.name] = raw->origin;
      absl::Status status = setting.parse(*raw, &config);
      if (status.ok()) continue;
      invalid_.insert(setting.name);
      errors_.push_back(
          setting.secret
              ? absl::StrCat(setting.name, " (", raw->origin, "): ", status.message())
              : absl::StrCat(
                    setting.name, " (", raw->origin, ") = ",
                    raw->items
                        ? Json(*raw->items).dump(-1, ' ', false, Json::error_handler_t::replace)
                        : Quote(raw->text),
                    ": ", status.message()));
    }
    ReadTokenFile(config);
    CheckRelations(config);
    if (errors_.empty()) return config;
    return absl::InvalidArgumentError(WithoutSecrets(absl::StrJoin(errors_, "\n")));
  }

 private:
  // The setting's value from a flag, else from the environment, else none.
  std::optional<RawValue> FromCommandLine(const std::string& name) const {
    if (auto it = sources_.flags.find(name); it != sources_.flags.end()) {
      return RawValue{it->second, std::nullopt, "flag"};
    }
    if (std::optional<std::string> value = env_(name)) {
      return RawValue{*std::move(value), std::nullopt, "env"};
    }
    return std::nullopt;
  }

  // Fills config.api_token from SENTINEL_API_TOKEN_FILE, if set. Its contents never reach an
  // error (they are redacted like every secret, should a message ever quote them).
  void ReadTokenFile(Config& config) {
    if (config.api_token_file.empty() || invalid_.count(kApiTokenFileSetting) != 0) return;
    if (!config.api_token.empty()) {
      errors_.push_back(absl::StrCat(Stated(kApiTokenFileSetting, config), ": set ",
                                     kApiTokenSetting, " or ", kApiTokenFileSetting,
                                     ", not both"));
      return;
    }
    std::ifstream in(config.api_token_file, std::ios::binary);
    if (!in.is_open()) {
      errors_.push_back(absl::StrCat(Stated(kApiTokenFileSetting, config),
                                     ": cannot open it (missing or not readable)"));
      return;
    }
    std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
      errors_.push_back(absl::StrCat(Stated(kApiTokenFileSetting, config), ": cannot read it"));
      return;
    }
    token_file_contents_ = contents;
    const std::string token(absl::StripTrailingAsciiWhitespace(contents));
    absl::Status shape = CheckApiToken(token);
    if (token.empty()) shape = absl::InvalidArgumentError("the file is empty");
    if (!shape.ok()) {
      errors_.push_back(absl::StrCat(Stated(kApiTokenFileSetting, config),
                                     ": the token in it ", shape.message()));
      return;
    }
    config.api_token = token;
  }

  // The relations between settings, checked once both sides are valid.
  void CheckRelations(const Config& config) {
    auto valid = [this](const char* name) { return invalid_.count(name) == 0; };
    if (valid("SENTINEL_TLS_CERT") && valid("SENTINEL_TLS_KEY") &&
        config.tls_cert.empty() != config.tls_key.empty()) {
      const bool cert_set = !config.tls_cert.empty();
      errors_.push_back(absl::StrCat(Stated(cert_set ? "SENTINEL_TLS_CERT" : "SENTINEL_TLS_KEY",
                                            config),
                                     ": ", cert_set ? "SENTINEL_TLS_KEY" : "SENTINEL_TLS_CERT",
                                     " must be set too (set both or neither)"));
    }
    if (valid("SENTINEL_TLS_CLIENT_CA") && !config.tls_client_ca.empty() &&
        config.tls_cert.empty()) {
      errors_.push_back(absl::StrCat(Stated("SENTINEL_TLS_CLIENT_CA", config),
                                     ": needs SENTINEL_TLS_CERT and SENTINEL_TLS_KEY (mutual TLS "
                                     "is TLS with client certificates)"));
    }
    if (errors_.empty() && !config.allow_insecure) {
      if (!IsLocalOnlyAddress(config.grpc_addr) && config.tls_cert.empty() &&
          config.api_token.empty()) {
        errors_.push_back(absl::StrCat(
            Stated("SENTINEL_GRPC_ADDR", config),
            ": serving beyond this machine needs TLS (SENTINEL_TLS_CERT, SENTINEL_TLS_KEY) or a "
            "token (SENTINEL_API_TOKEN_FILE); or use a unix: socket or loopback address, or set "
            "SENTINEL_ALLOW_INSECURE=true"));
      }
      if (!config.http_addr.empty() && !IsLocalOnlyAddress(config.http_addr) &&
          config.api_token.empty()) {
        errors_.push_back(absl::StrCat(
            Stated("SENTINEL_HTTP_ADDR", config),
            ": /metrics and /cluster/health beyond this machine need a token "
            "(SENTINEL_API_TOKEN_FILE); or use a loopback address, leave it empty, or set "
            "SENTINEL_ALLOW_INSECURE=true"));
      }
    }
    if (valid("STALE_WORKER_THRESHOLD_MS") && valid("HEARTBEAT_INTERVAL_MS") &&
        config.stale_threshold <= config.heartbeat_interval) {
      errors_.push_back(absl::StrCat(Stated("STALE_WORKER_THRESHOLD_MS", config),
                                     ": must be greater than ",
                                     Stated("HEARTBEAT_INTERVAL_MS", config)));
    }
    const int app_parts = !config.github_app_id.empty() +
                          !config.github_app_private_key_path.empty() +
                          !config.github_app_installation_id.empty();
    if (app_parts != 0 && app_parts != 3) {
      errors_.push_back(
          "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_PATH and GITHUB_APP_INSTALLATION_ID: set all "
          "three for a GitHub App identity, or none");
    }
    const int credentials = !config.github_token.empty() + !config.github_token_file.empty() +
                            (app_parts == 3);
    if (credentials > 1) {
      errors_.push_back(
          "GITHUB_TOKEN, GITHUB_TOKEN_FILE and a GitHub App (GITHUB_APP_*): set only one");
    }
    if (valid("GITHUB_OWNER") && valid("GITHUB_REPO") &&
        config.github_owner.empty() != config.github_repo.empty()) {
      const bool owner_set = !config.github_owner.empty();
      errors_.push_back(absl::StrCat(Stated(owner_set ? "GITHUB_OWNER" : "GITHUB_REPO", config),
                                     ": ", owner_set ? "GITHUB_REPO" : "GITHUB_OWNER",
                                     " must be set too (set both or neither)"));
    }
  }

  // `NAME (origin) = "value"` for the setting's value in `config`.
  std::string Stated(const char* name, const Config& config) const {
    auto it = origins_.find(name);
    return absl::StrCat(name, " (", it == origins_.end() ? "default" : it->second,
                        ") = ", Quote(FindSetting(name)->format(config)));
  }

  // `message` with every secret given anywhere (flag, env, config file or token file)
  // replaced by "(redacted)".
  std::string WithoutSecrets(std::string message) const {
    std::vector<std::string> tokens;
    for (const Setting& setting : Settings()) {
      if (!setting.secret) continue;
      if (auto it = sources_.flags.find(setting.name); it != sources_.flags.end()) {
        tokens.push_back(it->second);
      }
      if (std::optional<std::string> token = env_(setting.name)) tokens.push_back(*token);
      if (auto it = file_values_.find(setting.name); it != file_values_.end()) {
        tokens.push_back(it->second.raw.text);
      }
    }
    if (!token_file_contents_.empty()) {
      tokens.push_back(token_file_contents_);
      tokens.push_back(std::string(absl::StripAsciiWhitespace(token_file_contents_)));
    }
    // Longest first, so that no token is left half-replaced by one it contains.
    std::sort(tokens.begin(), tokens.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& token : tokens) {
      if (!token.empty()) absl::StrReplaceAll({{token, "(redacted)"}}, &message);
    }
    return message;
  }

  const ConfigSources& sources_;
  EnvLookup env_;
  FileValues file_values_;
  std::map<std::string, std::string> origins_;  // of the settings not left at their defaults
  std::set<std::string> invalid_;               // settings whose values did not parse
  std::vector<std::string> errors_;
  std::string token_file_contents_;  // SENTINEL_API_TOKEN_FILE's, once read
};

}  // namespace

std::string Config::DebugString() const {
  std::string out;
  for (const Setting& setting : Settings()) {
    std::string value = setting.format(*this);
    if (setting.secret) value = value.empty() ? "(unset)" : "(set)";
    absl::StrAppend(&out, setting.name, "=", value, "\n");
  }
  return out;
}

absl::StatusOr<Config> LoadConfig(const ConfigSources& sources) { return Loader(sources).Load(); }

bool IsLocalOnlyAddress(absl::string_view addr) {
  if (absl::StartsWith(addr, "unix:")) return true;
  const size_t colon = addr.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? addr : addr.substr(0, colon);
  if (host == "localhost" || host == "[::1]") return true;
  return absl::StartsWith(host, "127.") &&
         host.find_first_not_of("0123456789.") == absl::string_view::npos;
}

const std::vector<SettingInfo>& AllSettings() {
  static const std::vector<SettingInfo>* const kInfos = [] {
    auto* infos = new std::vector<SettingInfo>;
    const Config defaults;
    for (const Setting& setting : Settings()) {
      infos->push_back(
          {setting.name, setting.description,
           setting.computed_default.empty() ? setting.format(defaults) : setting.computed_default});
    }
    return infos;
  }();
  return *kInfos;
}

}  // namespace tasksentinel
