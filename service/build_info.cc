// The build's identity (see build_info.h). SENTINEL_COMMIT and SENTINEL_BUILD_MODE are given by
// BUILD.bazel's local_defines as bare tokens and turned into strings here.
#include "service/build_info.h"

#include "absl/strings/str_cat.h"

#define TS_STRINGIFY_VALUE(x) #x
#define TS_STRINGIFY(x) TS_STRINGIFY_VALUE(x)

#ifndef SENTINEL_COMMIT
#define SENTINEL_COMMIT unknown
#endif
#ifndef SENTINEL_BUILD_MODE
#define SENTINEL_BUILD_MODE unknown
#endif

namespace tasksentinel {

absl::string_view BuildCommit() { return TS_STRINGIFY(SENTINEL_COMMIT); }

absl::string_view BuildMode() { return TS_STRINGIFY(SENTINEL_BUILD_MODE); }

bool AssertionsDisabled() {
#ifdef NDEBUG
  return true;
#else
  return false;
#endif
}

std::string VersionLine(absl::string_view program) {
  return absl::StrCat(program, " ", kSentinelVersion, " (commit ", BuildCommit(), ", ",
                      BuildMode(), " build", AssertionsDisabled() ? "" : ", assertions on", ")");
}

}  // namespace tasksentinel
