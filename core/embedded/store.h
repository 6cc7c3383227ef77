// The coordination store: the one seam between the coordination protocols and where their state
// lives. The protocols (locks, leases, memory, tasks) are written against this interface, so they
// run unchanged on the in-memory store (tests), the embedded durable store (SQLite), and fakes
// that inject faults.
//
// Thread safety: every Store implementation is safe for concurrent use; transactions are
// serializable with respect to every other transaction on the same store, including those of
// other processes when the store is shared (SqliteStore). Read-only transactions (Store::Read)
// may run beside each other and beside a writer.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_STORE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_STORE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {

// A view of the store inside one transaction. Reads see the transaction's own writes.
// Keys are printable ASCII; values are arbitrary bytes.
class Transaction {
 public:
  virtual ~Transaction() = default;

  // The value at `key`, or nullopt when there is none.
  virtual absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) = 0;

  // All (key, value) pairs whose key starts with `prefix`, in ascending key order.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      absl::string_view prefix) = 0;

  // Sets `key` to `value` when the transaction commits.
  virtual absl::Status Put(absl::string_view key, absl::string_view value) = 0;

  // Removes `key` (if present) when the transaction commits.
  virtual absl::Status Delete(absl::string_view key) = 0;
};

// A transactional key-value store.
class Store {
 public:
  virtual ~Store() = default;

  // Runs `body` as one atomic, isolated transaction. The writes take effect only when `body`
  // returns OK and the commit succeeds; otherwise nothing changes and the error is returned
  // (the body's own error, or the store's: UNAVAILABLE/INTERNAL/DATA_LOSS). `body` runs once.
  // Once Run returns OK the writes are durable (for a durable store). `body` may run on another
  // thread while the caller waits (SqliteStore runs concurrent writes in one shared transaction,
  // each body on the thread that leads the batch), so it must not rely on thread-local state.
  virtual absl::Status Run(absl::FunctionRef<absl::Status(Transaction&)> body) = 0;

  // Runs `body` as one read-only transaction: its reads see one committed state, which includes
  // every transaction whose Run returned before Read was called (read-your-writes) and never a
  // write that is not committed. Put and Delete fail with FAILED_PRECONDITION (and Read returns
  // that error). Returns the body's error or the store's. `body` runs once. A store may run
  // reads beside each other and beside a writer, so that readers do not wait for writers.
  virtual absl::Status Read(absl::FunctionRef<absl::Status(Transaction&)> body) = 0;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_STORE_H_
