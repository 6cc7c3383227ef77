// Shared memory on GitHub (see github_memory.h).
#include "core/github/github_memory.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/memory_diff.h"
#include "core/notifier.h"
#include "core/validation.h"

namespace tasksentinel::github {
namespace {

// Room for one memory comment, well under GitHub's 65,536 characters.
constexpr size_t kMaxCommentChars = 60000;

// Whether (a, a_writer) is a later write than (b, b_writer).
bool Later(const MemoryItem& a, const std::string& a_writer, const MemoryItem& b,
           const std::string& b_writer) {
  if (a.written_at != b.written_at) return a.written_at > b.written_at;
  return a_writer > b_writer;
}

tasksentinel::MemoryRecord ToRecord(const MemoryItem& item, const std::string& writer) {
  tasksentinel::MemoryRecord r;
  r.value = item.value;
  r.version = static_cast<uint64_t>(absl::ToUnixMicros(item.written_at));
  r.updated_at = item.written_at;
  r.updated_by = writer;
  r.expires_at = item.expires_at;
  return r;
}

}  // namespace

bool MemoryItemLive(const MemoryItem& item, absl::Time now) {
  return !item.tombstone && now < item.expires_at;
}

GitHubMemory::GitHubMemory(const GitHubContext& ctx, LockProtocol* locks)
    : ctx_(ctx),
      locks_(locks),
      cache_(static_cast<size_t>(std::max(ctx.config->memory_cache_size, 1))) {}

absl::Status GitHubMemory::ValidateTarget(const std::string& ns, const std::string& key) {
  if (absl::Status s = ValidateNamespace(ns, ctx_.config->namespaces); !s.ok()) return s;
  return ValidateKey("key", key);
}

absl::StatusOr<SnapshotPtr> GitHubMemory::Snapshot(absl::Duration max_age) {
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  const absl::Time local_now = ctx_.clock->Now();
  return ctx_.views->FreshSince(*issue, local_now - max_age, local_now);
}

GitHubMemory::Own& GitHubMemory::OwnFor(const std::string& ns,
                                        const CommentSnapshot& snapshot) {
  Own& own = own_[ns];
  if (own.loaded) return own;
  own.loaded = true;
  std::map<int, std::pair<int64_t, std::string>> parts;
  for (const ViewedComment& c : snapshot.comments) {
    const WorkerMemoryRecord* r = c.As<WorkerMemoryRecord>();
    if (r == nullptr || r->worker_id != ctx_.config->worker_id || r->ns != ns) continue;
    parts[r->part] = {c.comment.id, c.comment.body};
    for (const auto& [key, item] : r->entries) {
      auto it = own.entries.find(key);
      if (it == own.entries.end() || item.written_at > it->second.written_at) {
        own.entries[key] = item;
      }
    }
  }
  for (const auto& [part, id_body] : parts) {
    own.comment_ids.push_back(id_body.first);
    own.written.push_back(id_body.second);
  }
  ++own.revision;
  return own;
}

std::shared_ptr<const MergedNamespace> GitHubMemory::MergedLocked(
    const std::string& ns, const CommentSnapshot& snapshot) {
  const std::string& me = ctx_.config->worker_id;
  Own& own = OwnFor(ns, snapshot);
  const MergeStamp stamp{snapshot.content_version, own.revision};
  if (std::shared_ptr<const MergedNamespace> hit = cache_.Find(ns, stamp)) return hit;
  auto fresh = std::make_shared<MergedNamespace>();
  MergedNamespace& merged = *fresh;
  auto offer = [&merged](const std::string& key, const MemoryItem& item,
                         const std::string& writer) {
    auto it = merged.find(key);
    if (it == merged.end() || Later(item, writer, it->second.item, it->second.writer)) {
      merged[key] = Merged{item, writer};
    }
  };
  for (const ViewedComment& c : snapshot.comments) {
    const WorkerMemoryRecord* r = c.As<WorkerMemoryRecord>();
    if (r == nullptr || r->ns != ns || r->worker_id == me) continue;
    for (const auto& [key, item] : r->entries) offer(key, item, r->worker_id);
  }
  for (const auto& [key, item] : own.entries) offer(key, item, me);
  cache_.Put(ns, stamp, fresh);
  ctx_.stats->memory_cache_entries.store(static_cast<int64_t>(cache_.entries()));
  return fresh;
}

absl::StatusOr<MemoryEntry> GitHubMemory::Get(const std::string& ns, const std::string& key) {
  if (absl::Status s = ValidateTarget(ns, key); !s.ok()) return s;
  FlushDueQuietly();
  absl::StatusOr<SnapshotPtr> snapshot = Snapshot(ctx_.config->memory_sync_interval);
  if (!snapshot.ok()) return snapshot.status();
  const absl::Time now = ctx_.api->ServerNow();
  absl::MutexLock lock(&mu_);
  const std::shared_ptr<const MergedNamespace> merged = MergedLocked(ns, **snapshot);
  auto it = merged->find(key);
  if (it == merged->end() || !MemoryItemLive(it->second.item, now)) {
    return absl::NotFoundError(absl::StrCat("no memory entry ", ns, "/", key));
  }
  return MemoryEntry{ns, key, ToRecord(it->second.item, it->second.writer)};
}

absl::StatusOr<std::optional<GitHubMemory::Merged>> GitHubMemory::CheckWrite(
    const std::string& ns, const std::string& key, std::optional<uint64_t> expected,
    const std::optional<FenceRef>& fencing, SnapshotPtr* snapshot) {
  if (fencing.has_value()) {
    absl::StatusOr<LockSite> site = locks_->Locate(fencing->name);
    if (!site.ok()) return site.status();
    absl::StatusOr<JudgedClaim> held =
        locks_->CheckFence(*site, fencing->name, fencing->token, /*must_be_mine=*/false);
    if (!held.ok()) return held.status();
  }
  absl::StatusOr<SnapshotPtr> fresh = Snapshot(ctx_.config->memory_sync_interval);
  if (!fresh.ok()) return fresh.status();
  *snapshot = *fresh;
  const absl::Time now = ctx_.api->ServerNow();
  absl::MutexLock lock(&mu_);
  const std::shared_ptr<const MergedNamespace> merged = MergedLocked(ns, **fresh);
  std::optional<Merged> current;
  if (auto it = merged->find(key); it != merged->end()) current = it->second;
  if (expected.has_value()) {
    const uint64_t actual = current.has_value() && MemoryItemLive(current->item, now)
                                ? ToRecord(current->item, current->writer).version
                                : 0;
    if (absl::Status s = CheckExpectedVersion(ns, key, *expected, actual); !s.ok()) return s;
  }
  return current;
}

absl::StatusOr<MemoryEntry> GitHubMemory::Set(const SetRequest& request) {
  if (absl::Status s = ValidateSetRequest(request, ctx_.config->namespaces); !s.ok()) return s;
  FlushDueQuietly();
  SnapshotPtr snapshot;
  absl::StatusOr<std::optional<Merged>> current = CheckWrite(
      request.ns, request.key, request.expected_version, request.fencing, &snapshot);
  if (!current.ok()) return current.status();
  const int64_t now_us = absl::ToUnixMicros(ctx_.api->ServerNow());
  const int64_t floor_us =
      current->has_value() ? absl::ToUnixMicros((*current)->item.written_at) + 1 : 0;
  MemoryItem item;
  item.value = request.value;
  item.written_at = absl::FromUnixMicros(std::max(now_us, floor_us));
  item.expires_at = request.ttl > absl::ZeroDuration() ? item.written_at + request.ttl
                                                       : absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    Own& own = OwnFor(request.ns, *snapshot);
    own.entries[request.key] = item;
    if (!own.dirty) own.dirty_since = ctx_.clock->Now();
    own.dirty = true;
    ++own.generation;
    ++own.revision;
  }
  ctx_.notifier->Notify();
  return MemoryEntry{request.ns, request.key, ToRecord(item, ctx_.config->worker_id)};
}

