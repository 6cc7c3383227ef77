// Shared memory on GitHub: each worker keeps one MEMORY comment per namespace on the
// coordination issue holding its own entries (several comments, `part`s, when they do not fit
// one), and every sidecar merges all workers' comments by last-write-wins.
//
//   SetMemory/DeleteMemory  update this sidecar's own entries in memory and mark the namespace
//                 dirty. Nothing is written then: a dirty namespace is flushed (one PATCH of
//                 its comment, a POST the first time) once MEMORY_SYNC_INTERVAL_MS has passed
//                 since it became dirty and since its previous flush, by the next call of any
//                 memory method or Heartbeat, by GitHubCoordinator::Tick() (the background
//                 thread), or at Deregister. So a burst of writes within one interval costs ONE
//                 write, and a namespace is written at most once per interval.
//   Get/List/Watch  answer from the merged view: every worker's visible entries plus this
//                 sidecar's own (including unflushed ones), kept between changes in a cache of
//                 at most MEMORY_CACHE_SIZE entries (merged_memory_cache.h). The coordination issue is listed
//                 again (conditionally) at most once per sync interval for reads and writes;
//                 Watch lists every poll interval.
//
// Merge: for each key the entry with the latest `written_at` wins, ties broken by the higher
// worker id. `written_at` is GitHub's clock (ServerNow) in microseconds and is also the entry's
// version; a write's version is at least one above the version it replaces in this sidecar's
// view, so versions rise. Deletes are tombstones (a version, no value); an entry whose ttl ran
// out (by GitHub's clock) reads as absent.
//
// Compaction, at each flush: an own entry that another worker's newer entry supersedes is
// dropped (it can never win again); an own tombstone is dropped once no visible comment holds an
// older entry for its key and it is older than two sync intervals plus the stale threshold (by
// then every write it could have had to beat has been flushed, or its writer is dead); expired
// entries are dropped.
//
// Why it is safe: a worker edits only its own comments, so no write can overwrite another
// worker's entries (nothing is lost to a concurrent edit); the merge is a pure function of the
// comments, so sidecars that see the same comments agree. What GitHub cannot give is
// compare-and-swap: `expected_version` compares with this sidecar's merged view, so two sidecars
// can both succeed within one sync interval; last-write-wins then decides. `fencing` is checked
// against the lock's claims as for tasks (claims.h), listed afresh.
//
// Thread safety: safe for concurrent use; flushes are serialised.
#ifndef TASK_SENTINEL_CORE_GITHUB_GITHUB_MEMORY_H_
#define TASK_SENTINEL_CORE_GITHUB_GITHUB_MEMORY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/github/claims.h"
#include "core/github/comment_view.h"
#include "core/github/github_context.h"
#include "core/github/merged_memory_cache.h"
#include "core/github/records.h"
#include "core/model.h"

namespace tasksentinel::github {

class GitHubMemory {
 public:
  // Memory for the worker `ctx.config` names; fenced writes are checked through `locks` (which
  // must outlive this).
  GitHubMemory(const GitHubContext& ctx, LockProtocol* locks);

  // MemoryManager's contract (core/memory_manager.h), with the same validation.
  absl::StatusOr<MemoryEntry> Get(const std::string& ns, const std::string& key);
  absl::StatusOr<MemoryEntry> Set(const SetRequest& request);
  absl::StatusOr<bool> Delete(const std::string& ns, const std::string& key,
                              std::optional<uint64_t> expected_version,
                              const std::optional<FenceRef>& fencing);
  absl::StatusOr<std::vector<MemoryEntry>> List(const std::string& ns, const std::string& prefix);
  absl::Status Watch(const std::string& ns, const std::string& prefix, bool include_initial,
                     const std::function<bool(const MemoryEvent&)>& sink,
                     const std::function<bool()>& cancelled);

  // Writes every dirty namespace whose flush is due (`force`: every dirty one). Returns the
  // first error; a namespace that failed stays dirty.
  absl::Status Flush(bool force) ABSL_LOCKS_EXCLUDED(flush_mu_, mu_);

  // When the next flush is due on the local clock (InfiniteFuture: nothing is dirty).
  absl::Time NextFlushDue() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // This worker's entries of one namespace.
  struct Own {
    std::map<std::string, MemoryItem> entries;
    bool loaded = false;  // adopted from the coordination issue (a restarted sidecar)
    bool dirty = false;
    uint64_t generation = 0;  // rises with every write (a flush compares it)
    uint64_t revision = 0;    // rises with every change of `entries` (the merge cache's stamp)
    absl::Time dirty_since = absl::InfinitePast();  // local clock
    absl::Time last_flush = absl::InfinitePast();   // local clock
    std::vector<int64_t> comment_ids;               // by part
    std::vector<std::string> written;               // the body last written, by part
  };
  // The winning entry of a key.
  using Merged = MergedEntry;

  absl::Status ValidateTarget(const std::string& ns, const std::string& key);
  // The coordination issue's comments, listed again when older than `max_age`.
  absl::StatusOr<SnapshotPtr> Snapshot(absl::Duration max_age);
  // Adopts the own comments of `ns` from `snapshot` on first use.
  Own& OwnFor(const std::string& ns, const CommentSnapshot& snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every key's winning entry in `ns` (tombstones included): from the cache when it was merged
  // from the same comments and own entries, else merged now (and kept).
  std::shared_ptr<const MergedNamespace> MergedLocked(const std::string& ns,
                                                      const CommentSnapshot& snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks fencing and the expected version for a write to (`ns`, `key`); returns the current
  // winning entry (tombstones included) if any.
  absl::StatusOr<std::optional<Merged>> CheckWrite(const std::string& ns, const std::string& key,
                                                   std::optional<uint64_t> expected,
                                                   const std::optional<FenceRef>& fencing,
                                                   SnapshotPtr* snapshot);
  // Writes one namespace's own comments.
  absl::Status FlushOne(const std::string& ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(flush_mu_);
  // Runs due flushes, ignoring errors (they are retried later).
  void FlushDueQuietly();

  GitHubContext ctx_;
  LockProtocol* const locks_;
  absl::Mutex flush_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::map<std::string, Own> own_ ABSL_GUARDED_BY(mu_);
  MergedMemoryCache cache_ ABSL_GUARDED_BY(mu_);
};

// Whether an entry is live (not a tombstone, not expired) at GitHub time `now`.
bool MemoryItemLive(const MemoryItem& item, absl::Time now);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_GITHUB_MEMORY_H_
