// Structured JSON logs (see log.h).
#include "service/log.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tasksentinel {
namespace {
constexpr const char* kLevels[] = {"debug", "info", "warn", "error"};
}  // namespace

Logger& Logger::Global() {
  static Logger* logger = new Logger();
  return *logger;
}

const std::vector<std::string>& Logger::Components() {
  static const auto* const kComponents = new std::vector<std::string>{
      "sidecar", "grpc",  "locks", "tasks",     "workers", "memory-sync",
      "claims",  "github", "lease", "rate-limit"};
  return *kComponents;
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

absl::Status Logger::SetDebugComponents(const std::vector<std::string>& components) {
  for (const std::string& c : components) {
    bool known = false;
    for (const std::string& k : Components()) known = known || k == c;
    if (!known) {
      std::string names;
      for (const std::string& k : Components()) absl::StrAppend(&names, names.empty() ? "" : ", ", k);
      return absl::InvalidArgumentError(
          absl::StrCat("SENTINEL_DEBUG: no log component \"", c, "\" (there are: ", names, ")"));
    }
  }
  absl::MutexLock lock(&mu_);
  debug_components_ = std::set<std::string>(components.begin(), components.end());
  return absl::OkStatus();
}

bool Logger::EnabledLocked(LogLevel level, const std::string& component) {
  return static_cast<int>(level) >= min_level_ || debug_components_.count(component) > 0;
}

bool Logger::Enabled(LogLevel level, const std::string& component) {
  absl::MutexLock lock(&mu_);
  return EnabledLocked(level, component);
}

void Logger::SetSinkForTesting(std::string* sink) {
  absl::MutexLock lock(&mu_);
  sink_ = sink;
}

void Logger::Debug(const std::string& component, const std::string& action,
                   const std::map<std::string, std::string>& fields) {
  Log(LogLevel::kDebug, component, action, LogEvent{"", "", std::nullopt, fields});
}

void Logger::Info(const std::string& component, const std::string& action,
                  const std::map<std::string, std::string>& fields) {
  Log(LogLevel::kInfo, component, action, LogEvent{"", "", std::nullopt, fields});
}

void Logger::Warn(const std::string& component, const std::string& action,
                  const std::map<std::string, std::string>& fields) {
  Log(LogLevel::kWarn, component, action, LogEvent{"", "", std::nullopt, fields});
}

void Logger::Error(const std::string& component, const std::string& action,
                   const std::map<std::string, std::string>& fields) {
  Log(LogLevel::kError, component, action, LogEvent{"", "", std::nullopt, fields});
}

void Logger::Log(LogLevel level, const std::string& component, const std::string& action,
                 const LogEvent& event) {
  absl::MutexLock lock(&mu_);
  if (!EnabledLocked(level, component)) return;
  nlohmann::json line = {
      {"timestamp", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())},
      {"level", kLevels[static_cast<int>(level)]},
      {"component", component},
      {"worker_id", worker_id_},
      {"action", action}};
  if (!event.task_id.empty()) line["task_id"] = event.task_id;
  if (!event.result.empty()) line["result"] = event.result;
  if (event.duration.has_value()) {
    line["duration_ms"] = absl::ToInt64Milliseconds(*event.duration);
  }
  if (!event.metadata.empty()) line["metadata"] = event.metadata;
  // Bytes that are not UTF-8 (a hostile task title, say) are replaced, not thrown on.
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (sink_ != nullptr) {
    sink_->append(text);
    return;
  }
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace tasksentinel
