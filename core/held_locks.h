// The locks this sidecar's worker holds, as far as this sidecar knows: every lock it acquired
// and did not release. A heartbeat compares them with the store to tell the worker which ones it
// lost (etcd's missing "mutex lost" notice).
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_HELD_LOCKS_H_
#define TASK_SENTINEL_CORE_HELD_LOCKS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/lock_table.h"

namespace tasksentinel {

class HeldLocks {
 public:
  // Records that the worker holds `lock` (replacing an older instance of the same name).
  void Add(const LockInfo& lock) {
    absl::MutexLock l(&mu_);
    locks_[lock.name] = lock;
  }

  // Forgets instance `token` of `name` (released by the worker); other instances stay.
  void Remove(const std::string& name, uint64_t token) {
    absl::MutexLock l(&mu_);
    auto it = locks_.find(name);
    if (it != locks_.end() && it->second.token == token) locks_.erase(it);
  }

  // Everything recorded.
  std::vector<LockInfo> All() {
    absl::MutexLock l(&mu_);
    std::vector<LockInfo> out;
    for (const auto& [name, lock] : locks_) out.push_back(lock);
    return out;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, LockInfo> locks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_HELD_LOCKS_H_
