// Issue #11's watch-stream benchmark: a real sidecar (the //service:sentinel binary, embedded
// store, default poll interval) with N idle WatchMemory streams open, measured from /proc: its
// thread count, its CPU use over a 10 s window, and its resident memory. Target: 2,000 idle
// streams under 5 % CPU and a few MB. Run with
//   bazel run -c opt //bench:watch_bench -- [--streams=2000] [--seconds=10]
// The streams are opened with gRPC's async client API over 8 channels (the sidecar allows 1,000
// streams per connection), so the client holds no thread per stream either.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/integration/sidecar_process.h"

ABSL_FLAG(int, streams, 2000, "Idle WatchMemory streams to open");
ABSL_FLAG(int, seconds, 10, "Length of the CPU measurement window");

namespace tasksentinel {
namespace {

namespace v1 = ::tasksentinel::v1;

// utime + stime of `pid`, in clock ticks.
long CpuTicks(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state, right after the name
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return utime + stime;
}

// A "Name:" line of /proc/PID/status, e.g. "Threads" or "VmRSS".
std::string Status(pid_t pid, const std::string& name) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string v = line.substr(name.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "?";
}

int Run() {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const std::string dir = absl::StrCat("/tmp/ts-watch-bench-", getpid());
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  const std::string addr = absl::StrCat("127.0.0.1:", testing::PickFreePort());
  testing::SidecarProcess sidecar({{"WORKER_ID", "bench"},
                                   {"SENTINEL_GRPC_ADDR", addr},
                                   {"SENTINEL_HTTP_ADDR", ""},
                                   {"SENTINEL_DATA_DIR", dir},
                                   {"SENTINEL_MAX_WATCHES", absl::StrCat(streams + 100)},
                                   {"STALE_WORKER_THRESHOLD_MS", "600000"}});
  if (!sidecar.WaitServing(addr, absl::Seconds(20))) {
    std::fprintf(stderr, "the sidecar did not start: %s\n", sidecar.Stderr().c_str());
    return 1;
  }
  const pid_t pid = sidecar.pid();
  std::printf("sidecar idle:     threads %s, RSS %s\n", Status(pid, "Threads").c_str(),
              Status(pid, "VmRSS").c_str());

  constexpr int kChannels = 8;
  std::vector<std::unique_ptr<v1::SentinelService::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // distinct channels, distinct connections
    stubs.push_back(v1::SentinelService::NewStub(
        grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args)));
  }
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientAsyncReader<v1::WatchMemoryResponse>>> readers;
  v1::WatchMemoryRequest req;
  req.set_namespace_("swarm");
  for (int i = 0; i < streams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stubs[i % kChannels]->PrepareAsyncWatchMemory(contexts.back().get(), req,
                                                                    &cq));
    readers.back()->StartCall(reinterpret_cast<void*>(static_cast<intptr_t>(i + 1)));
  }
  int started = 0;
  void* tag = nullptr;
  bool ok = false;
  while (started < streams && cq.Next(&tag, &ok)) {
    if (!ok) {
      std::fprintf(stderr, "stream %ld failed to start\n", reinterpret_cast<intptr_t>(tag));
      return 1;
    }
    ++started;
  }
  absl::SleepFor(absl::Seconds(1));  // settle
  std::printf("%d streams open: threads %s, RSS %s\n", started, Status(pid, "Threads").c_str(),
              Status(pid, "VmRSS").c_str());

  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long before = CpuTicks(pid);
  const absl::Time t0 = absl::Now();
  absl::SleepFor(absl::Seconds(seconds));
  const double cpu_seconds = static_cast<double>(CpuTicks(pid) - before) / ticks_per_second;
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
  std::printf("over %.1f s:       CPU %.2f %% of one core, threads %s, RSS %s\n", wall,
              100.0 * cpu_seconds / wall, Status(pid, "Threads").c_str(),
              Status(pid, "VmRSS").c_str());

  for (auto& ctx : contexts) ctx->TryCancel();
  sidecar.Signal(SIGTERM);
  sidecar.Wait(absl::Seconds(10));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  return 0;
}

}  // namespace
}  // namespace tasksentinel

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return tasksentinel::Run();
}
