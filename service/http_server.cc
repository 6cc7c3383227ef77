// The sidecar's HTTP endpoints (see http_server.h).
#include "service/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/auth.h"

namespace tasksentinel {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4";

// Serving threads: probes and scrapes are light.
constexpr size_t kWorkerThreads = 4;

// Splits "host:port" or "[ipv6]:port".
absl::Status SplitHostPort(const std::string& addr, std::string* host, int* port) {
  std::string port_text;
  if (!addr.empty() && addr[0] == '[') {
    const size_t close = addr.find(']');
    if (close == std::string::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("SENTINEL_HTTP_ADDR \"", addr, "\": must be host:port or [ipv6]:port"));
    }
    *host = addr.substr(1, close - 1);
    port_text = addr.substr(close + 2);
  } else {
    const size_t colon = addr.rfind(':');
    if (colon == std::string::npos || addr.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("SENTINEL_HTTP_ADDR \"", addr, "\": must be host:port or [ipv6]:port"));
    }
    *host = addr.substr(0, colon);
    port_text = addr.substr(colon + 1);
  }
  if (host->empty() || !absl::SimpleAtoi(port_text, port) || *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("SENTINEL_HTTP_ADDR \"", addr, "\": must be host:port with port 0..65535"));
  }
  return absl::OkStatus();
}

// RFC 3339 in UTC with milliseconds, as in the logs.
std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// JSON text; invalid UTF-8 (e.g. in a store error) is replaced rather than thrown on.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonError(const std::string& message) {
  return Dump(nlohmann::json{{"error", message}});
}

const char* StatusName(ClusterStatus s) {
  switch (s) {
    case ClusterStatus::kHealthy: return "healthy";
    case ClusterStatus::kDegraded: return "degraded";
    case ClusterStatus::kUnhealthy: return "unhealthy";
  }
  return "unhealthy";
}

bool KnownPath(const std::string& path) {
  return path == "/health" || path == "/cluster/health" || path == "/metrics";
}

}  // namespace

