// Fuzz target: the GitHub backend's record parser (core/github/records.h ParseBody), which reads
// comment and issue bodies anyone with access to the repository may write. Every body must
// parse to an outcome; never crash, hang or throw.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/github/records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  tasksentinel::github::ParsedBody parsed = tasksentinel::github::ParseBody(body);
  (void)parsed;
  return 0;
}
