// Structured logs: one JSON object per line on stderr, in the seed's shape:
//   {"timestamp", "level", "component", "worker_id", "action", "task_id", "result",
//    "duration_ms", "metadata": {...}}
// (task_id, result, duration_ms and metadata only when the event has them). Lines below the
// level (SENTINEL_LOG_LEVEL) are dropped, except that the components named in SENTINEL_DEBUG are
// written from debug up (the seed's DEBUG=memory-sync). Callers never pass secrets (tokens,
// WORKER_SECRET, memory values); hot paths (heartbeats, memory reads and writes, renewals,
// GitHub polls) log at debug only.
//
// Thread safety: safe for concurrent use; each line is written whole.
#ifndef TASK_SENTINEL_SERVICE_LOG_H_
#define TASK_SENTINEL_SERVICE_LOG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tasksentinel {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// What one event says besides its component and action.
struct LogEvent {
  // The task or lock the event is about; empty for none.
  std::string task_id;
  // How it ended, e.g. "success", "conflict", "requeued"; empty for none.
  std::string result;
  // How long it took; unset for none.
  std::optional<absl::Duration> duration;
  // Anything else, as strings.
  std::map<std::string, std::string> metadata;
};

class Logger {
 public:
  static Logger& Global();

  // The components that log: sidecar (lifecycle), grpc (gRPC's own lines), locks, tasks,
  // workers (registrations, heartbeats, stale workers), memory-sync (shared memory), claims
  // (GitHub lock claims, step by step), github (the GitHub client: foreign records), lease (a
  // lease stretched for the write budget), rate-limit (GitHub rate limits: blocked, resumed).
  static const std::vector<std::string>& Components();

  // "debug", "info", "warn" or "error" (validated by the configuration).
  void SetLevel(const std::string& level);
  void SetWorker(const std::string& worker_id);
  // Components written from debug up whatever the level. INVALID_ARGUMENT naming the first name
  // that is not in Components() (nothing is changed then).
  absl::Status SetDebugComponents(const std::vector<std::string>& components);

  // Whether a line of `level` from `component` would be written (to skip building costly
  // fields).
  bool Enabled(LogLevel level, const std::string& component);

  // Writes one event.
  void Log(LogLevel level, const std::string& component, const std::string& action,
           const LogEvent& event);

  // Shorthands: `fields` become the metadata.
  void Debug(const std::string& component, const std::string& action,
             const std::map<std::string, std::string>& fields);
  void Info(const std::string& component, const std::string& action,
            const std::map<std::string, std::string>& fields);
  void Warn(const std::string& component, const std::string& action,
            const std::map<std::string, std::string>& fields);
  void Error(const std::string& component, const std::string& action,
             const std::map<std::string, std::string>& fields);

  // Sends the lines to `sink` instead of stderr (tests); nullptr restores stderr.
  void SetSinkForTesting(std::string* sink);

 private:
  bool EnabledLocked(LogLevel level, const std::string& component)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  int min_level_ ABSL_GUARDED_BY(mu_) = 1;
  std::set<std::string> debug_components_ ABSL_GUARDED_BY(mu_);
  std::string worker_id_ ABSL_GUARDED_BY(mu_);
  std::string* sink_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_LOG_H_
