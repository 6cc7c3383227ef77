// A worker's sidecar core, without gRPC: every manager on a shared store and fake clock, so a
// test can play several workers against one store and move time by hand.
#ifndef TASK_SENTINEL_TESTS_TESTING_CORE_HARNESS_H_
#define TASK_SENTINEL_TESTS_TESTING_CORE_HARNESS_H_

#include <string>

#include "core/embedded/cluster_view.h"
#include "core/config.h"
#include "core/embedded/context.h"
#include "core/held_locks.h"
#include "core/embedded/lease_manager.h"
#include "core/embedded/lock_manager.h"
#include "core/embedded/memory_manager.h"
#include "core/notifier.h"
#include "core/stale_worker_watch.h"
#include "core/embedded/task_queue.h"
#include "tests/testing/fake_clock.h"

namespace tasksentinel {

// Settings tests start from: short, round numbers that make timelines easy to read.
inline Config TestConfig(const std::string& worker_id) {
  Config c;
  c.worker_id = worker_id;
  c.hostname = "host-" + worker_id;
  c.max_tasks = 4;
  c.lock_ttl = absl::Seconds(60);
  c.lock_delay = absl::Seconds(5);
  c.heartbeat_interval = absl::Seconds(10);
  c.stale_threshold = absl::Seconds(30);
  c.poll_interval = absl::Milliseconds(100);
  c.task_retry_backoff = absl::Seconds(1);
  c.task_max_attempts = 3;
  return c;
}

// One worker's sidecar core; its events go to `events` (null: nowhere).
struct WorkerHarness {
  WorkerHarness(const Config& c, Store* store, Clock* clock, EventSink* events = nullptr)
      : config(c),
        stale(events != nullptr ? events : NoEventSink(), c.worker_id),
        ctx{store,   clock, &notifier, &config, &held, events != nullptr ? events : NoEventSink(),
            &stale},
        locks(ctx),
        leases(ctx),
        memory(ctx),
        tasks(ctx),
        cluster(ctx) {}

  Config config;
  Notifier notifier;
  HeldLocks held;
  StaleWorkerWatch stale;
  Context ctx;
  LockManager locks;
  LeaseManager leases;
  MemoryManager memory;
  TaskQueue tasks;
  ClusterView cluster;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_TESTS_TESTING_CORE_HARNESS_H_
