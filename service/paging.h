// Paging of List RPCs: `page_size` and an opaque `page_token` naming the last key of the
// previous page (and the request it belongs to), so each page is computed afresh from the
// current list with no state kept in the sidecar.
//
// A token is web-safe base64 of "<request fingerprint>\n<last key>"; a token given with a request
// whose fingerprint differs (another namespace, prefix, include_gone) is INVALID_ARGUMENT, as is a
// token that does not decode.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_SERVICE_PAGING_H_
#define TASK_SENTINEL_SERVICE_PAGING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {

// Entries per page when page_size is 0, and the most a page may hold.
inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;

// One page of a list, as positions into the sorted keys it was cut from.
struct Page {
  size_t begin = 0;
  size_t end = 0;
  // Empty on the last page.
  std::string next_page_token;
};

// Cuts the page that `page_size`/`page_token` ask for out of `sorted_keys` (ascending, unique).
// `fingerprint` identifies the request's other fields. INVALID_ARGUMENT for a negative or too
// large page_size, or a token that is not of this request.
absl::StatusOr<Page> CutPage(const std::vector<std::string>& sorted_keys, int32_t page_size,
                             absl::string_view page_token, absl::string_view fingerprint);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_PAGING_H_
