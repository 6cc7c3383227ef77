// gRPC's log lines in the JSON log (see grpc_log.h).
#include "service/grpc_log.h"

#include <atomic>
#include <string>

#include <grpc/support/log.h>

#include "service/log.h"

namespace tasksentinel {
namespace {

std::atomic<bool> held{false};

constexpr size_t kMaxMessage = 300;

void Sink(gpr_log_func_args* args) {
  if (held.load() || args == nullptr || args->message == nullptr) return;
  std::string message(args->message);
  if (message.size() > kMaxMessage) message = message.substr(0, kMaxMessage) + "...";
  const std::map<std::string, std::string> fields{
      {"message", message},
      {"source", std::string(args->file != nullptr ? args->file : "") + ":" +
                     std::to_string(args->line)}};
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    Logger::Global().Error("grpc", "grpc_log", fields);
  } else {
    Logger::Global().Info("grpc", "grpc_log", fields);
  }
}

}  // namespace

void RouteGrpcLogs() { gpr_set_log_function(Sink); }

void HoldGrpcLogs(bool hold) { held.store(hold); }

}  // namespace tasksentinel
