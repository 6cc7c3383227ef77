// Requests that do not parse: the sync server answers a request it cannot decode (most often a
// proto3 string field holding invalid UTF-8) with INTERNAL and an empty message, before any
// handler runs. This interceptor notices that no request message arrived and turns the status
// into INVALID_ARGUMENT with a message saying why.
//
// Thread safety: one interceptor per call, as gRPC creates them.
#ifndef TASK_SENTINEL_SERVICE_MALFORMED_REQUEST_H_
#define TASK_SENTINEL_SERVICE_MALFORMED_REQUEST_H_

#include <grpcpp/support/server_interceptor.h>

namespace tasksentinel {

// The message the client gets for a request that did not parse.
inline constexpr char kMalformedRequestMessage[] =
    "the request could not be decoded: string fields (ids, keys, namespaces, titles, ...) must "
    "be valid UTF-8, and the message must match tasksentinel.v1";

class MalformedRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // An interceptor for calls of the Sentinel service; none for other services.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_MALFORMED_REQUEST_H_
