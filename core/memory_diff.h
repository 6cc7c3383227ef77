// What a memory watcher reports between two observations of a prefix: a PUT for every entry
// that is new or has a new version (in version order), then a DELETE for every entry that is
// gone. Both backends' WatchMemory use it (through MemoryWatch), so they coalesce changes the
// same way.
//
// Thread safety: DiffMemory is a pure function; a MemoryWatch belongs to one watcher.
#ifndef TASK_SENTINEL_CORE_MEMORY_DIFF_H_
#define TASK_SENTINEL_CORE_MEMORY_DIFF_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/model.h"

namespace tasksentinel {

// The events that turn `seen` into `current` (both keyed by memory key) in namespace `ns`.
std::vector<MemoryEvent> DiffMemory(const std::string& ns,
                                    const std::map<std::string, MemoryRecord>& seen,
                                    const std::map<std::string, MemoryRecord>& current);

// One WatchMemory call's bookkeeping: what it last observed, and whether it reports the first
// observation (include_initial) or only later changes.
class MemoryWatch {
 public:
  MemoryWatch(std::string ns, bool include_initial)
      : ns_(std::move(ns)), report_next_(include_initial) {}

  // Reports to `sink` the events from the previous observation to `current` (none for a first
  // observation that is not to be reported) and remembers `current`. False once `sink` asked to
  // stop.
  bool Observe(std::map<std::string, MemoryRecord> current,
               const std::function<bool(const MemoryEvent&)>& sink);

 private:
  const std::string ns_;
  bool report_next_;
  std::map<std::string, MemoryRecord> seen_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_MEMORY_DIFF_H_