absl::StatusOr<bool> GitHubMemory::Delete(const std::string& ns, const std::string& key,
                                          std::optional<uint64_t> expected_version,
                                          const std::optional<FenceRef>& fencing) {
  if (absl::Status s = ValidateTarget(ns, key); !s.ok()) return s;
  if (fencing.has_value()) {
    if (absl::Status s = ValidateId("fencing.task_id", fencing->name); !s.ok()) return s;
  }
  FlushDueQuietly();
  SnapshotPtr snapshot;
  absl::StatusOr<std::optional<Merged>> current =
      CheckWrite(ns, key, expected_version, fencing, &snapshot);
  if (!current.ok()) return current.status();
  const absl::Time now = ctx_.api->ServerNow();
  if (!current->has_value() || !MemoryItemLive((*current)->item, now)) return false;
  MemoryItem tombstone;
  tombstone.tombstone = true;
  tombstone.written_at = absl::FromUnixMicros(std::max(
      absl::ToUnixMicros(now), absl::ToUnixMicros((*current)->item.written_at) + 1));
  {
    absl::MutexLock lock(&mu_);
    Own& own = OwnFor(ns, *snapshot);
    own.entries[key] = tombstone;
    if (!own.dirty) own.dirty_since = ctx_.clock->Now();
    own.dirty = true;
    ++own.generation;
    ++own.revision;
  }
  ctx_.notifier->Notify();
  return true;
}

