// What this binary is: the release version, the commit it was built from and the build mode,
// for `sentinel --version`, `sentinelctl --version` and the tasksentinel_build_info metric.
//
// The commit comes from `--define=SENTINEL_COMMIT=<sha>` at build time (scripts/run.sh and the
// Dockerfile pass `git rev-parse --short=12 HEAD`; .bazelrc defaults it to "unknown"), and the
// mode from Bazel's compilation mode (`-c opt`, `fastbuild`, `dbg`). Only this library is
// recompiled when either changes.
//
// Thread safety: the functions return constants.
#ifndef TASK_SENTINEL_SERVICE_BUILD_INFO_H_
#define TASK_SENTINEL_SERVICE_BUILD_INFO_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tasksentinel {

// The release version, e.g. "0.1.0".
inline constexpr absl::string_view kSentinelVersion = "0.1.0";

// The commit the binary was built from (abbreviated sha), or "unknown" when the build did not
// say (a plain `bazel build` without --define=SENTINEL_COMMIT=...).
absl::string_view BuildCommit();

// Bazel's compilation mode: "opt", "fastbuild" or "dbg".
absl::string_view BuildMode();

// Whether assertions are compiled out (NDEBUG defined), as in every `-c opt` build.
bool AssertionsDisabled();

// One line for --version: "<program> 0.1.0 (commit abc123, opt build)".
std::string VersionLine(absl::string_view program);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_BUILD_INFO_H_
