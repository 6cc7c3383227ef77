// One sidecar's gRPC server and lifecycle (see server.h).
#include "service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tasksentinel {

SentinelServer::SentinelServer(const Config& config, Store* store, Clock* clock)
    : config_(config),
      ctx_{store, clock, &notifier_, &config_, &held_},
      leases_(ctx_),
      service_(ctx_) {}

SentinelServer::~SentinelServer() { Shutdown(absl::ZeroDuration()).IgnoreError(); }

absl::Status SentinelServer::Start() {
  absl::StatusOr<WorkerRecord> me = leases_.Register();
  if (!me.ok()) {
    return absl::Status(me.status().code(),
                        absl::StrCat("registering worker ", config_.worker_id, ": ",
                                     me.status().message()));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.grpc_addr, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on SENTINEL_GRPC_ADDR ", config_.grpc_addr));
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
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
    notifier_.Shutdown();  // blocked NextTask/AcquireLock/WatchMemory return now
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  }
  absl::StatusOr<int> released = leases_.Deregister();
  return released.status();
}

}  // namespace tasksentinel
