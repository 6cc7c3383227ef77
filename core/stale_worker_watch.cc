// Stale workers, each reported once per epoch (see stale_worker_watch.h).
#include "core/stale_worker_watch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tasksentinel {

StaleWorkerWatch::StaleWorkerWatch(EventSink* sink, std::string self)
    : sink_(sink), self_(std::move(self)) {}

void StaleWorkerWatch::Observe(const std::vector<WorkerInfo>& workers) {
  std::vector<Event> events;
  {
    absl::MutexLock lock(&mu_);
    for (const WorkerInfo& w : workers) {
      const std::string& id = w.record.id;
      if (id == self_) continue;
      if (w.status != WorkerStatus::kStale) {
        reported_.erase(id);
        continue;
      }
      auto it = reported_.find(id);
      if (it != reported_.end() && it->second == w.record.epoch) continue;
      reported_[id] = w.record.epoch;
      Event e;
      e.kind = EventKind::kWorkerStale;
      e.worker = id;
      e.result = "lease_lapsed";
      e.details = {{"epoch", absl::StrCat(w.record.epoch)},
                   {"last_heartbeat", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ",
                                                       w.record.last_heartbeat,
                                                       absl::UTCTimeZone())},
                   {"lease_expired_at", absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ",
                                                         w.record.lease_expires_at,
                                                         absl::UTCTimeZone())}};
      events.push_back(std::move(e));
    }
  }
  for (const Event& e : events) sink_->Record(e);
}

}  // namespace tasksentinel
