// Issue #11's watch-stream benchmark: a real sidecar (the //service:sentinel
// binary, embedded store, default poll interval) with N idle WatchMemory
// streams open, measured from /proc: its thread count, its CPU use over a 10 s
// window, and its resident memory. Target: 2,000 idle streams under 5 % CPU and
// a few MB. Run with
//   bazel run -c opt //bench:watch_bench -- [--streams=2000] [--seconds=10]
// The streams are opened with gRPC's async client API over 8 channels (the
// sidecar allows 1,000 streams per connection), so the client holds no thread
// per stream either.
//
// The same streams are then opened against bench/bare_watch_server.cc, a bare
// gRPC server with a do-nothing WatchMemory handler (the peer bar): what they
// add to its memory is gRPC's own per-stream cost; the difference is ours. Both
// figures and their ratio are printed last.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"
#include "tests/integration/sidecar_process.h"

ABSL_FLAG(int, streams, 2000, "Idle WatchMemory streams to open");
ABSL_FLAG(int, seconds, 10, "Length of the CPU measurement window");
ABSL_FLAG(std::string, attach, "",
          "Instead of starting the sidecar and the bare server: measure the "
          "server already "
          "listening on this address (e.g. run under heaptrack), whose pid is "
          "--attach_pid");
ABSL_FLAG(int, attach_pid, 0, "With --attach: the server's process id");
ABSL_FLAG(int, bare_stream_lookahead_bytes, 0,
          "Passed to bare_watch_server as --stream_lookahead_bytes (0: gRPC's default)");

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
std::string Status(pid_t pid, const std::string &name) {
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

// A child process running `argv` (stderr to /dev/null), killed by the
// destructor.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char *> args;
      for (std::string &a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

// Waits until `addr` answers grpc.health.v1 with SERVING.
bool WaitServing(const std::string &addr, absl::Duration timeout) {
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    if (health->Check(&ctx, req, &resp).ok() &&
        resp.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

long RssKb(pid_t pid) { return std::atol(Status(pid, "VmRSS").c_str()); }

struct Result {
  long rss_before_kb = 0;
  long rss_after_kb = 0;
  double cpu_percent = 0;
};

// Opens `streams` idle WatchMemory streams to `addr` (served by process `pid`),
// measures, and closes them.
std::optional<Result> Measure(const char *name, pid_t pid, const std::string &addr, int streams,
                              int seconds) {
  Result r;
  absl::SleepFor(absl::Seconds(1));  // settle after start-up
  r.rss_before_kb = RssKb(pid);
  std::printf("%s idle: threads %s, RSS %ld kB\n", name, Status(pid, "Threads").c_str(),
              r.rss_before_kb);

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
    readers.push_back(
        stubs[i % kChannels]->PrepareAsyncWatchMemory(contexts.back().get(), req, &cq));
    readers.back()->StartCall(reinterpret_cast<void *>(static_cast<intptr_t>(i + 1)));
  }
  int started = 0;
  void *tag = nullptr;
  bool ok = false;
  while (started < streams && cq.Next(&tag, &ok)) {
    if (!ok) {
      std::fprintf(stderr, "stream %ld failed to start\n", reinterpret_cast<intptr_t>(tag));
      return std::nullopt;
    }
    ++started;
  }
  absl::SleepFor(absl::Seconds(1));  // settle
  std::printf("%s, %d streams open: threads %s, RSS %s\n", name, started,
              Status(pid, "Threads").c_str(), Status(pid, "VmRSS").c_str());

  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long before = CpuTicks(pid);
  const absl::Time t0 = absl::Now();
  absl::SleepFor(absl::Seconds(seconds));
  const double cpu_seconds = static_cast<double>(CpuTicks(pid) - before) / ticks_per_second;
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
  r.cpu_percent = 100.0 * cpu_seconds / wall;
  r.rss_after_kb = RssKb(pid);
  std::printf("%s, over %.1f s: CPU %.2f %% of one core, threads %s, RSS %ld kB\n", name, wall,
              r.cpu_percent, Status(pid, "Threads").c_str(), r.rss_after_kb);

  for (auto &ctx : contexts) ctx->TryCancel();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return r;
}

int Run() {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  if (!absl::GetFlag(FLAGS_attach).empty()) {  // a server started by hand (e.g. under heaptrack)
    return Measure("attached", absl::GetFlag(FLAGS_attach_pid), absl::GetFlag(FLAGS_attach),
                   streams, seconds)
               ? 0
               : 1;
  }
  std::optional<Result> ours, bare;
  {
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
    ours = Measure("sidecar", sidecar.pid(), addr, streams, seconds);
    sidecar.Signal(SIGTERM);
    sidecar.Wait(absl::Seconds(10));
    std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  }
  {
    const int port = testing::PickFreePort();
    const std::string addr = absl::StrCat("127.0.0.1:", port);
    Child server({"bench/bare_watch_server", absl::StrCat("--port=", port),
                  absl::StrCat("--stream_lookahead_bytes=",
                               absl::GetFlag(FLAGS_bare_stream_lookahead_bytes))});
    if (!WaitServing(addr, absl::Seconds(20))) {
      std::fprintf(stderr, "the bare gRPC server did not start\n");
      return 1;
    }
    bare = Measure("bare gRPC", server.pid(), addr, streams, seconds);
  }
  if (!ours || !bare) return 1;
  const double ours_mb = (ours->rss_after_kb - ours->rss_before_kb) / 1024.0;
  const double bare_mb = (bare->rss_after_kb - bare->rss_before_kb) / 1024.0;
  std::printf(
      "\n%d idle streams add: sidecar %.1f MB (%.1f KB each), bare gRPC %.1f "
      "MB (%.1f KB each); "
      "ratio %.2f\nCPU: sidecar %.2f %%, bare gRPC %.2f %% of one core\n",
      streams, ours_mb, ours_mb * 1024 / streams, bare_mb, bare_mb * 1024 / streams,
      bare_mb > 0 ? ours_mb / bare_mb : 0.0, ours->cpu_percent, bare->cpu_percent);
  return 0;
}

}  // namespace
}  // namespace tasksentinel

int main(int argc, char **argv) {
  absl::ParseCommandLine(argc, argv);
  return tasksentinel::Run();
}
