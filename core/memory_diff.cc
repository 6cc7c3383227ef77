// Memory watch events between two observations (see memory_diff.h).
#include "core/memory_diff.h"

#include <algorithm>

namespace tasksentinel {

std::vector<MemoryEvent> DiffMemory(const std::string& ns,
                                    const std::map<std::string, MemoryRecord>& seen,
                                    const std::map<std::string, MemoryRecord>& current) {
  std::vector<MemoryEvent> puts;
  for (const auto& [key, rec] : current) {
    auto it = seen.find(key);
    if (it == seen.end() || it->second.version != rec.version) {
      puts.push_back({MemoryEvent::Type::kPut, {ns, key, rec}});
    }
  }
  std::stable_sort(puts.begin(), puts.end(), [](const MemoryEvent& a, const MemoryEvent& b) {
    return a.entry.record.version < b.entry.record.version;
  });
  for (const auto& [key, rec] : seen) {
    if (current.find(key) == current.end()) {
      puts.push_back({MemoryEvent::Type::kDelete, {ns, key, rec}});
    }
  }
  return puts;
}

}  // namespace tasksentinel
