// Coordination events that happen inside a backend, with or without an RPC: a stale worker
// detected, a lapsed lock recovered, a task taken over, retried or dead-lettered by a sweep, the
// load balancer's decision, a memory flush, the steps of a GitHub lock claim, a stretched lease.
// The backends report them to an EventSink given in their options; the sidecar's sink
// (service/event_log.h) turns them into JSON log lines and metrics. core/ only says what
// happened: levels, components and metric names are the service's business.
//
// Events carry no secrets and no shared-memory values: names of tasks, locks, workers and
// namespaces, counts, durations and outcomes only.
//
// Thread safety: a sink is called from any thread (RPC threads, a backend's background thread),
// concurrently, after the change it reports took effect; it must be safe for concurrent use,
// must not block for long and must not call back into the coordinator.
#ifndef TASK_SENTINEL_CORE_EVENT_SINK_H_
#define TASK_SENTINEL_CORE_EVENT_SINK_H_

#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tasksentinel {

// What happened. EventName gives each its log action.
enum class EventKind {
  // Workers.
  kWorkerStale,  // another worker's lease was found lapsed (once per worker and lease epoch)
  kWorkerGone,   // a long-dead worker's registration was removed by the sweep (GitHub)
  // Locks.
  kLockRecovered,  // this worker took a lock whose holder's lease or ttl had lapsed
  // Tasks.
  kTaskTakenOver,     // a task whose worker's lease lapsed was handed to this worker
  kTaskRetried,       // a task was handed to this worker again after a failed attempt
  kTaskDeadLettered,  // a task whose last attempt died with its worker was dead-lettered
  kBalancerDecision,  // how one NextTask call ended (result: a BalancerOutcome name)
  // Memory.
  kMemoryFlushed,  // the worker's pending memory writes were written to the store (GitHub)
  // GitHub lock claims, step by step.
  kClaimPosted,     // a claim comment was posted
  kClaimSettled,    // the own claim became visible in a list (duration: how long it took)
  kClaimWon,        // the claim is the lowest live one: the lock is held
  kClaimLost,       // another claim wins (worker: its holder)
  kClaimWithdrawn,  // the own claim was deleted (lost, never seen, or released)
  // Leases.
  kLeaseStretched,  // the lease was lengthened to fit the identity's write budget (GitHub)
};

// The log action of `kind`, e.g. "worker_stale", "claim_posted".
absl::string_view EventName(EventKind kind);

// How a NextTask call ended, for EventKind::kBalancerDecision's result.
inline constexpr absl::string_view kBalancerPick = "balancer_pick";  // the balancer's pick
inline constexpr absl::string_view kBalancerOtherTask = "other_task";  // another task it could do
inline constexpr absl::string_view kBalancerNoTask = "no_task";        // nothing it may take
inline constexpr absl::string_view kBalancerAtCapacity = "at_capacity";  // its slots are full
inline constexpr absl::string_view kBalancerUnhealthy = "unhealthy";  // it reports itself impaired

// One event.
struct Event {
  EventKind kind = EventKind::kWorkerStale;
  // The task or lock the event is about (a namespace for kMemoryFlushed); empty for none.
  std::string subject;
  // The other worker concerned: the stale or swept worker, the previous holder of a recovered
  // lock or taken-over task, the winner of a lost claim. Empty for none.
  std::string worker;
  // How it ended, e.g. a balancer outcome, "ok" or "error" for a flush. Empty for none.
  std::string result;
  // How long it took or lasted; unset for none.
  std::optional<absl::Duration> duration;
  // Anything else, as strings (e.g. "attempt", "epoch", "claim").
  std::map<std::string, std::string> details;
};

// Where a backend reports its events.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Reports one event, after the change it describes took effect.
  virtual void Record(const Event& event) = 0;
};

// A sink that drops every event: the default of every backend. Never null; lives forever.
EventSink* NoEventSink();

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EVENT_SINK_H_
