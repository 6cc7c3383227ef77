// One sidecar's gRPC server and lifecycle (see server.h).
#include "service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/embedded/embedded_coordinator.h"
#include "service/rpc_metrics.h"

namespace tasksentinel {

SentinelServer::SentinelServer(const Config& config, Store* store, Clock* clock)
    : SentinelServer(config, std::make_unique<EmbeddedCoordinator>(config, store, clock), clock) {}

SentinelServer::SentinelServer(const Config& config, std::unique_ptr<Coordinator> coordinator,
                               Clock* clock)
    : config_(config),
      clock_(clock),
      coordinator_(std::move(coordinator)),
      service_(coordinator_.get(), config_, &metrics_) {}

SentinelServer::~SentinelServer() { Shutdown(absl::ZeroDuration()).IgnoreError(); }

absl::Status SentinelServer::Start() {
  absl::StatusOr<WorkerRecord> me = coordinator_->Register();
  if (!me.ok()) {
    return absl::Status(me.status().code(),
                        absl::StrCat("registering worker ", config_.worker_id, ": ",
                                     me.status().message()));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // One address, one sidecar: without SO_REUSEPORT a second sidecar on a used address fails to
  // bind instead of sharing the port (and its calls) with the first.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(config_.grpc_addr, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
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
    coordinator_->Interrupt();  // blocked NextTask/AcquireLock/WatchMemory return now
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  }
  if (!deregister_on_shutdown_) return absl::OkStatus();
  absl::StatusOr<int> released = coordinator_->Deregister();
  return released.status();
}

}  // namespace tasksentinel
