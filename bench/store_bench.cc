// Closed-loop throughput of the core's calls on the durable store, without gRPC: GetMemory and
// SetMemory (128-byte values), AcquireLock+ReleaseLock, and CreateTask+NextTask+CompleteTask,
// at 1, 8 and 64 callers, each for a few seconds, on a SqliteStore in a fresh directory on disk
// (every acknowledged write is fsynced). Prints op/s, p99 latency and, for writes, the store's
// commits (fsyncs) per operation. Run with
//   bazel run -c opt //bench:store_bench -- [--seconds=3] [--dir=/var/tmp]
//       [--ops=GetMemory,SetMemory,LockPair,TaskLife] [--callers=1,8,64]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/embedded/sqlite_store.h"
#include "tests/testing/core_harness.h"

ABSL_FLAG(double, seconds, 3, "how long each cell runs");
ABSL_FLAG(std::string, dir, "/var/tmp", "where the store is made (a real disk)");
ABSL_FLAG(std::vector<std::string>, ops,
          std::vector<std::string>({"GetMemory", "SetMemory", "LockPair", "TaskLife"}),
          "which operations to run");
ABSL_FLAG(std::vector<std::string>, callers, std::vector<std::string>({"1", "8", "64"}),
          "the numbers of concurrent callers");

namespace tasksentinel {
namespace {

constexpr int kKeys = 64;

struct Cell {
  double ops_per_second = 0;
  double p99_ms = 0;
};

// Runs `op(thread, i)` from `threads` callers for the configured time.
template <typename Op>
Cell RunCell(int threads, Op op) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> callers;
  const absl::Time start = absl::Now();
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const absl::Time before = absl::Now();
        op(t, i);
        latencies[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - before));
      }
    });
  }
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
  stop = true;
  for (std::thread& c : callers) c.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Cell cell;
  cell.ops_per_second = all.size() / elapsed;
  cell.p99_ms = all.empty() ? 0 : all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return cell;
}

int Main() {
  const std::string dir =
      absl::StrCat(absl::GetFlag(FLAGS_dir), "/ts-store-bench-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(dir + "/sentinel.db");
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  RealClock clock;
  Config config = TestConfig("bench");
  config.max_tasks = 1000;  // every caller may hold a task
  WorkerHarness w(config, store->get(), &clock);
  if (!w.leases.Register().ok()) return 1;
  const std::string value(128, 'v');
  for (int k = 0; k < kKeys; ++k) {
    SetRequest req{"swarm", absl::StrCat("key-", k), value, std::nullopt,
                   absl::ZeroDuration(), std::nullopt};
    if (!w.memory.Set(req).ok()) return 1;
  }
  std::printf("%-10s %8s %12s %10s %12s\n", "op", "callers", "op/s", "p99 ms", "syncs/op");
  std::atomic<int> errors{0};
  // Runs one cell and prints it; `writes` adds the store's commits per operation.
  const std::vector<std::string> ops = absl::GetFlag(FLAGS_ops);
  auto measure = [&](const char* name, int threads, bool writes, auto op) {
    if (std::find(ops.begin(), ops.end(), name) == ops.end()) return;
    const SqliteStore::WriteStats before = (*store)->write_stats();
    const Cell cell = RunCell(threads, op);
    const SqliteStore::WriteStats after = (*store)->write_stats();
    const double seconds = absl::GetFlag(FLAGS_seconds);
    std::printf("%-10s %8d %12.0f %10.2f", name, threads, cell.ops_per_second, cell.p99_ms);
    if (writes) {
      std::printf(" %12.2f", (after.commits - before.commits) / (cell.ops_per_second * seconds));
    }
    std::printf("\n");
  };
  for (const std::string& callers : absl::GetFlag(FLAGS_callers)) {
    int threads = 0;
    if (!absl::SimpleAtoi(callers, &threads) || threads < 1) {
      std::fprintf(stderr, "bad --callers entry: %s\n", callers.c_str());
      return 1;
    }
    measure("GetMemory", threads, false, [&](int t, int i) {
      if (!w.memory.Get("swarm", absl::StrCat("key-", (t + i) % kKeys)).ok()) ++errors;
    });
    measure("SetMemory", threads, true, [&](int t, int i) {
      SetRequest req{"swarm", absl::StrCat("key-", (t + i) % kKeys), value, std::nullopt,
                     absl::ZeroDuration(), std::nullopt};
      if (!w.memory.Set(req).ok()) ++errors;
    });
    measure("LockPair", threads, true, [&](int t, int) {
      AcquireRequest req;
      req.name = absl::StrCat("lock-", t);
      absl::StatusOr<AcquireAttempt> got = w.locks.Acquire(req);
      if (!got.ok() || !got->acquired ||
          !w.locks.Release(req.name, got->lock->token).ok()) {
        ++errors;
      }
    });
    measure("TaskLife", threads, true, [&](int, int) {
      if (!w.tasks.Create({"job", "", "", 0, 0}).ok()) ++errors;
      absl::StatusOr<std::optional<HandedOutTask>> next =
          w.tasks.Next({}, absl::ZeroDuration(), nullptr);
      if (!next.ok() || !next->has_value() ||
          !w.tasks.Complete((*next)->task.id, (*next)->lock.token, "").ok()) {
        ++errors;
      }
    });
  }
  if (errors > 0) std::printf("%d calls failed\n", errors.load());
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace tasksentinel

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tasksentinel::Main();
}
