// The locks this sidecar's worker holds, as far as this sidecar knows: every lock it acquired
// and did not release. A heartbeat compares them with the store to tell the worker which ones it
// lost (etcd's missing "mutex lost" notice).
//
// A lock the worker is releasing is marked before the release commits, so that a heartbeat
// running at the same moment does not mistake the worker's own release for a loss.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_HELD_LOCKS_H_
#define TASK_SENTINEL_CORE_HELD_LOCKS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/model.h"

namespace tasksentinel {

class HeldLocks {
 public:
  // Records that the worker holds `lock`. An older instance of the same name that the worker
  // was not releasing is one it lost (a lock is re-taken only once its old instance is dead, for
  // instance when NextTask hands the same task back after a lapse): it is kept aside and
  // returned by the next TakeLost, so that every lapse is reported exactly once.
  void Add(const LockInfo& lock) ABSL_LOCKS_EXCLUDED(mu_);

  // Marks instance `token` of `name` as being released by the worker. Call before the release
  // commits; then Remove (it committed) or Unmark (it failed).
  void MarkReleasing(const std::string& name, uint64_t token) ABSL_LOCKS_EXCLUDED(mu_);
  void Unmark(const std::string& name, uint64_t token) ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets instance `token` of `name`; other instances stay.
  void Remove(const std::string& name, uint64_t token) ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets everything (the worker left).
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  // The locks not being released, for a heartbeat to check.
  std::vector<LockInfo> Snapshot() ABSL_LOCKS_EXCLUDED(mu_);

  // Of `candidates` (found not live by a heartbeat), forgets and returns those still recorded
  // under the same token and not being released by the worker, followed by the instances that
  // Add replaced since the last call: the locks it lost, each returned once.
  std::vector<LockInfo> TakeLost(const std::vector<LockInfo>& candidates)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    LockInfo lock;
    bool releasing = false;
  };
  absl::Mutex mu_;
  std::map<std::string, Entry> locks_ ABSL_GUARDED_BY(mu_);
  // Lost instances replaced by a newer one of the same name, not yet reported.
  std::vector<LockInfo> superseded_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_HELD_LOCKS_H_
