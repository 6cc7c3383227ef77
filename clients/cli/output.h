// How sentinelctl prints: aligned tables and "field value" blocks for people, one JSON object
// per line for programs (--json), and the conversions between protobuf times/durations and
// absl ones that both need.
//
// JSON is google::protobuf::util::MessageToJsonString with the proto field names (task_id, not
// taskId) and every field printed, even when zero. As proto3 JSON requires, 64-bit integers
// (fencing tokens, versions) are strings and bytes (memory values) are base64.
#ifndef TASK_SENTINEL_CLIENTS_CLI_OUTPUT_H_
#define TASK_SENTINEL_CLIENTS_CLI_OUTPUT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "tasksentinel/v1/sentinel.pb.h"

namespace tasksentinel::cli {

// A table printed with aligned columns, headed by upper-case column names.
class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Adds one row; it should have as many cells as the header.
  void AddRow(std::vector<std::string> row);

  // Prints the header and the rows to stdout, or the line `empty` when there are no rows.
  void Print(absl::string_view empty) const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

// "name value" lines, the names padded to one width.
using Fields = std::vector<std::pair<std::string, std::string>>;

// Prints `fields` to stdout.
void PrintFields(const Fields& fields);

// Prints `message` as one line of JSON on stdout. kExitOk, or kExitError when it cannot be
// converted.
int PrintJson(const google::protobuf::Message& message);

// Converts `message` to its JSON value (as PrintJson would print it), for composing outputs
// that are not one response. False when it cannot be converted.
bool ToJsonValue(const google::protobuf::Message& message, google::protobuf::Value* value);

// A protobuf timestamp as absl::Time.
absl::Time ToTime(const google::protobuf::Timestamp& ts);

// "2024-05-01T12:00:00Z" (UTC, whole seconds), or "-" for an unset timestamp.
std::string FormatTime(const google::protobuf::Timestamp& ts);

// Whole seconds from `ts` to now (negative when `ts` is in the future), or "-" when unset.
std::string SecondsAgo(const google::protobuf::Timestamp& ts);

// Whole seconds from now to `ts` (negative when `ts` has passed), or "-" when unset.
std::string SecondsUntil(const google::protobuf::Timestamp& ts);

// A protobuf duration in absl's notation, e.g. "30s", "1m30s".
std::string FormatDuration(const google::protobuf::Duration& d);

// Sets `out` to `d` (which must be finite).
void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out);

// `name` without `prefix`, e.g. ("TASK_STATE_DONE", "TASK_STATE_") -> "DONE".
std::string ShortEnum(const std::string& name, absl::string_view prefix);

// `bytes` as text: unchanged when it has no control characters, otherwise C-escaped; cut to
// `max_chars` (with "...") when max_chars > 0.
std::string Printable(absl::string_view bytes, size_t max_chars = 0);

// The block of fields describing a task.
Fields TaskFields(const v1::Task& task);

// The block of fields describing a lock.
Fields LockFields(const v1::Lock& lock);

// The block of fields describing a memory entry (including its whole value).
Fields EntryFields(const v1::MemoryEntry& entry);

}  // namespace tasksentinel::cli

#endif  // TASK_SENTINEL_CLIENTS_CLI_OUTPUT_H_
