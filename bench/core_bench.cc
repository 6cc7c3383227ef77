// Benchmarks of the local RPC path's core on the durable store: lock acquire/release, memory
// writes, and NextTask as the task history grows. Run with
//   bazel run -c opt //bench:core_bench
// (on a real disk: every commit is fsynced).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/embedded/memory_store.h"
#include "core/embedded/sqlite_store.h"
#include "tests/testing/core_harness.h"

namespace tasksentinel {
namespace {

std::unique_ptr<Store> OpenStore(bool durable) {
  if (!durable) return std::make_unique<MemoryStore>();
  const std::string dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                       "/ts-bench-", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return *SqliteStore::Open(dir + "/sentinel.db");
}

void BM_AcquireRelease(benchmark::State& state) {
  std::unique_ptr<Store> store = OpenStore(state.range(0) != 0);
  RealClock clock;
  WorkerHarness w(TestConfig("bench"), store.get(), &clock);
  w.leases.Register().IgnoreError();
  AcquireRequest req;
  req.name = "res";
  for (auto _ : state) {
    absl::StatusOr<AcquireAttempt> got = w.locks.Acquire(req);
    w.locks.Release("res", got->lock->token).IgnoreError();
  }
  state.SetLabel(state.range(0) ? "sqlite" : "memory");
}
BENCHMARK(BM_AcquireRelease)->Arg(0)->Arg(1);

void BM_SetMemory(benchmark::State& state) {
  std::unique_ptr<Store> store = OpenStore(state.range(0) != 0);
  RealClock clock;
  WorkerHarness w(TestConfig("bench"), store.get(), &clock);
  w.leases.Register().IgnoreError();
  SetRequest req{"swarm", "key", std::string(1024, 'v'), std::nullopt, absl::ZeroDuration(),
                 std::nullopt};
  for (auto _ : state) benchmark::DoNotOptimize(w.memory.Set(req));
  state.SetLabel(state.range(0) ? "sqlite" : "memory");
}
BENCHMARK(BM_SetMemory)->Arg(0)->Arg(1);

// NextTask + CompleteTask with `range(0)` finished tasks already in the history.
void BM_NextCompleteWithHistory(benchmark::State& state) {
  std::unique_ptr<Store> store = OpenStore(true);
  RealClock clock;
  Config config = TestConfig("bench");
  config.max_tasks = 1000;
  WorkerHarness w(config, store.get(), &clock);
  w.leases.Register().IgnoreError();
  for (int64_t i = 0; i < state.range(0); ++i) {
    w.tasks.Create({"old", "", "", 0, 0}).IgnoreError();
    absl::StatusOr<std::optional<HandedOutTask>> t =
        w.tasks.Next({}, absl::ZeroDuration(), nullptr);
    w.tasks.Complete((*t)->task.id, (*t)->lock.token, "").IgnoreError();
  }
  for (auto _ : state) {
    state.PauseTiming();
    w.tasks.Create({"new", "", "", 0, 0}).IgnoreError();
    state.ResumeTiming();
    absl::StatusOr<std::optional<HandedOutTask>> t =
        w.tasks.Next({}, absl::ZeroDuration(), nullptr);
    w.tasks.Complete((*t)->task.id, (*t)->lock.token, "").IgnoreError();
  }
}
BENCHMARK(BM_NextCompleteWithHistory)->Arg(0)->Arg(1000)->Arg(10000)->Iterations(50)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tasksentinel

BENCHMARK_MAIN();
