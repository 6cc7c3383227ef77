// Which records count: only the fleet's own. GitHub has no access control on comments beyond
// "who may comment" (on a public repository: anyone with an account), so every list answer is
// screened before any protocol reads it. A comment's record counts only if
//
//   1. its author is trusted: the account of the sidecar's own token, or one listed in
//      SENTINEL_TRUSTED_AUTHORS, matched by the account's numeric id (a login can be renamed and
//      re-registered by someone else; the id cannot);
//   2. with WORKER_SECRET set, its signature holds for this repository, issue and record kind
//      (record_seal.h): no hand edit, no record moved from another issue;
//   3. it is not a replay: its nonce appears on no earlier comment of the issue, and it was
//      sealed no later than GitHub last stamped the comment (plus slack) and no earlier than the
//      comment's creation minus the longest a write can wait before it is sent — so a
//      byte-for-byte copy of a genuine record posted later as a new comment does not count;
//   4. every number in it is in range: no time further ahead of GitHub's clock than the slack,
//      no lease or ttl beyond the configured maxima, no epoch going back for one worker, no
//      count beyond the API's limits.
//
// Everything else is foreign: ignored by every protocol, as if the comment were not there, and
// counted by reason (tasksentinel_github_foreign_records_total{reason=...}). It is never an
// error. Task issues are screened the same way for the TASK record in their body, and by the
// intake policy (SENTINEL_TASK_INTAKE) for their author.
//
// Thread safety: TrustedAuthors is an immutable value; Screen is safe for concurrent use once
// SetAuthors has been called (calls before it see every author as untrusted).
#ifndef TASK_SENTINEL_CORE_GITHUB_TRUST_H_
#define TASK_SENTINEL_CORE_GITHUB_TRUST_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/github/github_api.h"
#include "core/github/record_seal.h"
#include "core/github/records.h"

namespace tasksentinel::github {

// Why a record did not count.
enum class ForeignReason {
  kMalformed,        // a marker whose record does not parse
  kNewerSchema,      // a schema version this sidecar does not know
  kUntrustedAuthor,  // written by an account that is not trusted
  kUnsigned,         // no signature although WORKER_SECRET is set
  kBadSignature,     // a signature that does not hold (edited, moved, or another secret)
  kReplay,           // a copy of an earlier record, or sealed long before GitHub stamped it
  kOutOfRange,       // a number out of range
  kCount,            // (the number of reasons)
};

// The reason's label value, e.g. "untrusted_author".
absl::string_view ForeignReasonName(ForeignReason reason);

// The accounts whose records count.
class TrustedAuthors {
 public:
  // The token's own account plus each login of `logins` (GitHub App bots as "name[bot]"),
  // resolved to ids now. Fails, naming the login, when one does not exist.
  static absl::StatusOr<TrustedAuthors> Resolve(GitHubApi& api,
                                                const std::vector<std::string>& logins);

  TrustedAuthors() = default;
  TrustedAuthors(Account self, std::vector<Account> others);

  bool Trusts(int64_t account_id) const { return account_id > 0 && ids_.count(account_id) > 0; }
  const Account& self() const { return self_; }
  // Every trusted account, the own first.
  const std::vector<Account>& accounts() const { return accounts_; }

 private:
  Account self_;
  std::vector<Account> accounts_;
  std::set<int64_t> ids_;
};

// How far numbers in records may go.
struct RecordBounds {
  // Times may run ahead of GitHub's clock by this much (clock estimates, 1 s resolution).
  absl::Duration clock_slack = absl::Seconds(60);
  // A record may be sealed at most this long before GitHub stamps its comment: the longest a
  // write waits in the queue plus its retries.
  absl::Duration max_write_delay = absl::Minutes(5);
  // Leases: twice the largest STALE_WORKER_THRESHOLD_MS (heartbeats stretch a lease to twice
  // the threshold when writes are delayed).
  absl::Duration max_lease = absl::Hours(48);
  absl::Duration max_ttl = absl::Hours(24);          // lock ttls (LOCK_TTL_SECONDS)
  absl::Duration max_retry_delay = absl::Hours(2);   // retry_at / not_before ahead of now
  uint64_t max_epoch = uint64_t{1} << 53;            // exact in every JSON reader
  uint32_t max_tasks = 10000;                        // WORKER_MAX_TASKS
  uint32_t max_attempts = 100;
  int32_t max_priority = 1000;
};

// The screen every record passes before it counts.
class RecordScreen {
 public:
  // `seal` must outlive the screen.
  RecordScreen(const RecordSeal* seal, RecordBounds bounds);

  // Sets the trusted accounts (once resolved at start-up).
  void SetAuthors(TrustedAuthors authors) ABSL_LOCKS_EXCLUDED(mu_);
  // The trusted accounts (empty before SetAuthors).
  TrustedAuthors authors() const ABSL_LOCKS_EXCLUDED(mu_);

  // Judges the records of one list answer of issue `issue`'s comments (ascending id), given
  // GitHub's clock at the answer. `parsed[i]` belongs to `comments[i]`; a record that does not
  // count is removed from it and its reason stored in `reasons[i]` (unset where it counts or
  // where there was no record at all).
  void ScreenComments(int64_t issue, absl::Time server_time,
                      const std::vector<const Comment*>& comments,
                      std::vector<ParsedBody>& parsed,
                      std::vector<std::optional<ForeignReason>>& reasons) const;

  // Judges the TASK record in the body of task issue `issue` (whose author the intake policy
  // has already accepted): signature and ranges. Removes the record when it does not count and
  // returns why.
  std::optional<ForeignReason> ScreenIssueBody(int64_t issue, absl::Time server_time,
                                               ParsedBody& parsed) const;

  // Whether the account may author records.
  bool Trusts(int64_t account_id) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Whether every number in `record` is in range at `server_time`.
  bool InRange(const Record& record, absl::Time server_time) const;

  const RecordSeal* const seal_;
  const RecordBounds bounds_;
  mutable absl::Mutex mu_;
  TrustedAuthors authors_ ABSL_GUARDED_BY(mu_);
};

// Counts foreign records by reason (each comment once).
class ForeignCounts {
 public:
  void Add(ForeignReason reason) { counts_[static_cast<size_t>(reason)].fetch_add(1); }
  int64_t Get(ForeignReason reason) const { return counts_[static_cast<size_t>(reason)].load(); }

 private:
  std::array<std::atomic<int64_t>, static_cast<size_t>(ForeignReason::kCount)> counts_{};
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_TRUST_H_
