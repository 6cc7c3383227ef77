// Shared memory: namespaced key-value entries with versions (compare-and-set), optional ttl,
// optional fencing by a lock, listing and watching. On the embedded store every write is one
// transaction, so last-write-wins is simply commit order.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_MEMORY_MANAGER_H_
#define TASK_SENTINEL_CORE_EMBEDDED_MEMORY_MANAGER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model.h"
#include "core/embedded/context.h"
#include "core/embedded/records.h"

namespace tasksentinel {

class MemoryManager {
 public:
  explicit MemoryManager(const Context& ctx) : ctx_(ctx) {}

  // NOT_FOUND when absent or expired.
  absl::StatusOr<MemoryEntry> Get(const std::string& ns, const std::string& key);

  // ABORTED on a version mismatch; FAILED_PRECONDITION when the fencing lock is not live.
  absl::StatusOr<MemoryEntry> Set(const SetRequest& request);

  // Returns whether an entry was deleted. Same checks as Set.
  absl::StatusOr<bool> Delete(const std::string& ns, const std::string& key,
                              std::optional<uint64_t> expected_version,
                              const std::optional<FenceRef>& fencing);

  // Live entries whose key starts with `prefix`, in key order.
  absl::StatusOr<std::vector<MemoryEntry>> List(const std::string& ns, const std::string& prefix);

  // Calls `sink` with every change under (`ns`, `prefix`) until `sink` returns false,
  // `cancelled()` turns true or the notifier shuts down. Validation errors are returned at once.
  absl::Status Watch(const std::string& ns, const std::string& prefix, bool include_initial,
                     const std::function<bool(const MemoryEvent&)>& sink,
                     const std::function<bool()>& cancelled);

 private:
  absl::Status ValidateTarget(const std::string& ns, const std::string& key);
  // Checks version and fencing for a write to `key`, returning the current live entry if any.
  absl::StatusOr<std::optional<MemoryRecord>> CheckWrite(Transaction& txn, const std::string& ns,
                                                         const std::string& key,
                                                         std::optional<uint64_t> expected,
                                                         const std::optional<FenceRef>& fencing,
                                                         absl::Time now);

  Context ctx_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_MEMORY_MANAGER_H_
