// One sidecar's gRPC server and lifecycle (see server.h).
#include "service/server.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/embedded/embedded_coordinator.h"
#include "service/log.h"
#include "service/malformed_request.h"
#include "service/rpc_metrics.h"

namespace tasksentinel {
namespace {

// The contents of the PEM file `path`, named by `setting` in errors.
absl::StatusOr<std::string> ReadPem(const std::string& path, const char* setting) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::FailedPreconditionError(
        absl::StrCat(setting, " ", path, ": cannot open it (missing or not readable)"));
  }
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(setting, " ", path, ": not a PEM file"));
  }
  return pem;
}

// The gRPC server's credentials: TLS (mutual when a client CA is set) or none.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Config& config) {
  if (config.tls_cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPem(config.tls_cert, "SENTINEL_TLS_CERT");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(config.tls_key, "SENTINEL_TLS_KEY");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!config.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(config.tls_client_ca, "SENTINEL_TLS_CLIENT_CA");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace

SentinelServer::SentinelServer(const Config& config, Store* store, Clock* clock)
    : SentinelServer(config, std::make_unique<EmbeddedCoordinator>(config, store, clock), clock) {}

SentinelServer::SentinelServer(const Config& config, std::unique_ptr<Coordinator> coordinator,
                               Clock* clock)
    : config_(config),
      clock_(clock),
      coordinator_(std::move(coordinator)),
      watches_(std::make_unique<WatchHub>(
          coordinator_.get(),
          WatchHub::Options{config_.github_owner.empty() ? config_.poll_interval
                                                         : config_.github_poll_interval,
                            config_.max_watches, config_.namespaces})),
      service_(coordinator_.get(), watches_.get(), config_, &metrics_) {}

SentinelServer::~SentinelServer() { Shutdown(absl::ZeroDuration()).IgnoreError(); }

absl::Status SentinelServer::Start() {
  absl::StatusOr<WorkerRecord> me = coordinator_->Register();
  if (!me.ok()) {
    return absl::Status(me.status().code(),
                        absl::StrCat("registering worker ", config_.worker_id, ": ",
                                     me.status().message()));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials(config_);
  if (!credentials.ok()) {
    deregister_on_shutdown_ = false;
    return credentials.status();
  }
  grpc::EnableDefaultHealthCheckService(true);
  // Reflection answers without a token, so it is served only when no token is required.
  if (config_.api_token.empty()) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // One address, one sidecar: without SO_REUSEPORT a second sidecar on a used address fails to
  // bind instead of sharing the port (and its calls) with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  grpc::ResourceQuota quota("sentinel");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  // Idle threads kept polling for calls: up to kSyncMaxPollers instead of gRPC's 2, so that a
  // burst of concurrent calls does not create and end a thread per call (bench/README.md).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS,
                              kSyncMinPollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              kSyncMaxPollers);
  builder.AddListeningPort(config_.grpc_addr, *credentials, &port_);
  builder.RegisterService(&service_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<MalformedRequestInterceptorFactory>());
  creators.push_back(std::make_unique<RpcMetricsInterceptorFactory>(&metrics_));
  builder.experimental().SetInterceptorCreators(std::move(creators));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    // Another sidecar may serve this worker on that address: leave its registration alone.
    deregister_on_shutdown_ = false;
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on SENTINEL_GRPC_ADDR ", config_.grpc_addr,
        " (address in use, by another sidecar or process, or not a local address)"));
  }
  if (absl::StartsWith(config_.grpc_addr, "unix:")) {
    // The socket's mode decides which local users may call; applied right after bind.
    std::string path = config_.grpc_addr.substr(5);
    if (absl::StartsWith(path, "//")) path = path.substr(2);  // unix:///abs/path
    if (chmod(path.c_str(), static_cast<mode_t>(config_.grpc_socket_mode)) != 0) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_.reset();
      deregister_on_shutdown_ = false;
      return absl::UnavailableError(absl::StrCat("cannot set SENTINEL_GRPC_SOCKET_MODE on ", path,
                                                 ": ", std::strerror(errno)));
    }
  }
  if (!config_.http_addr.empty()) {
    auto http = std::make_unique<HttpServer>(coordinator_.get(), config_, clock_, &metrics_);
    if (absl::Status s = http->Start(config_.http_addr); !s.ok()) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_.reset();
      deregister_on_shutdown_ = false;
      return s;
    }
    http_ = std::move(http);
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  // Logged once serving: a start that fails says so in one line of its own (main.cc).
  Logger::Global().Log(LogLevel::kInfo, "workers", "worker_registered",
                       {"", "registered", std::nullopt,
                        {{"hostname", me->hostname},
                         {"lease_epoch", absl::StrCat(me->epoch)}}});
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> SentinelServer::NewChannel() const {
  std::string target = config_.grpc_addr;
  if (!absl::StartsWith(target, "unix:")) {
    target = absl::StrCat(target.substr(0, target.rfind(':')), ":", port_);
  }
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

absl::Status SentinelServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return absl::OkStatus();
  shut_down_ = true;
  if (http_ != nullptr) http_->Stop();  // probes see the sidecar gone before calls are refused
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    coordinator_->Interrupt();  // blocked NextTask/AcquireLock return now
    watches_->Stop();           // WatchMemory streams end (OK)
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  }
  if (!deregister_on_shutdown_) return absl::OkStatus();
  absl::StatusOr<int> released = coordinator_->Deregister();
  if (released.ok()) {
    Logger::Global().Log(LogLevel::kInfo, "workers", "worker_gone",
                         {"", "deregistered", std::nullopt,
                          {{"locks_released", absl::StrCat(*released)}}});
  }
  return released.status();
}

}  // namespace tasksentinel
