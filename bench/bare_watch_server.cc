// The peer bar for bench/watch_bench.cc: a bare gRPC server serving only
// WatchMemory, with a do-nothing callback handler (a stream stays open, writing
// nothing, until the client cancels), gRPC's defaults except the same
// streams-per-connection limit as the sidecar, and the health service (so the
// benchmark can wait for it as it waits for the sidecar). What 2,000 idle
// streams cost here is what gRPC itself costs; the sidecar's extra is ours.
//   bare_watch_server --port=N
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "tasksentinel/v1/sentinel.grpc.pb.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1");
ABSL_FLAG(int, stream_lookahead_bytes, 0,
          "If set: GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, and no BDP probe (an experiment: "
          "does a smaller per-stream window make idle streams cheaper?)");

namespace {

namespace v1 = ::tasksentinel::v1;

class IdleWatch final : public grpc::ServerWriteReactor<v1::WatchMemoryResponse> {
 public:
  void OnCancel() override { Finish(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }
};

class BareService final : public v1::SentinelService::CallbackService {
  grpc::ServerWriteReactor<v1::WatchMemoryResponse> *WatchMemory(
      grpc::CallbackServerContext *, const v1::WatchMemoryRequest *) override {
    return new IdleWatch;
  }
};

}  // namespace

int main(int argc, char **argv) {
  absl::ParseCommandLine(argc, argv);
  grpc::EnableDefaultHealthCheckService(true);
  BareService service;
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             1000);  // as the sidecar
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", absl::GetFlag(FLAGS_port)),
                           grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  server->Wait();
  return 0;
}
