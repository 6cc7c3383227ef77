// Structured logs: one JSON object per line on stderr, in the seed's shape (timestamp, level,
// component, worker_id, action, and free-form fields). Callers never pass secrets.
//
// Thread safety: safe for concurrent use; each line is written whole.
#ifndef TASK_SENTINEL_SERVICE_LOG_H_
#define TASK_SENTINEL_SERVICE_LOG_H_

#include <map>
#include <string>

#include "absl/synchronization/mutex.h"

namespace tasksentinel {

class Logger {
 public:
  static Logger& Global();

  // "debug", "info", "warn" or "error" (validated by the configuration).
  void SetLevel(const std::string& level);
  void SetWorker(const std::string& worker_id);

  void Debug(const std::string& component, const std::string& action,
             const std::map<std::string, std::string>& fields);
  void Info(const std::string& component, const std::string& action,
            const std::map<std::string, std::string>& fields);
  void Error(const std::string& component, const std::string& action,
             const std::map<std::string, std::string>& fields);

 private:
  void Write(int level, const std::string& component, const std::string& action,
             const std::map<std::string, std::string>& fields);

  absl::Mutex mu_;
  int min_level_ ABSL_GUARDED_BY(mu_) = 1;
  std::string worker_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_LOG_H_
