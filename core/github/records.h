// The records Task Sentinel keeps on GitHub, and their comment format.
//
// Every comment (and task issue body) the sidecar writes ends with one machine record in an
// HTML comment, invisible on github.com, after a one-line summary for people:
//
//   🔒 lock "42" claimed by worker-7 (epoch 3, ttl 300s)
//   <!-- task-sentinel {"type":"LOCK_CLAIM","v":1,"lock":"42","worker_id":"worker-7",...} -->
//
// Records have a `type` and a schema version `v` (kRecordVersion). A comment without a record,
// with one that does not parse, with an unknown type or with a newer `v` is not ours to read: it
// is reported as foreign (ParseOutcome) and the caller ignores and counts it; it is never fatal.
// Unknown fields are ignored, so that a later version can add fields without raising `v`.
//
// Why it is safe to embed user data: the JSON is written with '<' and '>' escaped as \u003c and
// \u003e (they can only occur inside JSON strings), so no value can close the HTML comment or
// open another one, and the last marker in a body is always the sidecar's own.
//
// Times are microseconds since the Unix epoch; durations are milliseconds; memory values are
// base64 (they are bytes).
//
// Thread safety: plain values and pure functions.
#ifndef TASK_SENTINEL_CORE_GITHUB_RECORDS_H_
#define TASK_SENTINEL_CORE_GITHUB_RECORDS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tasksentinel::github {

// The schema version this code writes and reads (records with a higher `v` are foreign).
inline constexpr int kRecordVersion = 1;

// A worker's registration and lease for one epoch (one comment per worker and epoch on the
// coordination issue, edited by each heartbeat). The lease lasts `lease` from the comment's
// updated_at (GitHub's clock).
struct RegistrationRecord {
  std::string worker_id;
  std::string hostname;
  bool gone = false;        // status: "active" or "gone" (departed cleanly)
  int health = 0;           // tasksentinel::Health as an integer
  uint64_t epoch = 0;
  absl::Duration lease = absl::ZeroDuration();
  absl::Time next_renewal_at = absl::UnixEpoch();  // when the next heartbeat is due
  // When the lease expires unless renewed, as the writer estimated it (its GitHub time + lease),
  // for people and tools. Sidecars judge by the comment's updated_at + lease instead.
  absl::Time lease_expires_at = absl::UnixEpoch();
  // A heartbeat's: the end of the lease it renews (InfinitePast on an epoch's first write). A
  // heartbeat that lands later than that renews nothing (see RegistrationEntry::LeaseEnd).
  absl::Time renews_until = absl::InfinitePast();
  absl::Time registered_at = absl::UnixEpoch();    // first registration of this worker
  uint32_t max_tasks = 0;                            // capacity
  std::vector<std::string> supported_task_types;     // capabilities (empty: every type)
  uint32_t cpu_cores = 0;
  uint64_t memory_mb = 0;
  std::vector<std::string> active_tasks;             // as reported by the worker
  std::map<std::string, uint32_t> type_history;      // completed tasks per type (affinity)
  // Written at the idle pace (the worker held no lock): registry.h, FleetPace.
  bool idle = false;
};

// A claim on a lock (a comment on the lock's issue). Its comment id is the fencing token.
struct ClaimRecord {
  std::string lock;
  std::string worker_id;
  uint64_t epoch = 0;
  absl::Duration ttl = absl::ZeroDuration();
  std::map<std::string, std::string> metadata;
  // Set when the claim takes over the lock of a worker whose lease lapsed.
  std::string recovered_from;
  absl::Time lapsed_at = absl::InfinitePast();
};

// A claim edited into a release by FailTask: the lock is free, with the attempt's error and the
// time the task may be retried.
struct ReleasedRecord {
  std::string lock;
  std::string worker_id;
  uint64_t epoch = 0;
  std::string error;
  absl::Time retry_at = absl::InfinitePast();
  bool dead_letter = false;
};

// One shared-memory entry as its writer keeps it.
struct MemoryItem {
  std::string value;  // raw bytes
  // When it was written (GitHub's clock, microseconds); also its version. Last write wins by
  // (written_at, writer id).
  absl::Time written_at = absl::UnixEpoch();
  bool tombstone = false;  // a delete
  absl::Time expires_at = absl::InfiniteFuture();
};

// One worker's entries of one namespace (one comment, or `part` of several when they do not fit
// one comment).
struct WorkerMemoryRecord {
  std::string worker_id;
  std::string ns;
  int part = 0;
  std::map<std::string, MemoryItem> entries;
};

// The sidecar's state of a task, kept at the end of the task issue's body.
struct TaskMeta {
  int32_t priority = 0;
  uint32_t max_attempts = 0;  // 0: the configured TASK_MAX_ATTEMPTS
  uint32_t attempts = 0;
  std::string worker_id;      // the worker of the current (or last) attempt
  uint64_t epoch = 0;         // that worker's lease epoch
  uint64_t token = 0;         // that attempt's claim (fencing token)
  absl::Time not_before = absl::InfinitePast();
  std::string last_error;
  int64_t result_bytes = -1;  // length of the result section in the body; -1: no result
};

using Record = std::variant<RegistrationRecord, ClaimRecord, ReleasedRecord, WorkerMemoryRecord,
                            TaskMeta>;

// The record's `type` field, e.g. "LOCK_CLAIM".
absl::string_view RecordTypeName(const Record& record);

// The HTML-comment line carrying `record`: "<!-- task-sentinel {...} -->".
std::string RecordLine(const Record& record);

// A whole comment body: the one-line human summary, a newline, the record line.
std::string CommentBody(const Record& record);

// The human summary of a record, one line.
std::string Summary(const Record& record);

// What reading a body found.
enum class ParseOutcome {
  kRecord,     // one of ours
  kNoRecord,   // no marker: a person's comment or another tool's
  kMalformed,  // a marker whose JSON does not parse, or lacks required fields, or has an
               // unknown type
  kNewer,      // a schema version this code does not know
  kForeign,    // a record that parsed but does not count (trust.h says why)
};

struct ParsedBody {
  ParseOutcome outcome = ParseOutcome::kNoRecord;
  std::optional<Record> record;
  // The body before the record line (without the separating blank line), for issue bodies.
  std::string text;
  // The record's JSON exactly as written, and its seal (record_seal.h): when it was written
  // (GitHub's clock, InfinitePast when absent), its nonce and its signature (hex, empty when
  // absent).
  std::string json;
  absl::Time sealed_at = absl::InfinitePast();
  std::string nonce;
  std::string sig;
};

// Reads the last record of `body`.
ParsedBody ParseBody(absl::string_view body);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_RECORDS_H_
