// RequestIds: the CreateTask idempotency keys (request_id) one sidecar knows on GitHub, so that
// a retry is answered without listing issues. A key maps to its task issue's number once the
// sidecar created that issue or saw it in a listing of the open task issues (which NextTask
// makes anyway); a key whose create this sidecar sent without learning the outcome (a POST whose
// answer was lost) is remembered as unresolved, so that its retry searches further.
//
// Bounded: at most `capacity` keys (the oldest noted go first), each kept for `window` on the
// local clock from when it was first noted.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_REQUEST_IDS_H_
#define TASK_SENTINEL_CORE_GITHUB_REQUEST_IDS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tasksentinel::github {

class RequestIds {
 public:
  // What is known of one key.
  struct Known {
    // The task issue that carries the key; 0 while unresolved (a create was sent, its answer
    // lost).
    int64_t number = 0;
  };

  // REQUIRES: capacity > 0, window > 0.
  RequestIds(size_t capacity, absl::Duration window);

  // Notes that task issue `number` (> 0) carries `key`, seen at `now`. Of two issues with one
  // key (two sidecars raced), the lower number wins, as for every retry.
  void Note(const std::string& key, int64_t number, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Notes that a create with `key` was sent at `now` and its outcome is unknown, unless the key
  // already names an issue.
  void NoteUnresolved(const std::string& key, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // What is known of `key` at `now`; nullopt when nothing (never seen, or aged out).
  std::optional<Known> Find(const std::string& key, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  // Forgets `key` (its issue is gone).
  void Forget(const std::string& key) ABSL_LOCKS_EXCLUDED(mu_);

  // The number of keys kept (for tests).
  size_t size() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    int64_t number = 0;
    absl::Time noted;  // when first noted: the entry ages out at noted + window_
  };
  // Inserts or updates `key`; then drops entries past the window or over capacity.
  void Put(const std::string& key, int64_t number, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Prune(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  const absl::Duration window_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Keys in the order first noted, with that time; an element whose time is not its key's
  // entry's any more (forgotten, then noted again) is skipped when it comes up.
  std::deque<std::pair<absl::Time, std::string>> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_REQUEST_IDS_H_
