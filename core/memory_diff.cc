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

bool MemoryWatch::Observe(std::map<std::string, MemoryRecord> current,
                          const std::function<bool(const MemoryEvent&)>& sink) {
  std::vector<MemoryEvent> events;
  if (report_next_) events = DiffMemory(ns_, seen_, current);
  report_next_ = true;
  seen_ = std::move(current);
  for (const MemoryEvent& e : events) {
    if (!sink(e)) return false;
  }
  return true;
}

}  // namespace tasksentinel
