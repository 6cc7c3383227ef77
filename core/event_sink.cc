// Event names and the no-op sink (see event_sink.h).
#include "core/event_sink.h"

namespace tasksentinel {
namespace {

class NullSink final : public EventSink {
 public:
  void Record(const Event&) override {}
};

}  // namespace

absl::string_view EventName(EventKind kind) {
  switch (kind) {
    case EventKind::kWorkerStale: return "worker_stale";
    case EventKind::kWorkerGone: return "worker_gone";
    case EventKind::kLockRecovered: return "lock_recovered";
    case EventKind::kTaskTakenOver: return "task_taken_over";
    case EventKind::kTaskRetried: return "task_retried";
    case EventKind::kTaskDeadLettered: return "task_dead_lettered";
    case EventKind::kBalancerDecision: return "balancer_decision";
    case EventKind::kMemoryFlushed: return "memory_flushed";
    case EventKind::kClaimPosted: return "claim_posted";
    case EventKind::kClaimSettled: return "claim_settled";
    case EventKind::kClaimWon: return "claim_won";
    case EventKind::kClaimLost: return "claim_lost";
    case EventKind::kClaimWithdrawn: return "claim_withdrawn";
    case EventKind::kLeaseStretched: return "lease_stretched";
  }
  return "unknown";
}

EventSink* NoEventSink() {
  static NullSink* const sink = new NullSink();
  return sink;
}

}  // namespace tasksentinel
