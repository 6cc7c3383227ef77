// The sidecar binary explains itself: `sentinel --help` lists every setting of core/config's
// table with its environment variable, its flag and its default (and gives secrets no flag);
// `sentinel --version` names the version, the commit and the build mode. Runs the real binary
// from the test's runfiles.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/build_info.h"

namespace tasksentinel {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct RunResult {
  int exit_code = -1;
  std::string out;
};

// Runs the sentinel binary with `args` (stdout captured, stderr discarded).
RunResult Sentinel(const std::string& args) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  const std::string binary = srcdir != nullptr && ws != nullptr
                                 ? absl::StrCat(srcdir, "/", ws, "/service/sentinel")
                                 : "service/sentinel";
  RunResult run;
  FILE* pipe = popen(absl::StrCat(binary, " ", args, " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(SentinelBinaryTest, HelpListsEverySettingWithItsFlagAndDefault) {
  RunResult run = Sentinel("--help");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_THAT(run.out, Not(HasSubstr("No flags matched")));
  const std::set<std::string> secrets = {"GITHUB_TOKEN", "SENTINEL_API_TOKEN", "WORKER_SECRET"};
  for (const SettingInfo& s : AllSettings()) {
    const std::string flag = absl::AsciiStrToLower(s.name);
    const std::string head =
        absl::StrCat("\n  ", s.name, "  ",
                     secrets.count(s.name) ? "(environment only, no flag)" : "--" + flag, "\n");
    const std::string body = absl::StrCat("      ", s.description, "\n      default: ",
                                          s.default_value.empty() ? "(empty)" : s.default_value,
                                          "\n");
    EXPECT_THAT(run.out, HasSubstr(head + body)) << s.name;
  }
  // A range, as the table states it.
  EXPECT_THAT(run.out, HasSubstr("How many tasks this worker holds at once (1..10000)"));
}

TEST(SentinelBinaryTest, AbslHelpFlagsShowTheSameText) {
  const std::string help = Sentinel("--help").out;
  EXPECT_EQ(Sentinel("--helpfull").out, help);
  EXPECT_EQ(Sentinel("-h").out, help);
}

TEST(SentinelBinaryTest, SecretsHaveNoFlag) {
  // A secret on a command line is visible to every user of the machine.
  for (const char* flag : {"--github_token=x", "--worker_secret=x", "--sentinel_api_token=x"}) {
    RunResult run = Sentinel(flag);
    EXPECT_NE(run.exit_code, 0) << flag;
  }
}

TEST(SentinelBinaryTest, VersionNamesVersionCommitAndMode) {
  RunResult run = Sentinel("--version");
  ASSERT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, VersionLine("sentinel") + "\n");
  EXPECT_THAT(run.out, HasSubstr(std::string(kSentinelVersion)));
  EXPECT_THAT(run.out, HasSubstr(absl::StrCat("commit ", BuildCommit())));
  EXPECT_THAT(run.out, HasSubstr(absl::StrCat(BuildMode(), " build")));
  // Bazel's compilation mode, not a placeholder.
  EXPECT_THAT(std::string(BuildMode()), ::testing::AnyOf("opt", "fastbuild", "dbg"));
  EXPECT_FALSE(BuildCommit().empty());
}

}  // namespace
}  // namespace tasksentinel