absl::StatusOr<std::vector<MemoryEntry>> GitHubMemory::List(const std::string& ns,
                                                            const std::string& prefix) {
  if (absl::Status s = ValidateNamespace(ns, ctx_.config->namespaces); !s.ok()) return s;
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  FlushDueQuietly();
  absl::StatusOr<SnapshotPtr> snapshot = Snapshot(ctx_.config->memory_sync_interval);
  if (!snapshot.ok()) return snapshot.status();
  const absl::Time now = ctx_.api->ServerNow();
  absl::MutexLock lock(&mu_);
  std::vector<MemoryEntry> out;
  const std::shared_ptr<const MergedNamespace> merged = MergedLocked(ns, **snapshot);
  for (const auto& [key, m] : *merged) {
    if (absl::StartsWith(key, prefix) && MemoryItemLive(m.item, now)) {
      out.push_back(MemoryEntry{ns, key, ToRecord(m.item, m.writer)});
    }
  }
  return out;
}

absl::Status GitHubMemory::Watch(const std::string& ns, const std::string& prefix,
                                 bool include_initial,
                                 const std::function<bool(const MemoryEvent&)>& sink,
                                 const std::function<bool()>& cancelled) {
  if (absl::Status s = ValidateNamespace(ns, ctx_.config->namespaces); !s.ok()) return s;
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  MemoryWatch watch(ns, include_initial);
  return RetryUntil(
      *ctx_.clock, *ctx_.notifier, absl::InfiniteFuture(), ctx_.options->poll_interval,
      cancelled, [&](bool* done) -> absl::Status {
        FlushDueQuietly();
        absl::StatusOr<SnapshotPtr> snapshot = Snapshot(ctx_.options->poll_interval);
        if (!snapshot.ok()) return snapshot.status();
        const absl::Time now = ctx_.api->ServerNow();
        std::map<std::string, tasksentinel::MemoryRecord> current;
        {
          absl::MutexLock lock(&mu_);
          const std::shared_ptr<const MergedNamespace> merged = MergedLocked(ns, **snapshot);
          for (const auto& [key, m] : *merged) {
            if (absl::StartsWith(key, prefix) && MemoryItemLive(m.item, now)) {
              current[key] = ToRecord(m.item, m.writer);
            }
          }
        }
        *done = !watch.Observe(std::move(current), sink);
        return absl::OkStatus();
      });
}

absl::Time GitHubMemory::NextFlushDue() {
  absl::MutexLock lock(&mu_);
  absl::Time due = absl::InfiniteFuture();
  for (const auto& [ns, own] : own_) {
    if (!own.dirty) continue;
    due = std::min(due, std::max(own.dirty_since, own.last_flush) +
                            ctx_.config->memory_sync_interval);
  }
  return due;
}

void GitHubMemory::FlushDueQuietly() { (void)Flush(/*force=*/false); }

