// Input validation shared by every RPC: ids, keys, sizes and durations. Each check returns
// INVALID_ARGUMENT with a message naming the field and what is allowed, so bad input is refused
// before anything changes.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_CORE_VALIDATION_H_
#define TASK_SENTINEL_CORE_VALIDATION_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/model.h"

namespace tasksentinel {

// Largest memory value, task body, result or error text. 32 KiB leaves room for the JSON and
// base64 framing inside a 65,536-character GitHub comment.
inline constexpr size_t kMaxValueBytes = 32 * 1024;
inline constexpr size_t kMaxIdLength = 128;
inline constexpr size_t kMaxKeyLength = 256;
inline constexpr size_t kMaxTitleLength = 256;
inline constexpr size_t kMaxMetadataEntries = 16;
inline constexpr size_t kMaxMetadataKeyLength = 64;
inline constexpr size_t kMaxMetadataValueLength = 256;
inline constexpr absl::Duration kMaxLockTtl = absl::Hours(24);
inline constexpr absl::Duration kMaxWait = absl::Minutes(10);
inline constexpr absl::Duration kMinMemoryTtl = absl::Seconds(1);
inline constexpr absl::Duration kMaxMemoryTtl = absl::Hours(24 * 30);
inline constexpr int32_t kMaxPriority = 1000;
inline constexpr uint32_t kMaxTaskAttempts = 100;

// The longest prefix of an input that an error message quotes.
inline constexpr size_t kMaxQuotedInput = 64;

// `input` for an error message: at most its first kMaxQuotedInput bytes, in double quotes, with
// bytes that are not printable ASCII (and quotes and backslashes) escaped as \xNN, followed by
// "... (N bytes)" when cut. Errors never echo a whole input, so a huge or binary value cannot
// swell or garble them (gRPC status messages travel in headers).
std::string QuoteInput(absl::string_view input);

// An id (task id, lock name, worker id): 1..128 characters of [A-Za-z0-9._:/@-].
absl::Status ValidateId(absl::string_view field, absl::string_view id);

// A memory key: 1..256 characters of [A-Za-z0-9._:/@-].
absl::Status ValidateKey(absl::string_view field, absl::string_view key);

// A key prefix: like a key, but may be empty.
absl::Status ValidateKeyPrefix(absl::string_view field, absl::string_view prefix);

// `ns` must be one of `allowed`. The error quotes a short prefix of `ns` (QuoteInput).
absl::Status ValidateNamespace(absl::string_view ns, const std::vector<std::string>& allowed);

// A task type: 0..64 characters of [a-z0-9_.-].
absl::Status ValidateTaskType(absl::string_view field, absl::string_view type);

// At most `max` bytes.
absl::Status ValidateSize(absl::string_view field, absl::string_view value, size_t max);

// A duration in [0, max]; zero means "default" to the caller.
absl::Status ValidateDuration(absl::string_view field, absl::Duration d, absl::Duration max);

// Lock metadata: at most 16 entries, keys 1..64, values up to 256 characters.
absl::Status ValidateMetadata(const std::map<std::string, std::string>& metadata);

// ---- Requests of the Coordinator contract (both backends check them the same way) ----

// Checks a SetMemory request: namespace among `namespaces`, key, value size (32 KiB), ttl (zero
// or 1 s .. 30 days) and the fencing lock's name. INVALID_ARGUMENT naming the field.
absl::Status ValidateSetRequest(const SetRequest& request,
                                const std::vector<std::string>& namespaces);

// ABORTED, naming the entry and both versions, unless `actual` equals `expected` (0: absent).
absl::Status CheckExpectedVersion(const std::string& ns, const std::string& key,
                                  uint64_t expected, uint64_t actual);

// Checks a new task: INVALID_ARGUMENT for an empty or over-long title, a body over 32 KiB, a
// malformed type, a priority outside -1000..1000 or more than 100 attempts.
absl::Status ValidateNewTask(const NewTask& task);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_VALIDATION_H_
