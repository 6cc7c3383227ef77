// One sidecar: the worker's registration, the gRPC server with the Sentinel service, the
// standard grpc.health.v1 service and server reflection, the HTTP health and metrics endpoints
// (http_server.h), and the orderly shutdown (stop HTTP, stop taking calls, wake blocked ones,
// release the worker's locks, mark it gone).
//
// Thread safety: Start and Shutdown are called from one thread; RPCs run concurrently.
#ifndef TASK_SENTINEL_SERVICE_SERVER_H_
#define TASK_SENTINEL_SERVICE_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/coordinator.h"
#include "core/watch_hub.h"
#include "core/embedded/store.h"
#include "service/http_server.h"
#include "service/metrics.h"
#include "service/sentinel_service.h"

namespace tasksentinel {

// The gRPC server's limits (docs/configuration.md, Limits).
// The largest request accepted: a Heartbeat may list 10,000 active task ids of up to 128
// characters; everything else is far smaller. Larger requests get RESOURCE_EXHAUSTED.
inline constexpr int kMaxRequestBytes = 2 << 20;
// Concurrent streams (calls) on one client connection.
inline constexpr int kMaxStreamsPerConnection = 1000;
// Threads of the sync server (every RPC but WatchMemory runs on one while it runs); calls
// beyond get RESOURCE_EXHAUSTED.
inline constexpr int kMaxServerThreads = 512;
// The sync server's pollers: threads waiting for the next call. gRPC starts a thread when fewer
// than the minimum wait, and ends a thread that finishes a call while more than the maximum
// wait. gRPC's default maximum (2) made a thread per 3 to 7 calls under 8 or 64 concurrent
// callers; 64 keeps the threads a burst needed, at the cost of idle (mostly unmapped) stacks,
// and made 0.005 to 0.01 threads per read (bench/README.md, Server settings).
inline constexpr int kSyncMinPollers = 1;
inline constexpr int kSyncMaxPollers = 64;

class SentinelServer {
 public:
  // A sidecar on the embedded store. `store` and `clock` must outlive the server.
  SentinelServer(const Config& config, Store* store, Clock* clock);
  // A sidecar on any coordinator (e.g. GitHub). `clock` must outlive the server.
  SentinelServer(const Config& config, std::unique_ptr<Coordinator> coordinator, Clock* clock);
  ~SentinelServer();

  // Registers the worker and starts serving on config.grpc_addr (a TCP port of 0 picks a free
  // port: see port()), then HTTP on config.http_addr unless it is empty (likewise: see
  // http_port()). The gRPC port is bound without SO_REUSEPORT, so an address another process
  // listens on is refused. UNAVAILABLE, naming the address, when either address cannot be
  // bound; the gRPC server is then stopped again and Shutdown leaves the worker's registration
  // as it is (another sidecar on that address may be serving the same worker).
  absl::Status Start();

  // The bound TCP port (0 for a unix socket).
  int port() const { return port_; }
  // Adds metrics to /metrics (Metrics::AddSource); call before Start.
  void AddMetricsSource(std::function<std::vector<BackendMetric>()> source) {
    metrics_.AddSource(std::move(source));
  }

  // The bound HTTP port (0 when HTTP is disabled or not started).
  int http_port() const { return http_ != nullptr ? http_->port() : 0; }

  // A channel to this server (over its real listening address).
  std::shared_ptr<grpc::Channel> NewChannel() const;

  // Stops the HTTP endpoints, stops taking calls, gives running ones up to `grace` to finish
  // (blocked waits are woken at once), releases the worker's locks and marks it gone.
  // Idempotent.
  absl::Status Shutdown(absl::Duration grace = absl::Seconds(2));

 private:
  Config config_;
  Clock* clock_;
  std::unique_ptr<Coordinator> coordinator_;
  Metrics metrics_;
  std::unique_ptr<WatchHub> watches_;  // WatchMemory's feeds
  SentinelService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  int port_ = 0;
  bool shut_down_ = false;
  // False once Start failed to bind: Shutdown then does not deregister the worker.
  bool deregister_on_shutdown_ = true;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_SERVER_H_
