// The Coordinator on a Store (see embedded_coordinator.h).
#include "core/embedded/embedded_coordinator.h"

namespace tasksentinel {

EmbeddedCoordinator::EmbeddedCoordinator(const Config& config, Store* store, Clock* clock,
                                         EventSink* events)
    : config_(config),
      stale_(events != nullptr ? events : NoEventSink(), config.worker_id),
      ctx_{store,  clock, &notifier_, &config_, &held_, events != nullptr ? events : NoEventSink(),
           &stale_},
      locks_(ctx_),
      leases_(ctx_),
      memory_(ctx_),
      tasks_(ctx_),
      cluster_(ctx_) {}

}  // namespace tasksentinel
