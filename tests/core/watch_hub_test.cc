// The WatchHub on the embedded backend (an in-memory store, real time, a 5 ms poll): one
// observation per namespace per poll however many watchers, fan-out with each watcher's prefix
// and initial state, the watch limit, and the end of every stream on Stop.
#include "core/watch_hub.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/embedded_coordinator.h"
#include "core/embedded/memory_store.h"
#include "gtest/gtest.h"

namespace tasksentinel {
namespace {

// Records what the hub delivers.
class Recorder final : public WatchHub::Subscriber {
 public:
  void OnEvents(std::vector<MemoryEvent> events) override {
    absl::MutexLock lock(&mu_);
    for (MemoryEvent& e : events) events_.push_back(std::move(e));
  }
  void OnEnd(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    end_ = status;
  }
  // Waits up to 5 s for `n` events; returns them.
  std::vector<MemoryEvent> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(5));
    return events_;
  }
  std::optional<absl::Status> end() {
    absl::MutexLock lock(&mu_);
    return end_;
  }

 private:
  absl::Mutex mu_;
  std::vector<MemoryEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
};

class WatchHubTest : public ::testing::Test {
 protected:
  WatchHubTest() : coordinator_(MakeConfig(), &store_, &clock_) {}

  static Config MakeConfig() {
    Config c;
    c.worker_id = "worker-a";
    return c;
  }

  std::unique_ptr<WatchHub> MakeHub(int max_watches = 4096) {
    return std::make_unique<WatchHub>(
        &coordinator_, WatchHub::Options{absl::Milliseconds(5), max_watches,
                                         MakeConfig().namespaces});
  }

  void Set(const std::string& ns, const std::string& key, const std::string& value) {
    SetRequest req;
    req.ns = ns;
    req.key = key;
    req.value = value;
    ASSERT_TRUE(coordinator_.SetMemory(req).ok());
  }

  MemoryStore store_;
  RealClock clock_;
  EmbeddedCoordinator coordinator_;
};

TEST_F(WatchHubTest, OneObservationPerNamespaceServesEveryWatcher) {
  std::unique_ptr<WatchHub> hub = MakeHub();
  constexpr int kWatchers = 300;
  std::vector<std::unique_ptr<Recorder>> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(std::make_unique<Recorder>());
    ASSERT_TRUE(hub->Subscribe("swarm", "", false, watchers.back().get()).ok());
  }
  EXPECT_EQ(hub->watches(), kWatchers);
  const uint64_t before = hub->observations();
  absl::SleepFor(absl::Milliseconds(100));  // about 20 polls
  const uint64_t polls = hub->observations() - before;
  EXPECT_GE(polls, 2u);
  EXPECT_LE(polls, 40u) << "one observation per poll, not one per watcher";
  Set("swarm", "plan", "v1");
  for (auto& w : watchers) {
    std::vector<MemoryEvent> events = w->WaitFor(1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, MemoryEvent::Type::kPut);
    EXPECT_EQ(events[0].entry.key, "plan");
  }
  for (auto& w : watchers) hub->Unsubscribe(w.get());
  EXPECT_EQ(hub->watches(), 0);
}

TEST_F(WatchHubTest, EachWatcherGetsItsPrefixAndItsInitialState) {
  Set("tasks", "a/1", "x");
  Set("tasks", "b/1", "y");
  std::unique_ptr<WatchHub> hub = MakeHub();
  Recorder a_initial;
  Recorder b_changes;
  ASSERT_TRUE(hub->Subscribe("tasks", "a/", true, &a_initial).ok());
  ASSERT_TRUE(hub->Subscribe("tasks", "b/", false, &b_changes).ok());
  EXPECT_EQ(a_initial.WaitFor(1).size(), 1u);  // delivered within Subscribe
  Set("tasks", "b/2", "z");
  Set("tasks", "a/2", "w");
  std::vector<MemoryEvent> a = a_initial.WaitFor(2);
  std::vector<MemoryEvent> b = b_changes.WaitFor(1);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].entry.key, "a/1");
  EXPECT_EQ(a[1].entry.key, "a/2");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].entry.key, "b/2");
  ASSERT_TRUE(coordinator_.DeleteMemory("tasks", "a/1", std::nullopt, std::nullopt).ok());
  a = a_initial.WaitFor(3);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2].type, MemoryEvent::Type::kDelete);
  hub->Unsubscribe(&a_initial);
  hub->Unsubscribe(&b_changes);
}

TEST_F(WatchHubTest, WatchesBeyondTheLimitAreRefused) {
  std::unique_ptr<WatchHub> hub = MakeHub(/*max_watches=*/2);
  Recorder w1, w2, w3;
  ASSERT_TRUE(hub->Subscribe("swarm", "", false, &w1).ok());
  ASSERT_TRUE(hub->Subscribe("global", "", false, &w2).ok());
  absl::Status refused = hub->Subscribe("swarm", "", false, &w3);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("SENTINEL_MAX_WATCHES"), absl::string_view::npos);
  hub->Unsubscribe(&w1);
  EXPECT_TRUE(hub->Subscribe("swarm", "", false, &w3).ok());
  EXPECT_EQ(hub->Subscribe("nope", "", false, &w1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hub->Subscribe("swarm", "bad prefix!", false, &w1).code(),
            absl::StatusCode::kInvalidArgument);
  hub->Unsubscribe(&w2);
  hub->Unsubscribe(&w3);
}

TEST_F(WatchHubTest, StopEndsEveryWatchAndRefusesNewOnes) {
  std::unique_ptr<WatchHub> hub = MakeHub();
  Recorder w1, w2;
  ASSERT_TRUE(hub->Subscribe("swarm", "", false, &w1).ok());
  ASSERT_TRUE(hub->Subscribe("tasks", "", false, &w2).ok());
  hub->Stop();
  ASSERT_TRUE(w1.end().has_value());
  EXPECT_TRUE(w1.end()->ok()) << *w1.end();
  ASSERT_TRUE(w2.end().has_value());
  EXPECT_EQ(hub->watches(), 0);
  Recorder late;
  EXPECT_EQ(hub->Subscribe("swarm", "", false, &late).code(), absl::StatusCode::kUnavailable);
  hub->Unsubscribe(&w1);  // harmless after the end
}

}  // namespace
}  // namespace tasksentinel
