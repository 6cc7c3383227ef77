// Structured JSON logs (see log.h).
#include "service/log.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tasksentinel {
namespace {
constexpr const char* kLevels[] = {"debug", "info", "warn", "error"};
}  // namespace

Logger& Logger::Global() {
  static Logger* logger = new Logger();
  return *logger;
}

void Logger::SetLevel(const std::string& level) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < 4; ++i) {
    if (level == kLevels[i]) min_level_ = i;
  }
}

void Logger::SetWorker(const std::string& worker_id) {
  absl::MutexLock lock(&mu_);
  worker_id_ = worker_id;
}

void Logger::Info(const std::string& component, const std::string& action,
                  const std::map<std::string, std::string>& fields) {
  Write(1, component, action, fields);
}

void Logger::Error(const std::string& component, const std::string& action,
                   const std::map<std::string, std::string>& fields) {
  Write(3, component, action, fields);
}

void Logger::Debug(const std::string& component, const std::string& action,
                   const std::map<std::string, std::string>& fields) {
  Write(0, component, action, fields);
}

void Logger::Write(int level, const std::string& component, const std::string& action,
                   const std::map<std::string, std::string>& fields) {
  absl::MutexLock lock(&mu_);
  if (level < min_level_) return;
  nlohmann::json line = {
      {"timestamp", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())},
      {"level", kLevels[level]},
      {"component", component},
      {"worker_id", worker_id_},
      {"action", action}};
  for (const auto& [k, v] : fields) line[k] = v;
  std::fprintf(stderr, "%s\n", line.dump().c_str());
  std::fflush(stderr);
}

}  // namespace tasksentinel
