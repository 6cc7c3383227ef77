// gRPC's own log lines (gpr_log) in the sidecar's JSON log: without this, gRPC prints free-form
// lines on stderr, so a failed start-up (an address in use) would say more than its one line.
//
// Thread safety: safe for concurrent use.
#ifndef TASK_SENTINEL_SERVICE_GRPC_LOG_H_
#define TASK_SENTINEL_SERVICE_GRPC_LOG_H_

namespace tasksentinel {

// Routes gRPC's log lines (errors, at gRPC's default verbosity) to Logger::Global() as JSON
// lines of component "grpc", each message cut to a few hundred characters. Call once, early.
void RouteGrpcLogs();

// While held, gRPC's log lines are dropped: start-up reports its own failure in one line.
void HoldGrpcLogs(bool hold);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_GRPC_LOG_H_
