// Definitions of sentinelctl's flags (see flags.h). The help strings are what `sentinelctl help`
// and docs/cli.md describe; defaults that depend on the command are stated there.
#include "clients/cli/flags.h"

#include <cstdlib>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, addr, "",
          "Sidecar gRPC address: host:port or unix:PATH (default $SENTINEL_GRPC_ADDR, else "
          "127.0.0.1:50051)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "Deadline of each call (blocking calls get their --wait on top); inf: none");
ABSL_FLAG(bool, json, false, "Print responses as JSON (one object per line)");
ABSL_FLAG(std::string, token_file, "",
          "File holding the sidecar's API token (default $SENTINEL_API_TOKEN_FILE, else the "
          "token in $SENTINEL_API_TOKEN)");
ABSL_FLAG(std::string, tls_ca, "",
          "Connect over TLS, verifying the sidecar with these PEM CA certificates (default "
          "$SENTINEL_TLS_CA)");
ABSL_FLAG(std::string, tls_cert, "",
          "Client certificate (PEM) for mutual TLS (default $SENTINEL_TLS_CLIENT_CERT)");
ABSL_FLAG(std::string, tls_key, "",
          "Private key (PEM) of --tls-cert (default $SENTINEL_TLS_CLIENT_KEY)");
ABSL_FLAG(std::string, tls_server_name, "",
          "The name the sidecar's certificate must carry, when not the --addr host");

ABSL_FLAG(bool, all, false, "workers: also list workers that shut down cleanly");
ABSL_FLAG(std::optional<absl::Duration>, ttl, std::nullopt,
          "Lock or entry time to live, e.g. 30s, 5m");
ABSL_FLAG(std::optional<absl::Duration>, wait, std::nullopt,
          "How long a lock acquisition or task hand-out may block, e.g. 5s");
ABSL_FLAG(std::string, health, "healthy",
          "heartbeat: the worker health to publish: healthy, degraded or unhealthy");
ABSL_FLAG(uint32_t, max_tasks, 0, "heartbeat: the worker capacity to publish; 0: WORKER_MAX_TASKS");
ABSL_FLAG(std::optional<uint64_t>, expected_version, std::nullopt,
          "memory set/delete: compare-and-set on this version (0: the key must not exist)");
ABSL_FLAG(bool, initial, true, "memory watch: first print every existing entry");
ABSL_FLAG(std::string, body, "", "task create: the task body");
ABSL_FLAG(std::string, type, "", "task create: the task type (empty: the default type)");
ABSL_FLAG(int32_t, priority, 0, "task create: priority, -1000..1000, higher first");
ABSL_FLAG(uint32_t, max_attempts, 0, "task create: attempts before dead-lettering; 0: default");
ABSL_FLAG(std::vector<std::string>, types, {},
          "task next: only these task types, comma-separated");
ABSL_FLAG(std::string, result, "", "task complete: the task's result");
ABSL_FLAG(std::optional<std::string>, error, std::nullopt, "task fail: the error (required)");
ABSL_FLAG(bool, retryable, false, "task fail: re-queue the task if attempts remain");

namespace tasksentinel::cli {

const std::vector<std::string>& GlobalFlagNames() {
  static const auto* const kNames = new std::vector<std::string>{
      "addr", "timeout", "json", "token_file", "tls_ca", "tls_cert", "tls_key", "tls_server_name"};
  return *kNames;
}

std::string ResolvedAddr() {
  std::string addr = absl::GetFlag(FLAGS_addr);
  if (!addr.empty()) return addr;
  const char* env = std::getenv("SENTINEL_GRPC_ADDR");
  if (env != nullptr && *env != '\0') return env;
  return "127.0.0.1:50051";
}

std::string FlagOrEnv(const std::string& flag_value, const char* env) {
  if (!flag_value.empty()) return flag_value;
  const char* v = std::getenv(env);
  return v != nullptr ? std::string(v) : std::string();
}

}  // namespace tasksentinel::cli
