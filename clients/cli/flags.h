// The command-line flags of sentinelctl, defined once (flags.cc) and read by the commands.
//
// Flag names use underscores in code; on the command line `--expected-version` and
// `--expected_version` are the same flag (main.cc normalises hyphens). Global flags (addr,
// timeout, json) apply to every command; every other flag belongs to the commands whose table
// entry lists it, and is a usage error elsewhere. Optional flags are std::optional so that a
// command can tell "not given" from any value and apply its own default.
#ifndef TASK_SENTINEL_CLIENTS_CLI_FLAGS_H_
#define TASK_SENTINEL_CLIENTS_CLI_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/time/time.h"

// Global flags.
ABSL_DECLARE_FLAG(std::string, addr);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, token_file);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_server_name);

// Command flags.
ABSL_DECLARE_FLAG(bool, all);
ABSL_DECLARE_FLAG(std::optional<absl::Duration>, ttl);
ABSL_DECLARE_FLAG(std::optional<absl::Duration>, wait);
ABSL_DECLARE_FLAG(std::string, health);
ABSL_DECLARE_FLAG(uint32_t, max_tasks);
ABSL_DECLARE_FLAG(std::optional<uint64_t>, expected_version);
ABSL_DECLARE_FLAG(bool, initial);
ABSL_DECLARE_FLAG(std::string, body);
ABSL_DECLARE_FLAG(std::string, type);
ABSL_DECLARE_FLAG(int32_t, priority);
ABSL_DECLARE_FLAG(uint32_t, max_attempts);
ABSL_DECLARE_FLAG(std::vector<std::string>, types);
ABSL_DECLARE_FLAG(std::string, result);
ABSL_DECLARE_FLAG(std::optional<std::string>, error);
ABSL_DECLARE_FLAG(bool, retryable);

namespace tasksentinel::cli {

// The names of the global flags (valid with every command).
const std::vector<std::string>& GlobalFlagNames();

// The address --addr stands for: the flag when given, else $SENTINEL_GRPC_ADDR when set and
// non-empty, else 127.0.0.1:50051.
std::string ResolvedAddr();

// `flag_value` when non-empty, else the environment variable `env`, else "".
std::string FlagOrEnv(const std::string& flag_value, const char* env);

}  // namespace tasksentinel::cli

#endif  // TASK_SENTINEL_CLIENTS_CLI_FLAGS_H_
