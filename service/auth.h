// Caller authentication shared by the gRPC service and the HTTP endpoints: the bearer token of
// SENTINEL_API_TOKEN, compared in constant time. The presented value is never logged or quoted.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_SERVICE_AUTH_H_
#define TASK_SENTINEL_SERVICE_AUTH_H_

#include "absl/strings/string_view.h"

namespace tasksentinel {

// Whether `presented` equals `expected`. Takes time that depends on the lengths only, never on
// where the two first differ, so that timing does not reveal the token byte by byte.
bool ConstantTimeEquals(absl::string_view expected, absl::string_view presented);

// Whether an `authorization` header value (`Bearer <token>`; the scheme is case-insensitive)
// carries `expected`. An empty `expected` means no token is required: always true.
bool BearerMatches(absl::string_view expected, absl::string_view header);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_AUTH_H_
