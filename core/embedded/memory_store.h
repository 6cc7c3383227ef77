// MemoryStore: the in-memory Store, for tests and single-process deployments that need no
// durability. State is a sorted map; a transaction holds the store's mutex for the whole of its
// body, buffers its writes in an overlay (so reads see the transaction's own writes), and applies
// the overlay to the map only when the body returns OK and the commit is not failed by fault
// injection (FailNextCommits).
//
// Thread safety: safe for concurrent use. Write transactions (Run) are fully serialized (one at
// a time, holding the mutex), so they are trivially serializable; read-only transactions (Read)
// hold it shared, beside each other. A body must not call Run or Read on the same store (it
// would deadlock), and the Transaction it receives must not be used after the call returns.
#ifndef TASK_SENTINEL_CORE_EMBEDDED_MEMORY_STORE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_MEMORY_STORE_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "core/embedded/store.h"

namespace tasksentinel {

// An in-memory, non-durable Store.
class MemoryStore final : public Store {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;
  ~MemoryStore() override = default;

  // Runs `body` under the store's mutex; see Store::Run.
  absl::Status Run(absl::FunctionRef<absl::Status(Transaction&)> body) override;

  // Runs `body` under the store's mutex held shared, beside other reads; see Store::Read.
  absl::Status Read(absl::FunctionRef<absl::Status(Transaction&)> body) override;

  // Fault injection for tests: the next `n` transactions that reach commit (their body returned
  // OK) fail at commit time with `status` instead of committing. Their bodies run normally, but
  // their writes are discarded and Run returns `status`. Transactions whose body returns an error
  // do not reach commit and do not consume an injected failure. An OK `status` is replaced by
  // INTERNAL (a failed commit must report an error). `n <= 0` cancels any pending failures.
  // Replaces (does not add to) previously requested failures.
  void FailNextCommits(int n, absl::Status status);

 private:
  absl::Mutex mu_;
  // The committed state.
  std::map<std::string, std::string> data_ ABSL_GUARDED_BY(mu_);
  // How many more commits FailNextCommits asked to fail, and with what.
  int commits_to_fail_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status injected_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_MEMORY_STORE_H_
