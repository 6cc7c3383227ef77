// Paging of List RPCs (see paging.h).
#include "service/paging.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tasksentinel {

absl::StatusOr<Page> CutPage(const std::vector<std::string>& sorted_keys, int32_t page_size,
                             absl::string_view page_token, absl::string_view fingerprint) {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be 0..", kMaxPageSize, ", not ", page_size));
  }
  const size_t size = page_size == 0 ? kDefaultPageSize : static_cast<size_t>(page_size);
  Page page;
  if (!page_token.empty()) {
    std::string decoded;
    const std::string prefix = absl::StrCat(fingerprint, "\n");
    if (!absl::WebSafeBase64Unescape(page_token, &decoded) ||
        decoded.compare(0, prefix.size(), prefix) != 0) {
      return absl::InvalidArgumentError(
          "page_token is not a token of this list request (pass the previous answer's "
          "next_page_token with the same other fields)");
    }
    const std::string last = decoded.substr(prefix.size());
    page.begin = static_cast<size_t>(
        std::upper_bound(sorted_keys.begin(), sorted_keys.end(), last) - sorted_keys.begin());
  }
  page.end = std::min(sorted_keys.size(), page.begin + size);
  if (page.end < sorted_keys.size()) {
    page.next_page_token =
        absl::WebSafeBase64Escape(absl::StrCat(fingerprint, "\n", sorted_keys[page.end - 1]));
  }
  return page;
}

}  // namespace tasksentinel
