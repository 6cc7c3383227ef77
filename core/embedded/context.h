// What every protocol of one sidecar shares: the store, the clock, the change signal, the
// configuration (which names the worker this sidecar speaks for), the locks it holds, and where
// its events go.
//
// Thread safety: the pointed-to objects are each safe for concurrent use; the Context itself is
// immutable after construction and outlives every manager that uses it.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_CONTEXT_H_
#define TASK_SENTINEL_CORE_EMBEDDED_CONTEXT_H_

#include "core/clock.h"
#include "core/config.h"
#include "core/event_sink.h"
#include "core/held_locks.h"
#include "core/notifier.h"
#include "core/stale_worker_watch.h"
#include "core/embedded/store.h"

namespace tasksentinel {

struct Context {
  Store* store;
  Clock* clock;
  Notifier* notifier;
  const Config* config;
  HeldLocks* held;
  // Where events are reported (event_sink.h), after their transaction committed. Never null.
  EventSink* events = NoEventSink();
  // Reports workers found stale; null for none.
  StaleWorkerWatch* stale = nullptr;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_CONTEXT_H_
