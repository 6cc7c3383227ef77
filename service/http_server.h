// The sidecar's HTTP endpoints, for probes and scrapers (docs/observability.md):
//   GET /health           this worker: 200 while its lease is live, else 503 (JSON)
//   GET /cluster/health   the cluster summary: 200 unless unhealthy, then 503 (JSON)
//   GET /metrics          Prometheus text format
// When SENTINEL_API_TOKEN is set, every path but /health answers 401 unless the request carries
// `Authorization: Bearer <token>`. Any other path is 404 and any method but GET (or HEAD) on these paths 405, both with a JSON
// body. Served by cpp-httplib on a thread of its own with a small worker pool.
//
// Thread safety: Start and Stop are called from one thread; requests are served concurrently.
#ifndef TASK_SENTINEL_SERVICE_HTTP_SERVER_H_
#define TASK_SENTINEL_SERVICE_HTTP_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/coordinator.h"
#include "service/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace tasksentinel {

class HttpServer {
 public:
  // `coordinator`, `clock` and `metrics` (none null) must outlive the server.
  HttpServer(Coordinator* coordinator, const Config& config, Clock* clock,
             const Metrics* metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `addr` ("host:port" or "[ipv6]:port"; port 0 picks a free port, see port()) and
  // starts serving. UNAVAILABLE, naming SENTINEL_HTTP_ADDR, when the address cannot be bound;
  // INVALID_ARGUMENT when it is malformed; FAILED_PRECONDITION when already started.
  absl::Status Start(const std::string& addr);

  // The bound TCP port; 0 before Start.
  int port() const { return port_; }

  // Stops serving (requests in flight finish) and joins the serving thread. Idempotent.
  void Stop();

 private:
  // One response: HTTP status, content type and body.
  struct Reply {
    int status = 200;
    std::string content_type;
    std::string body;
  };

  // GET /health.
  Reply Health();
  // GET /cluster/health.
  Reply ClusterHealthReply();
  // GET /metrics.
  Reply MetricsReply();

  Coordinator* coordinator_;
  std::string worker_id_;
  std::string api_token_;  // empty: no token required
  int max_tasks_;
  Clock* clock_;
  const Metrics* metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listening_done_{false};
  absl::Time started_at_ = absl::InfinitePast();
  int port_ = 0;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_HTTP_SERVER_H_
