// The request_ids one sidecar knows on GitHub (see request_ids.h).
#include "core/github/request_ids.h"

namespace tasksentinel::github {

RequestIds::RequestIds(size_t capacity, absl::Duration window)
    : capacity_(capacity), window_(window) {}

void RequestIds::Note(const std::string& key, int64_t number, absl::Time now) {
  if (key.empty() || number <= 0) return;
  absl::MutexLock lock(&mu_);
  Put(key, number, now);
}

void RequestIds::NoteUnresolved(const std::string& key, absl::Time now) {
  if (key.empty()) return;
  absl::MutexLock lock(&mu_);
  Put(key, 0, now);
}

void RequestIds::Put(const std::string& key, int64_t number, absl::Time now) {
  Prune(now);
  auto [it, inserted] = entries_.try_emplace(key, Entry{number, now});
  if (inserted) {
    order_.emplace_back(now, key);
  } else if (number > 0 && (it->second.number == 0 || number < it->second.number)) {
    it->second.number = number;
  }
  while (entries_.size() > capacity_ && !order_.empty()) {
    auto found = entries_.find(order_.front().second);
    if (found != entries_.end() && found->second.noted == order_.front().first) {
      entries_.erase(found);
    }
    order_.pop_front();
  }
}

void RequestIds::Prune(absl::Time now) {
  while (!order_.empty() && order_.front().first + window_ <= now) {
    auto found = entries_.find(order_.front().second);
    if (found != entries_.end() && found->second.noted == order_.front().first) {
      entries_.erase(found);
    }
    order_.pop_front();
  }
}

std::optional<RequestIds::Known> RequestIds::Find(const std::string& key, absl::Time now) {
  absl::MutexLock lock(&mu_);
  Prune(now);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return Known{it->second.number};
}

void RequestIds::Forget(const std::string& key) {
  absl::MutexLock lock(&mu_);
  entries_.erase(key);
}

size_t RequestIds::size() {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace tasksentinel::github
