// The merged views of memory namespaces kept for answering reads (MEMORY_CACHE_SIZE).
//
// GetMemory, ListMemory, WatchMemory and the version check of a write need a namespace's merged
// view: every worker's MEMORY comments of that namespace merged by last write (github_memory.h).
// Merging walks every comment of the coordination issue, so the result is kept here, stamped
// with what it was computed from — the coordination issue's content version (comment_view.h)
// and the revision of this sidecar's own entries — and reused while both are unchanged: a read
// between two changes is a map lookup. At most `max_entries` merged entries are kept in all;
// beyond that the least recently used namespaces are dropped (and merged again when read, with
// no request). A namespace with more entries than that is not kept at all.
//
// Thread safety: not thread-safe; GitHubMemory guards it with its own mutex.
#ifndef TASK_SENTINEL_CORE_GITHUB_MERGED_MEMORY_CACHE_H_
#define TASK_SENTINEL_CORE_GITHUB_MERGED_MEMORY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "core/github/records.h"

namespace tasksentinel::github {

// The winning entry of one key: the item and who wrote it.
struct MergedEntry {
  MemoryItem item;
  std::string writer;
};

// A namespace's merged view: key -> winning entry (tombstones included).
using MergedNamespace = std::map<std::string, MergedEntry>;

// What a merged view was computed from.
struct MergeStamp {
  uint64_t content_version = 0;  // of the coordination issue's snapshot
  uint64_t own_revision = 0;     // of this sidecar's own entries of the namespace

  bool operator==(const MergeStamp& o) const {
    return content_version == o.content_version && own_revision == o.own_revision;
  }
};

class MergedMemoryCache {
 public:
  // Keeps at most `max_entries` merged entries (MEMORY_CACHE_SIZE, at least 1).
  explicit MergedMemoryCache(size_t max_entries);

  // The merged view of `ns` computed from `stamp`, or nullptr. Marks `ns` recently used.
  std::shared_ptr<const MergedNamespace> Find(const std::string& ns, const MergeStamp& stamp);

  // Keeps `merged` as the view of `ns` computed from `stamp` (replacing any other), then drops
  // least recently used namespaces until at most max_entries entries are kept. A view larger
  // than max_entries is not kept.
  void Put(const std::string& ns, const MergeStamp& stamp,
           std::shared_ptr<const MergedNamespace> merged);

  // How many merged entries are kept now.
  size_t entries() const { return entries_; }
  // How many namespaces are kept now.
  size_t namespaces() const { return slots_.size(); }

 private:
  struct Slot {
    MergeStamp stamp;
    std::shared_ptr<const MergedNamespace> merged;
    std::list<std::string>::iterator recency;  // position in recency_
  };
  void Drop(std::map<std::string, Slot>::iterator it);

  const size_t max_entries_;
  size_t entries_ = 0;
  std::map<std::string, Slot> slots_;
  std::list<std::string> recency_;  // most recently used first
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_MERGED_MEMORY_CACHE_H_
