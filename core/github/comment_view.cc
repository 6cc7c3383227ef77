// Cached views of issues' comments (see comment_view.h).
#include "core/github/comment_view.h"

#include <utility>

namespace tasksentinel::github {

const ViewedComment* CommentSnapshot::Find(int64_t id) const {
  for (const ViewedComment& c : comments) {
    if (c.comment.id == id) return &c;
  }
  return nullptr;
}

IssueViews::IssueViews(GitHubApi* api, const RecordScreen* screen,
                       std::atomic<int64_t>* foreign_counter, ForeignCounts* foreign_records,
                       std::function<void(const Comment&, ForeignReason)> on_foreign)
    : api_(api),
      screen_(screen),
      foreign_counter_(foreign_counter),
      foreign_records_(foreign_records),
      on_foreign_(std::move(on_foreign)) {}

absl::StatusOr<SnapshotPtr> IssueViews::Refresh(int64_t issue, absl::Time local_now) {
  // The list runs without the lock: several protocols may refresh different issues at once.
  absl::StatusOr<Read<std::vector<Comment>>> read = api_->ListComments(issue, std::nullopt);
  if (!read.ok()) return read.status();

  SnapshotPtr previous = Latest(issue);
  auto next = std::make_shared<CommentSnapshot>();
  next->issue = issue;
  next->server_time = read->server_time;
  next->fetched_at = local_now;
  // Only new or edited comments are parsed. (A 304 answer carries the cached list too; the
  // comparison below makes it cost no parsing without trusting that our previous snapshot is
  // the answer the 304 refers to.)
  std::map<int64_t, const ViewedComment*> before;
  if (previous != nullptr) {
    for (const ViewedComment& c : previous->comments) before[c.comment.id] = &c;
  }
  next->comments.reserve(read->value.size());
  bool same = previous != nullptr && previous->comments.size() == read->value.size();
  for (Comment& c : read->value) {
    auto it = before.find(c.id);
    ViewedComment viewed;
    if (it != before.end() && it->second->comment.body == c.body &&
        it->second->comment.author_id == c.author_id) {
      viewed.raw = it->second->raw;
    } else {
      same = false;
      viewed.raw = std::make_shared<const ParsedBody>(ParseBody(c.body));
    }
    viewed.comment = std::move(c);
    next->comments.push_back(std::move(viewed));
  }

  // Screen every record against the whole answer (a record's standing can depend on earlier
  // comments: a nonce seen before, an epoch going back).
  std::vector<const Comment*> comments;
  std::vector<ParsedBody> parsed;
  comments.reserve(next->comments.size());
  parsed.reserve(next->comments.size());
  for (const ViewedComment& c : next->comments) {
    comments.push_back(&c.comment);
    parsed.push_back(*c.raw);
  }
  std::vector<std::optional<ForeignReason>> reasons;
  screen_->ScreenComments(issue, read->server_time, comments, parsed, reasons);
  for (size_t i = 0; i < next->comments.size(); ++i) {
    next->comments[i].parsed = std::move(parsed[i]);
    next->comments[i].foreign = reasons[i];
    if (previous != nullptr && same) {
      const ViewedComment& before_c = previous->comments[i];
      same = before_c.foreign == reasons[i];  // a changed verdict is a change of content
    }
  }

  // A fresh number for new content (unique even when two refreshes race), else the previous.
  next->content_version = same ? previous->content_version : next_version_.fetch_add(1) + 1;

  absl::MutexLock lock(&mu_);
  for (const ViewedComment& c : next->comments) {
    if (c.parsed.outcome == ParseOutcome::kRecord || !foreign_seen_.insert(c.comment.id).second) {
      continue;
    }
    if (foreign_counter_ != nullptr) foreign_counter_->fetch_add(1);
    if (c.foreign.has_value()) {
      if (foreign_records_ != nullptr) foreign_records_->Add(*c.foreign);
      if (on_foreign_) on_foreign_(c.comment, *c.foreign);
    }
  }
  SnapshotPtr& slot = latest_[issue];
  // Keep the newest answer if two refreshes raced.
  if (slot == nullptr || slot->fetched_at <= next->fetched_at) slot = next;
  return SnapshotPtr(next);
}

absl::StatusOr<SnapshotPtr> IssueViews::FreshSince(int64_t issue, absl::Time not_before,
                                                   absl::Time local_now) {
  SnapshotPtr latest = Latest(issue);
  if (latest != nullptr && latest->fetched_at >= not_before) return latest;
  return Refresh(issue, local_now);
}

SnapshotPtr IssueViews::Latest(int64_t issue) {
  absl::MutexLock lock(&mu_);
  auto it = latest_.find(issue);
  return it == latest_.end() ? nullptr : it->second;
}

}  // namespace tasksentinel::github
