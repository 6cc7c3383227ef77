// Benchmark of GetMemory on the GitHub backend: a read between two changes is answered from the
// merged-view cache (MEMORY_CACHE_SIZE) instead of merging every comment of the coordination
// issue again. Run with
//   bazel run -c opt //bench:github_memory_bench
// Arguments: the namespace's entries, and whether they fit the cache (1) or not (0: the cache
// is set smaller than the namespace, so every read merges afresh, as before the cache).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/config.h"
#include "core/github/github_coordinator.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_github_api.h"

namespace tasksentinel {
namespace {

Config BenchConfig(const std::string& worker, int cache_size) {
  Config c;
  c.worker_id = worker;
  c.github_owner = "octo";
  c.github_repo = "sentinel";
  c.github_claim_settle = absl::Milliseconds(1);
  c.memory_cache_size = cache_size;
  return c;
}

void BM_GitHubGetMemory(benchmark::State& state) {
  const int entries = static_cast<int>(state.range(0));
  const bool fits = state.range(1) != 0;
  FakeClock clock;
  FakeGitHubApi api(&clock);
  GitHubCoordinator::Options options;
  GitHubCoordinator writer(BenchConfig("writer", 1000000), &api, &clock, options);
  GitHubCoordinator reader(BenchConfig("reader", fits ? entries : entries / 2), &api, &clock,
                           options);
  if (!writer.Register().ok() || !reader.Register().ok()) {
    state.SkipWithError("register failed");
    return;
  }
  for (int i = 0; i < entries; ++i) {
    SetRequest r;
    r.ns = "swarm";
    r.key = absl::StrCat("key-", i);
    r.value = absl::StrCat("value-", i);
    if (!writer.SetMemory(r).ok()) {
      state.SkipWithError("set failed");
      return;
    }
  }
  (void)writer.Deregister();  // flushes the entries into the writer's comment(s)
  clock.Advance(absl::Seconds(10));
  int i = 0;
  for (auto _ : state) {
    absl::StatusOr<MemoryEntry> got =
        reader.GetMemory("swarm", absl::StrCat("key-", i++ % entries));
    if (!got.ok()) {
      state.SkipWithError(std::string(got.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(got);
  }
}
BENCHMARK(BM_GitHubGetMemory)
    ->Args({100, 0})
    ->Args({100, 1})
    ->Args({1000, 0})
    ->Args({1000, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tasksentinel

BENCHMARK_MAIN();
