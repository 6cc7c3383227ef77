// The ceiling of bench/run.sh's matrix: a bare gRPC server whose one unary method answers with
// the request's payload, built like the sidecar (-c opt, the same gRPC), with the health
// service (so the benchmark waits for it as it waits for the sidecar) and nothing else: what a
// call costs here is what gRPC itself costs.
//   echo_server --port=N [--mode=callback|sync] [--min_pollers=N --max_pollers=N --cqs=N]
// --mode=sync serves the method on gRPC's sync server (the sidecar's model), with the poller
// settings given (0: gRPC's default), so that the two threading models can be compared on the
// same machine (bench/README.md, Server settings).
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "echo.grpc.pb.h"

ABSL_FLAG(int, port, 0, "TCP port on 127.0.0.1");
ABSL_FLAG(std::string, mode, "callback", "callback (gRPC's callback API) or sync");
ABSL_FLAG(int, min_pollers, 0, "--mode=sync: ServerBuilder::SyncServerOption::MIN_POLLERS");
ABSL_FLAG(int, max_pollers, 0, "--mode=sync: ServerBuilder::SyncServerOption::MAX_POLLERS");
ABSL_FLAG(int, cqs, 0, "--mode=sync: ServerBuilder::SyncServerOption::NUM_CQS");

namespace {

namespace bench = ::tasksentinel::bench;

// Echo on the callback API: the handler runs on gRPC's own threads and finishes at once.
class CallbackEcho final : public bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const bench::EchoRequest* request,
                                 bench::EchoResponse* response) override {
    response->set_payload(request->payload());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Echo on the sync server: each call runs on one of the server's threads.
class SyncEcho final : public bench::Echo::Service {
  grpc::Status Echo(grpc::ServerContext*, const bench::EchoRequest* request,
                    bench::EchoResponse* response) override {
    response->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "callback" && mode != "sync") {
    std::fprintf(stderr, "--mode must be callback or sync\n");
    return 2;
  }
  grpc::EnableDefaultHealthCheckService(true);
  CallbackEcho callback_service;
  SyncEcho sync_service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", absl::GetFlag(FLAGS_port)),
                           grpc::InsecureServerCredentials());
  if (mode == "callback") {
    builder.RegisterService(&callback_service);
  } else {
    builder.RegisterService(&sync_service);
    using Option = grpc::ServerBuilder::SyncServerOption;
    if (absl::GetFlag(FLAGS_min_pollers) > 0) {
      builder.SetSyncServerOption(Option::MIN_POLLERS, absl::GetFlag(FLAGS_min_pollers));
    }
    if (absl::GetFlag(FLAGS_max_pollers) > 0) {
      builder.SetSyncServerOption(Option::MAX_POLLERS, absl::GetFlag(FLAGS_max_pollers));
    }
    if (absl::GetFlag(FLAGS_cqs) > 0) {
      builder.SetSyncServerOption(Option::NUM_CQS, absl::GetFlag(FLAGS_cqs));
    }
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  server->Wait();
  return 0;
}
