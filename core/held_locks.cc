// The worker's held locks (see held_locks.h).
#include "core/held_locks.h"

namespace tasksentinel {

void HeldLocks::Add(const LockInfo& lock) {
  absl::MutexLock l(&mu_);
  auto it = locks_.find(lock.name);
  if (it != locks_.end() && it->second.lock.token != lock.token && !it->second.releasing) {
    superseded_.push_back(it->second.lock);
  }
  locks_[lock.name] = Entry{lock, false};
}

void HeldLocks::MarkReleasing(const std::string& name, uint64_t token) {
  absl::MutexLock l(&mu_);
  auto it = locks_.find(name);
  if (it != locks_.end() && it->second.lock.token == token) it->second.releasing = true;
}

void HeldLocks::Unmark(const std::string& name, uint64_t token) {
  absl::MutexLock l(&mu_);
  auto it = locks_.find(name);
  if (it != locks_.end() && it->second.lock.token == token) it->second.releasing = false;
}

void HeldLocks::Remove(const std::string& name, uint64_t token) {
  absl::MutexLock l(&mu_);
  auto it = locks_.find(name);
  if (it != locks_.end() && it->second.lock.token == token) locks_.erase(it);
}

void HeldLocks::Clear() {
  absl::MutexLock l(&mu_);
  locks_.clear();
  superseded_.clear();
}

std::vector<LockInfo> HeldLocks::Snapshot() {
  absl::MutexLock l(&mu_);
  std::vector<LockInfo> out;
  for (const auto& [name, entry] : locks_) {
    if (!entry.releasing) out.push_back(entry.lock);
  }
  return out;
}

std::vector<LockInfo> HeldLocks::TakeLost(const std::vector<LockInfo>& candidates) {
  absl::MutexLock l(&mu_);
  std::vector<LockInfo> lost;
  for (const LockInfo& c : candidates) {
    auto it = locks_.find(c.name);
    if (it == locks_.end() || it->second.lock.token != c.token || it->second.releasing) continue;
    lost.push_back(c);
    locks_.erase(it);
  }
  lost.insert(lost.end(), superseded_.begin(), superseded_.end());
  superseded_.clear();
  return lost;
}

}  // namespace tasksentinel