HttpServer::HttpServer(Coordinator* coordinator, const Config& config, Clock* clock,
                       const Metrics* metrics)
    : coordinator_(coordinator),
      worker_id_(config.worker_id),
      api_token_(config.api_token),
      max_tasks_(config.max_tasks),
      clock_(clock),
      metrics_(metrics) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& addr) {
  if (server_ != nullptr) return absl::FailedPreconditionError("HTTP server already started");
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(addr, &host, &port); !s.ok()) return s;

  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // Only SO_REUSEADDR: httplib's default also sets SO_REUSEPORT, which would let a second
  // sidecar silently share this port instead of failing to start.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Short timeouts keep Stop prompt when a client idles on a connection.
  server->set_keep_alive_timeout(1);
  server->set_read_timeout(std::chrono::seconds(2));
  server->set_write_timeout(std::chrono::seconds(2));

  server->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!KnownPath(req.path)) {
      res.status = 404;
      // A short prefix of the path only: errors never echo a whole input.
      const std::string shown =
          req.path.size() > 64 ? absl::StrCat(req.path.substr(0, 64), "...") : req.path;
      res.set_content(JsonError(absl::StrCat("no such endpoint: ", shown)), kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    // /health stays open for probes; the rest shows the cluster and needs the token, if any.
    if (req.path != "/health" &&
        !BearerMatches(api_token_, req.get_header_value("Authorization"))) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(JsonError(absl::StrCat(req.path,
                                             " needs \"Authorization: Bearer "
                                             "<SENTINEL_API_TOKEN>\"; it was missing or did not "
                                             "match")),
                      kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content(JsonError(absl::StrCat("method ", req.method, " not allowed on ", req.path,
                                             "; use GET")),
                      kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto route = [this](Reply (HttpServer::*serve)()) {
    return [this, serve](const httplib::Request&, httplib::Response& res) {
      Reply reply = (this->*serve)();
      res.status = reply.status;
      res.set_content(std::move(reply.body), reply.content_type.c_str());
    };
  };
  server->Get("/health", route(&HttpServer::Health));
  server->Get("/cluster/health", route(&HttpServer::ClusterHealthReply));
  server->Get("/metrics", route(&HttpServer::MetricsReply));

  int bound = -1;
  if (port == 0) {
    bound = server->bind_to_any_port(host);
  } else if (server->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on SENTINEL_HTTP_ADDR ", addr,
                     " (address in use or not local; set SENTINEL_HTTP_ADDR to a free "
                     "host:port, or empty to disable HTTP)"));
  }
  port_ = bound;
  started_at_ = clock_->Now();
  server_ = std::move(server);
  listening_done_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listening_done_ = true;
  });
  // Stop() only takes effect once the loop runs, so return when it does.
  while (!server_->is_running() && !listening_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

HttpServer::Reply HttpServer::Health() {
  const std::string& me = worker_id_;
  nlohmann::json j{{"worker_id", me},
                   {"uptime_seconds",
                    std::max<int64_t>(0, absl::ToInt64Seconds(clock_->Now() - started_at_))}};
  absl::StatusOr<std::vector<WorkerInfo>> workers = coordinator_->Workers(/*include_gone=*/true);
  if (!workers.ok()) {
    j["status"] = "unhealthy";
    j["error"] = std::string(workers.status().message());
    return {503, kJson, Dump(j)};
  }
  std::optional<WorkerInfo> mine;
  for (WorkerInfo& w : *workers) {
    if (w.record.id == me) mine = std::move(w);
  }
  const bool live = mine.has_value() && mine->status == WorkerStatus::kActive;
  j["status"] = live ? "healthy" : "unhealthy";
  if (mine.has_value()) {
    const uint32_t max = mine->record.max_tasks;
    j["active_tasks"] = mine->active_tasks;
    j["capacity"] = {{"max", max},
                     {"available", max > mine->active_tasks ? max - mine->active_tasks : 0}};
    j["last_heartbeat"] = Rfc3339(mine->record.last_heartbeat);
    j["lease_expires_at"] = Rfc3339(mine->record.lease_expires_at);
  } else {  // not registered (yet, or any more)
    j["active_tasks"] = 0;
    j["capacity"] = {{"max", max_tasks_}, {"available", 0}};
    j["last_heartbeat"] = nullptr;
    j["lease_expires_at"] = nullptr;
  }
  if (std::vector<std::string> notices = coordinator_->Notices(); !notices.empty()) {
    j["notices"] = notices;
  }
  return {live ? 200 : 503, kJson, Dump(j)};
}

HttpServer::Reply HttpServer::ClusterHealthReply() {
  absl::StatusOr<ClusterHealth> h = coordinator_->Health();
  if (!h.ok()) {
    return {503, kJson,
            Dump({{"status", "unhealthy"}, {"error", std::string(h.status().message())}})};
  }
  nlohmann::json j{{"status", StatusName(h->status)},
                   {"total_workers", h->total_workers},
                   {"healthy_workers", h->healthy_workers},
                   {"stale_workers", h->stale_workers},
                   {"total_capacity", h->total_capacity},
                   {"utilized_capacity", h->used_capacity},
                   {"tasks_queued", h->tasks.queued},
                   {"tasks_in_progress", h->tasks.in_progress},
                   {"tasks_done", h->tasks.done},
                   {"tasks_failed", h->tasks.dead_letter}};
  return {h->status == ClusterStatus::kUnhealthy ? 503 : 200, kJson, Dump(j)};
}

HttpServer::Reply HttpServer::MetricsReply() {
  absl::StatusOr<uint32_t> named = coordinator_->CountNamedLocks();
  return {200, kPrometheusText,
          metrics_->Render(coordinator_->Health(), coordinator_->BackendMetrics(),
                           named.ok() ? std::optional<uint32_t>(*named) : std::nullopt)};
}

}  // namespace tasksentinel
