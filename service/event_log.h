// The sidecar's EventSink: every event a backend reports (core/event_sink.h) becomes one JSON
// log line (log.h) under its component, at its level, and moves the sidecar's event counters,
// which /metrics renders (Metrics::AddSource).
//
//   component    action                            level
//   workers      worker_stale                      warn
//   workers      worker_gone (result "swept")      info
//   locks        lock_recovered                    info
//   tasks        task_taken_over, task_retried     info
//   tasks        task_dead_lettered                warn
//   tasks        balancer_decision                 debug (every NextTask: a hot path)
//   memory-sync  memory_flushed                    debug; warn when it failed
//   claims       claim_posted, claim_settled,      debug (every GitHub lock claim)
//                claim_won, claim_lost,
//                claim_withdrawn
//   lease        lease_stretched                   warn
//   rate-limit   rate_limit_blocked,               warn (OnRateLimit: the GitHub client's
//                rate_limit_resumed                      on_rate_limit, outside core/)
//
// The line's worker_id is this sidecar's worker; the other worker an event names (a stale
// worker, a previous holder, a winning claim's worker) is metadata "worker". Events carry no
// secrets or memory values (core/event_sink.h), so neither do the lines.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_SERVICE_EVENT_LOG_H_
#define TASK_SENTINEL_SERVICE_EVENT_LOG_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/coordinator.h"
#include "core/event_sink.h"
#include "service/log.h"

namespace tasksentinel {

class EventLog final : public EventSink {
 public:
  // Which backend's events to expect: the GitHub-only families (claims) are rendered only for
  // the GitHub backend. `logger` must outlive the sink.
  enum class Backend { kEmbedded, kGitHub };
  explicit EventLog(Backend backend, Logger* logger = &Logger::Global());

  // Writes the event's log line and counts it.
  void Record(const Event& event) override;

  // Writes the line of a GitHub rate limit that blocks calls until it lapses (`blocked`), or of
  // the first call let through again; `message` says which limit and until when (it carries no
  // token: CurlGitHubApi::Options::on_rate_limit).
  void OnRateLimit(bool blocked, const std::string& message);

  // The counters kept from the events, every fixed series from 0, for Metrics::AddSource:
  //   tasksentinel_stale_workers_detected_total, tasksentinel_locks_recovered_total,
  //   tasksentinel_load_balancer_decisions_total{outcome},
  //   tasksentinel_tasks_total{event="dead_lettered"} (a hand-out's sweep; added to the
  //   FailTask ones), tasksentinel_memory_operations_total{op="flush",result}, and on GitHub
  //   tasksentinel_github_claim_outcomes_total{outcome} and
  //   tasksentinel_github_registrations_swept_total.
  std::vector<BackendMetric> Metrics() const ABSL_LOCKS_EXCLUDED(mu_);

  // The log component and level of each kind of event (the table above).
  static absl::string_view Component(EventKind kind);
  static LogLevel Level(const Event& event);

 private:
  using Key = std::pair<std::string, std::map<std::string, std::string>>;  // name, labels
  void Count(const std::string& name, std::map<std::string, std::string> labels)
      ABSL_LOCKS_EXCLUDED(mu_);

  const Backend backend_;
  Logger* const logger_;
  mutable absl::Mutex mu_;
  std::map<Key, double> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_EVENT_LOG_H_
