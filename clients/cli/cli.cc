// The shared command skeleton (see cli.h): deadlines, error reporting, the assembled table.
#include "clients/cli/cli.h"

#include <chrono>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tasksentinel::cli {

void Invocation::SetDeadline(grpc::ClientContext* ctx, absl::Duration extra) const {
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  if (timeout == absl::InfiniteDuration()) return;
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout) +
                    absl::ToChronoMilliseconds(extra));
}

const std::vector<Command>& AllCommands() {
  static const auto* const kCommands = [] {
    auto* all = new std::vector<Command>();
    for (auto group : {ClusterCommands, LockCommands, MemoryCommands, TaskCommands}) {
      for (Command& c : group()) all->push_back(std::move(c));
    }
    return all;
  }();
  return *kCommands;
}

std::string UsageLine(const Command& command) {
  return absl::StrCat("sentinelctl ", command.name,
                      command.usage.empty() ? "" : absl::StrCat(" ", command.usage));
}

int RpcError(const grpc::Status& status) {
  // grpc::StatusCode and absl::StatusCode share their numbering.
  const std::string code =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  std::fprintf(stderr, "sentinelctl: %s: %s\n", code.c_str(), status.error_message().c_str());
  return kExitError;
}

int Refused(absl::string_view message) {
  std::fprintf(stderr, "sentinelctl: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitError;
}

int UsageError(const Invocation& inv, absl::string_view message) {
  std::fprintf(stderr, "sentinelctl: %.*s\nusage: %s\n", static_cast<int>(message.size()),
               message.data(), UsageLine(*inv.command).c_str());
  return kExitUsage;
}

}  // namespace tasksentinel::cli
