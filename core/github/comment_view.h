// A cached, conditionally refreshed view of issues' comments, with each comment's record parsed.
//
// Every protocol reads GitHub through this view: Refresh() lists an issue's comments (the API
// answers 304 — free of the primary rate limit — when nothing changed, and the view then hands
// back the previous snapshot without parsing anything), and only comments that are new or whose
// body changed are parsed again. Every record then passes the RecordScreen (trust.h): records
// that do not count (untrusted author, bad or missing signature, replay, out of range, malformed,
// newer schema) are removed from the snapshot's parse and counted once each by reason; the
// comment stays in the snapshot with its outcome (kForeign), and every reader skips it.
//
// Why it is safe: a snapshot is exactly one list answer of GitHub (plus GitHub's clock at the
// time), never a mix of answers, and it is immutable once built, so a protocol judges one
// consistent picture. Nothing here decides anything; the protocols decide from snapshots.
//
// Thread safety: safe for concurrent use. Snapshots are shared, immutable values.
#ifndef TASK_SENTINEL_CORE_GITHUB_COMMENT_VIEW_H_
#define TASK_SENTINEL_CORE_GITHUB_COMMENT_VIEW_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/github/github_api.h"
#include "core/github/records.h"
#include "core/github/trust.h"

namespace tasksentinel::github {

// One comment and what its body holds.
struct ViewedComment {
  Comment comment;
  ParsedBody parsed;  // after screening: no record unless it counts
  // Why the record did not count, when it did not.
  std::optional<ForeignReason> foreign;
  // The parse before screening (shared between snapshots while the body is unchanged).
  std::shared_ptr<const ParsedBody> raw;

  // The record, when the comment holds one of type T; nullptr otherwise.
  template <typename T>
  const T* As() const {
    return parsed.record.has_value() ? std::get_if<T>(&*parsed.record) : nullptr;
  }
};

// One list answer for one issue.
struct CommentSnapshot {
  int64_t issue = 0;
  std::vector<ViewedComment> comments;  // ascending id
  absl::Time server_time = absl::UnixEpoch();
  absl::Time fetched_at = absl::InfinitePast();  // local clock, for freshness checks
  // Rises whenever the issue's comments (their ids or bodies) differ from the previous list's;
  // equal across lists that show the same comments. Lets derived views be cached.
  uint64_t content_version = 0;

  // The comment with id `id`, or nullptr.
  const ViewedComment* Find(int64_t id) const;
};

using SnapshotPtr = std::shared_ptr<const CommentSnapshot>;

class IssueViews {
 public:
  // `api` and `screen` must outlive the views. `foreign_counter`, when not null, is incremented
  // once per comment that is not a record that counts (tasksentinel_github_foreign_comments_total);
  // `foreign_records`, when not null, once per record that does not count, by reason.
  // `on_foreign`, when set, is called once per such record (for a debug log line).
  IssueViews(GitHubApi* api, const RecordScreen* screen, std::atomic<int64_t>* foreign_counter,
             ForeignCounts* foreign_records = nullptr,
             std::function<void(const Comment&, ForeignReason)> on_foreign = nullptr);

  // Lists issue `issue`'s comments now (conditionally). `local_now` stamps the snapshot.
  absl::StatusOr<SnapshotPtr> Refresh(int64_t issue, absl::Time local_now);

  // The latest snapshot if it was fetched at or after `not_before` (local clock), else a fresh
  // one.
  absl::StatusOr<SnapshotPtr> FreshSince(int64_t issue, absl::Time not_before,
                                         absl::Time local_now);

  // The latest snapshot of `issue`, or nullptr when it was never listed.
  SnapshotPtr Latest(int64_t issue);

 private:
  GitHubApi* const api_;
  const RecordScreen* const screen_;
  std::atomic<int64_t>* const foreign_counter_;
  ForeignCounts* const foreign_records_;
  const std::function<void(const Comment&, ForeignReason)> on_foreign_;
  std::atomic<uint64_t> next_version_{0};  // content versions handed out
  absl::Mutex mu_;
  std::map<int64_t, SnapshotPtr> latest_ ABSL_GUARDED_BY(mu_);
  std::set<int64_t> foreign_seen_ ABSL_GUARDED_BY(mu_);  // comment ids already counted
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_COMMENT_VIEW_H_