absl::Status GitHubMemory::Flush(bool force) {
  absl::MutexLock flush_lock(&flush_mu_);
  std::vector<std::string> due;
  {
    const absl::Time local_now = ctx_.clock->Now();
    absl::MutexLock lock(&mu_);
    for (const auto& [ns, own] : own_) {
      if (!own.dirty) continue;
      if (force || local_now >= std::max(own.dirty_since, own.last_flush) +
                                    ctx_.config->memory_sync_interval) {
        due.push_back(ns);
      }
    }
  }
  absl::Status first_error;
  for (const std::string& ns : due) {
    absl::Status s = FlushOne(ns);
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::Status GitHubMemory::FlushOne(const std::string& ns) {
  absl::StatusOr<int64_t> issue = ctx_.coordination->Number();
  if (!issue.ok()) return issue.status();
  absl::StatusOr<SnapshotPtr> snapshot = Snapshot(ctx_.config->memory_sync_interval);
  if (!snapshot.ok()) return snapshot.status();
  const absl::Time now = ctx_.api->ServerNow();
  const absl::Time local_now = ctx_.clock->Now();
  const std::string& me = ctx_.config->worker_id;
  const absl::Duration tombstone_horizon =
      2 * ctx_.config->memory_sync_interval + ctx_.config->stale_threshold;

  // Compact and pack, under the lock; write without it.
  uint64_t generation = 0;
  std::vector<std::string> bodies;  // unsealed: compared with what was written last
  std::vector<WorkerMemoryRecord> parts;
  std::vector<int64_t> ids;
  std::vector<std::string> written;
  {
    absl::MutexLock lock(&mu_);
    Own& own = OwnFor(ns, **snapshot);
    generation = own.generation;
    // Other workers' entries of this namespace, by key.
    std::map<std::string, std::vector<std::pair<MemoryItem, std::string>>> others;
    for (const ViewedComment& c : (*snapshot)->comments) {
      const WorkerMemoryRecord* r = c.As<WorkerMemoryRecord>();
      if (r == nullptr || r->ns != ns || r->worker_id == me) continue;
      for (const auto& [key, item] : r->entries) others[key].push_back({item, r->worker_id});
    }
    for (auto it = own.entries.begin(); it != own.entries.end();) {
      const MemoryItem& item = it->second;
      bool drop = !item.tombstone && now >= item.expires_at;
      bool older_elsewhere = false;
      for (const auto& [other, writer] : others[it->first]) {
        if (Later(other, writer, item, me)) drop = true;  // superseded for good
        if (!Later(other, writer, item, me)) older_elsewhere = true;
      }
      if (item.tombstone && !older_elsewhere && now - item.written_at > tombstone_horizon) {
        drop = true;
      }
      if (drop) {
        it = own.entries.erase(it);
        ++own.revision;
      } else {
        ++it;
      }
    }
    // Pack the entries into parts that each fit one comment.
    WorkerMemoryRecord part{me, ns, 0, {}};
    auto close_part = [&]() {
      bodies.push_back(CommentBody(part));
      parts.push_back(part);
      part.entries.clear();
      ++part.part;
    };
    for (const auto& [key, item] : own.entries) {
      part.entries[key] = item;
      if (part.entries.size() > 1 && CommentBody(part).size() > kMaxCommentChars) {
        part.entries.erase(key);
        close_part();
        part.entries[key] = item;
      }
    }
    if (!part.entries.empty() || bodies.empty()) close_part();
    ids = own.comment_ids;
    written = own.written;
  }

  std::vector<int64_t> new_ids;
  std::vector<std::string> new_written;
  absl::Status status;
  int comments_written = 0;
  for (size_t i = 0; i < bodies.size() && status.ok(); ++i) {
    if (i < ids.size() && i < written.size() && written[i] == bodies[i]) {
      new_ids.push_back(ids[i]);
      new_written.push_back(bodies[i]);
      continue;
    }
    const std::string sealed = ctx_.seal->Body(parts[i], *issue, ctx_.api->ServerNow());
    absl::StatusOr<Comment> c =
        i < ids.size() ? ctx_.api->UpdateComment(ids[i], sealed, WritePriority::kMemory)
                       : absl::StatusOr<Comment>(absl::NotFoundError("new part"));
    if (absl::IsNotFound(c.status())) {
      c = ctx_.api->CreateComment(*issue, sealed, WritePriority::kMemory);
    }
    if (!c.ok()) {
      status = c.status();
      break;
    }
    ctx_.stats->memory_flushes.fetch_add(1);
    ++comments_written;
    new_ids.push_back(c->id);
    new_written.push_back(bodies[i]);
  }
  if (status.ok()) {
    for (size_t i = bodies.size(); i < ids.size(); ++i) {
      if (absl::Status s = ctx_.api->DeleteComment(ids[i], WritePriority::kMemory); !s.ok()) {
        status = s;
        new_ids.push_back(ids[i]);  // still ours; retried with the next flush
        new_written.push_back(i < written.size() ? written[i] : "");
      }
    }
  } else {
    // Keep the parts not reached.
    for (size_t i = new_ids.size(); i < ids.size(); ++i) {
      new_ids.push_back(ids[i]);
      new_written.push_back(i < written.size() ? written[i] : "");
    }
  }

  if (comments_written > 0 || !status.ok()) {
    Event e;
    e.kind = EventKind::kMemoryFlushed;
    e.subject = ns;
    e.result = status.ok() ? "ok" : "error";
    e.duration = ctx_.clock->Now() - local_now;
    e.details = {{"comments_written", absl::StrCat(comments_written)},
                 {"parts", absl::StrCat(bodies.size())}};
    if (!status.ok()) e.details["code"] = absl::StatusCodeToString(status.code());
    ctx_.options->events->Record(e);
  }
  absl::MutexLock lock(&mu_);
  Own& own = own_[ns];
  own.comment_ids = std::move(new_ids);
  own.written = std::move(new_written);
  own.last_flush = local_now;
  if (status.ok() && own.generation == generation) own.dirty = false;
  return status;
}

}  // namespace tasksentinel::github
