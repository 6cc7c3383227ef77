// Notices workers whose lease lapsed, from whatever view of the workers a backend has at hand
// (a cluster listing, a task hand-out's scan, a background tick), and reports each stale
// worker once per lease epoch (EventKind::kWorkerStale). A worker that renews or starts a new
// epoch is forgotten, so that its next lapse is reported again.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_STALE_WORKER_WATCH_H_
#define TASK_SENTINEL_CORE_STALE_WORKER_WATCH_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/event_sink.h"
#include "core/model.h"

namespace tasksentinel {

class StaleWorkerWatch {
 public:
  // `sink` must outlive the watch; `self` (this sidecar's worker) is never reported.
  StaleWorkerWatch(EventSink* sink, std::string self);

  // Reports every worker of `workers` that is stale (WorkerStatus::kStale) and was not reported
  // at its epoch yet; forgets those that are active or gone again. `workers` need not list
  // every worker: one that is absent is left as it was.
  void Observe(const std::vector<WorkerInfo>& workers) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  EventSink* const sink_;
  const std::string self_;
  absl::Mutex mu_;
  // Stale workers already reported, with the epoch they were reported at.
  std::map<std::string, uint64_t> reported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_STALE_WORKER_WATCH_H_
