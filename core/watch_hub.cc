// One change feed per watched namespace (see watch_hub.h).
#include "core/watch_hub.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/validation.h"
#include "core/error_reason.h"

namespace tasksentinel {
namespace {

// The observation of a namespace as ListMemory returns it, keyed by key.
std::map<std::string, MemoryRecord> Snapshot(std::vector<MemoryEntry> entries) {
  std::map<std::string, MemoryRecord> out;
  for (MemoryEntry& e : entries) out.emplace(std::move(e.key), std::move(e.record));
  return out;
}

// Whether two observations hold the same keys at the same versions.
bool SameVersions(const std::map<std::string, MemoryRecord>& a,
                  const std::map<std::string, MemoryRecord>& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.version != ib->second.version) return false;
  }
  return true;
}

}  // namespace

WatchHub::WatchHub(Coordinator* coordinator, Options options)
    : coordinator_(coordinator), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

WatchHub::~WatchHub() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

absl::Status WatchHub::Subscribe(const std::string& ns, const std::string& prefix,
                                 bool include_initial, Subscriber* subscriber) {
  if (absl::Status s = ValidateNamespace(ns, options_.namespaces); !s.ok()) return s;
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return WithReason(absl::UnavailableError("the sidecar is shutting down"), reason::kShuttingDown);
    if (watches_ >= options_.max_watches) {
      return WithReason(absl::ResourceExhaustedError(absl::StrCat(
          "this sidecar already serves ", watches_, " WatchMemory streams, its limit "
          "(SENTINEL_MAX_WATCHES); close one or watch through another sidecar")), reason::kTooManyCalls);
    }
    ++watches_;  // reserved while the first observation is made
  }
  // The namespace's first observation, outside the lock (a store transaction); the polling
  // thread may make a newer one meanwhile, and then that one counts.
  std::map<std::string, MemoryRecord> first;
  bool need_first = false;
  {
    absl::MutexLock lock(&mu_);
    need_first = !feeds_[ns].observed;
  }
  if (need_first) {
    absl::StatusOr<std::vector<MemoryEntry>> entries = coordinator_->ListMemory(ns, "");
    if (!entries.ok()) {
      absl::MutexLock lock(&mu_);
      if (!stopped_) --watches_;
      auto it = feeds_.find(ns);
      if (it != feeds_.end() && it->second.watches.empty()) feeds_.erase(it);
      return entries.status();
    }
    first = Snapshot(*std::move(entries));
  }
  absl::MutexLock lock(&mu_);
  if (stopped_) {  // Stop reset the count (with this reservation) and dropped every feed
    return WithReason(absl::UnavailableError("the sidecar is shutting down"), reason::kShuttingDown);
  }
  Feed& feed = feeds_[ns];
  if (!feed.observed) {
    feed.snapshot = std::move(first);
    feed.observed = true;
    ++observations_;
  }
  auto watch = std::make_unique<Watch>(Watch{prefix, MemoryWatch(ns, include_initial)});
  Deliver(feed, subscriber, *watch);
  feed.watches[subscriber] = std::move(watch);
  return absl::OkStatus();
}

void WatchHub::Unsubscribe(Subscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  for (auto it = feeds_.begin(); it != feeds_.end(); ++it) {
    if (it->second.watches.erase(subscriber) > 0) {
      --watches_;
      if (it->second.watches.empty()) feeds_.erase(it);  // no subscriber: stop observing it
      return;
    }
  }
}

void WatchHub::Stop() {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  stopped_ = true;
  const absl::Status end = absl::OkStatus();  // the stream simply ends at shutdown
  for (auto& [ns, feed] : feeds_) {
    for (auto& [subscriber, watch] : feed.watches) subscriber->OnEnd(end);
  }
  feeds_.clear();
  watches_ = 0;
}

int WatchHub::watches() const {
  absl::MutexLock lock(&mu_);
  return watches_;
}

uint64_t WatchHub::observations() const {
  absl::MutexLock lock(&mu_);
  return observations_;
}

void WatchHub::Deliver(const Feed& feed, Subscriber* subscriber, Watch& watch) {
  std::map<std::string, MemoryRecord> mine;
  for (auto it = feed.snapshot.lower_bound(watch.prefix);
       it != feed.snapshot.end() && absl::StartsWith(it->first, watch.prefix); ++it) {
    mine.emplace(it->first, it->second);
  }
  std::vector<MemoryEvent> events;
  watch.diff.Observe(std::move(mine), [&events](const MemoryEvent& e) {
    events.push_back(e);
    return true;
  });
  if (!events.empty()) subscriber->OnEvents(std::move(events));
}

void WatchHub::Observe(const std::string& ns) {
  absl::StatusOr<std::vector<MemoryEntry>> entries = coordinator_->ListMemory(ns, "");
  absl::MutexLock lock(&mu_);
  ++observations_;
  auto it = feeds_.find(ns);
  if (stopped_ || it == feeds_.end()) return;  // every subscriber left meanwhile
  Feed& feed = it->second;
  if (!entries.ok()) {
    // As a per-stream watch did: the store's error ends the streams.
    for (auto& [subscriber, watch] : feed.watches) subscriber->OnEnd(entries.status());
    watches_ -= static_cast<int>(feed.watches.size());
    feeds_.erase(it);
    return;
  }
  std::map<std::string, MemoryRecord> now = Snapshot(*std::move(entries));
  if (SameVersions(now, feed.snapshot)) return;  // nothing changed: no work per stream
  feed.snapshot = std::move(now);
  for (auto& [subscriber, watch] : feed.watches) Deliver(feed, subscriber, *watch);
}

void WatchHub::Run() {
  for (;;) {
    std::vector<std::string> namespaces;
    {
      absl::MutexLock lock(&mu_);
      // Sleep a poll interval (or until stopped); with no feed, until a subscriber comes.
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_; };
      mu_.AwaitWithTimeout(absl::Condition(&wake), options_.poll_interval);
      if (stopped_) return;
      auto busy = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopped_ || !feeds_.empty();
      };
      mu_.Await(absl::Condition(&busy));
      if (stopped_) return;
      for (const auto& [ns, feed] : feeds_) namespaces.push_back(ns);
    }
    for (const std::string& ns : namespaces) Observe(ns);
  }
}

}  // namespace tasksentinel
