// WatchHub: one change feed per watched memory namespace, fanned out to every WatchMemory
// stream on it, so that a stream costs neither a thread nor a store transaction of its own.
//
// One thread polls each namespace that has at least one subscriber once per poll interval
// (Coordinator::ListMemory of the whole namespace: one store transaction, or one cached GitHub
// read), and only when that observation differs from the previous one does it compute each
// subscriber's events (its prefix, its own previous observation: MemoryWatch, so both
// backends' watches coalesce changes the same way). It works through the Coordinator contract
// only, so it serves both backends.
//
// Thread safety: safe for concurrent use. Subscriber callbacks run with the hub's lock held,
// one at a time; they must not call back into the hub.
#ifndef TASK_SENTINEL_CORE_WATCH_HUB_H_
#define TASK_SENTINEL_CORE_WATCH_HUB_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/coordinator.h"
#include "core/memory_diff.h"
#include "core/model.h"

namespace tasksentinel {

class WatchHub {
 public:
  struct Options {
    // How often each watched namespace is observed.
    absl::Duration poll_interval = absl::Milliseconds(50);
    // The most subscribers at once; more are refused with RESOURCE_EXHAUSTED.
    int max_watches = 4096;
    // The namespaces that may be watched (the configuration's).
    std::vector<std::string> namespaces;
  };

  // One watcher (a WatchMemory stream).
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    // The events since the previous call, in order (the initial state first, when asked for).
    // Runs inside Subscribe or on the hub's thread, never concurrently for one hub.
    virtual void OnEvents(std::vector<MemoryEvent> events) = 0;
    // The feed ended: a store error, or the hub stopped (OK). The subscriber is already
    // removed; nothing more is delivered to it.
    virtual void OnEnd(const absl::Status& status) = 0;
  };

  // `coordinator` must outlive the hub. Starts the polling thread.
  WatchHub(Coordinator* coordinator, Options options);
  // Stops (see Stop) and joins the thread.
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Adds `subscriber` for the entries of `ns` whose keys start with `prefix`; with
  // `include_initial`, delivers every current entry first (before returning). Errors, with
  // nothing added: INVALID_ARGUMENT for an unknown namespace or a malformed prefix;
  // RESOURCE_EXHAUSTED at max_watches; UNAVAILABLE once stopped; the store's error when the
  // namespace's first observation fails. `subscriber` must stay valid until Unsubscribe
  // returns or OnEnd is called.
  absl::Status Subscribe(const std::string& ns, const std::string& prefix, bool include_initial,
                         Subscriber* subscriber) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes `subscriber` (no-op when already removed). Once it returns, no callback of
  // `subscriber` is running or will run.
  void Unsubscribe(Subscriber* subscriber) ABSL_LOCKS_EXCLUDED(mu_);

  // Ends every subscription (OnEnd with OK) and stops polling; later Subscribe calls fail with
  // UNAVAILABLE. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Subscribers now.
  int watches() const ABSL_LOCKS_EXCLUDED(mu_);
  // Observations made so far (ListMemory calls), across namespaces.
  uint64_t observations() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Watch {
    std::string prefix;
    MemoryWatch diff;
  };
  // One namespace's feed: its latest observation and its subscribers.
  struct Feed {
    bool observed = false;
    std::map<std::string, MemoryRecord> snapshot;
    std::map<Subscriber*, std::unique_ptr<Watch>> watches;
  };

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Delivers `feed`'s snapshot to one watch (its prefix), if that makes any event.
  static void Deliver(const Feed& feed, Subscriber* subscriber, Watch& watch);
  // Observes `ns` (outside the lock) and fans the result out.
  void Observe(const std::string& ns) ABSL_LOCKS_EXCLUDED(mu_);

  Coordinator* const coordinator_;
  const Options options_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int watches_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t observations_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Feed> feeds_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_WATCH_HUB_H_
