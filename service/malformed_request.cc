// Requests that do not parse (see malformed_request.h).
#include "service/malformed_request.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "service/error_details.h"

namespace tasksentinel {
namespace {

class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      malformed_ = true;  // the server could not deserialize the request
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        malformed_) {
      const grpc::Status status = methods->GetSendStatus();
      if (status.error_code() == grpc::StatusCode::INTERNAL) {
        methods->ModifySendStatus(
            ToGrpcWithDetails(absl::InvalidArgumentError(kMalformedRequestMessage)));
      }
    }
    methods->Proceed();
  }

 private:
  bool malformed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* MalformedRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const absl::string_view method = info->method() == nullptr ? "" : info->method();
  if (!absl::StartsWith(method, "/tasksentinel.v1.SentinelService/")) return nullptr;
  return new MalformedRequestInterceptor();
}

}  // namespace tasksentinel
