// Bearer-token checks (see auth.h).
#include "service/auth.h"

#include <cstddef>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace tasksentinel {

bool ConstantTimeEquals(absl::string_view expected, absl::string_view presented) {
  // Every byte of `expected` is compared, whatever `presented` holds; a length difference
  // folds into the same accumulator instead of returning early.
  volatile uint8_t diff = expected.size() == presented.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const uint8_t p = i < presented.size() ? static_cast<uint8_t>(presented[i]) : 0;
    diff = diff | (static_cast<uint8_t>(expected[i]) ^ p);
  }
  return diff == 0;
}

bool BearerMatches(absl::string_view expected, absl::string_view header) {
  if (expected.empty()) return true;
  constexpr absl::string_view kScheme = "bearer ";
  if (header.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(header.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  return ConstantTimeEquals(expected, absl::StripAsciiWhitespace(header.substr(kScheme.size())));
}

}  // namespace tasksentinel
