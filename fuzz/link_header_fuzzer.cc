// Fuzz target: the Link header parser (service/github/github_wire.h NextLink), which reads a
// header from the network. The next URL, when found, is a substring of the header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "service/github/github_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view header(reinterpret_cast<const char*>(data), size);
  const std::string next = tasksentinel::github::NextLink(header);
  if (!next.empty() && header.find(next) == absl::string_view::npos) std::abort();
  return 0;
}
