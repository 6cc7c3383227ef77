// The merged views of memory namespaces kept for answering reads (see merged_memory_cache.h).
#include "core/github/merged_memory_cache.h"

#include <algorithm>
#include <utility>

namespace tasksentinel::github {

MergedMemoryCache::MergedMemoryCache(size_t max_entries)
    : max_entries_(std::max<size_t>(max_entries, 1)) {}

std::shared_ptr<const MergedNamespace> MergedMemoryCache::Find(const std::string& ns,
                                                               const MergeStamp& stamp) {
  auto it = slots_.find(ns);
  if (it == slots_.end() || !(it->second.stamp == stamp)) return nullptr;
  recency_.splice(recency_.begin(), recency_, it->second.recency);
  return it->second.merged;
}

void MergedMemoryCache::Drop(std::map<std::string, Slot>::iterator it) {
  entries_ -= it->second.merged->size();
  recency_.erase(it->second.recency);
  slots_.erase(it);
}

void MergedMemoryCache::Put(const std::string& ns, const MergeStamp& stamp,
                            std::shared_ptr<const MergedNamespace> merged) {
  if (auto it = slots_.find(ns); it != slots_.end()) Drop(it);
  if (merged == nullptr || merged->size() > max_entries_) return;
  recency_.push_front(ns);
  entries_ += merged->size();
  slots_[ns] = Slot{stamp, std::move(merged), recency_.begin()};
  while (entries_ > max_entries_ && !recency_.empty()) {
    // The least recently used; never the one just kept, which fits alone.
    Drop(slots_.find(recency_.back()));
  }
}

}  // namespace tasksentinel::github
