// What a memory watcher reports between two observations of a prefix: a PUT for every entry
// that is new or has a new version (in version order), then a DELETE for every entry that is
// gone. Both backends' WatchMemory use it, so they coalesce changes the same way.
//
// Thread safety: pure function.
#ifndef TASK_SENTINEL_CORE_MEMORY_DIFF_H_
#define TASK_SENTINEL_CORE_MEMORY_DIFF_H_

#include <map>
#include <string>
#include <vector>

#include "core/memory_manager.h"

namespace tasksentinel {

// The events that turn `seen` into `current` (both keyed by memory key) in namespace `ns`.
std::vector<MemoryEvent> DiffMemory(const std::string& ns,
                                    const std::map<std::string, MemoryRecord>& seen,
                                    const std::map<std::string, MemoryRecord>& current);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_MEMORY_DIFF_H_
