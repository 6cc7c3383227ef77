// RPC metrics: a gRPC server interceptor that records every tasksentinel.v1.SentinelService call's
// method, status code and duration in Metrics (tasksentinel_rpc_total,
// tasksentinel_rpc_duration_seconds), so the service itself stays unaware of them. Calls to
// other services on the same server (health checks, reflection) are not recorded.
//
// Each method's series are looked up once (RpcSeries, made for every method of the service when
// the factory is made), so that a call costs one interceptor and no label set.
//
// Thread safety: the factory is safe for concurrent use (gRPC creates one interceptor per call);
// each interceptor belongs to its call.
#ifndef TASK_SENTINEL_SERVICE_RPC_METRICS_H_
#define TASK_SENTINEL_SERVICE_RPC_METRICS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "service/metrics.h"

namespace tasksentinel {

// The canonical name of a gRPC status code, e.g. "OK", "INVALID_ARGUMENT"; "UNKNOWN" for a
// number outside the canonical set.
absl::string_view StatusCodeName(grpc::StatusCode code);

// Creates the interceptor that times one Sentinel call and records it at PRE_SEND_STATUS.
class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` must outlive the server.
  explicit RpcMetricsInterceptorFactory(Metrics* metrics);

  // An interceptor for a Sentinel call; nullptr (no interception) for any other service.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Metrics* metrics_;
  // By full method path ("/tasksentinel.v1.SentinelService/AcquireLock"); filled by the
  // constructor, read-only afterwards.
  absl::flat_hash_map<std::string, std::unique_ptr<RpcSeries>> series_;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_RPC_METRICS_H_
