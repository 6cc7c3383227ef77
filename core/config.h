// Configuration: every setting of a Task Sentinel sidecar, resolved from command-line flags, the
// environment, the JSON config file and built-in defaults, in that order of precedence, and
// validated as a whole.
//
// Each setting has one name, its environment variable (e.g. "WORKER_MAX_TASKS"); flags use the
// same names (main.cc defines one flag per entry of AllSettings()). The config file is the seed's
// task-sentinel.config.json; its path is the SENTINEL_CONFIG setting (flag or environment only).
// In the file, "${VAR}" in a string value is replaced by the environment variable VAR (empty when
// unset); a string that consisted of references only and expands to "" counts as absent, so the
// seed's `"workerId": "${WORKER_ID}"` falls back to the default when WORKER_ID is unset. Unknown
// keys in the file are errors (typo protection); the seed's keys that Task Sentinel does not use
// (enabled, cleanupIntervalMs, maxWorkers, healthCheckIntervalMs, recoveryEnabled,
// rebalanceIntervalMs) are accepted and ignored.
//
// Thread safety: LoadConfig and AllSettings may be called concurrently. A Config is a plain value.
#ifndef TASK_SENTINEL_CORE_CONFIG_H_
#define TASK_SENTINEL_CORE_CONFIG_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/load_balancer.h"

namespace tasksentinel {

// The resolved settings. Default member values are the built-in defaults; the four fields whose
// defaults depend on the machine (worker_id, hostname, cpu_cores, data_dir) are filled in by
// LoadConfig. The comment on each field names its setting.
struct Config {
  // WORKER_ID: this worker's id, 1..128 characters of [A-Za-z0-9._:/@-]. Default
  // "<hostname>-<pid>" (characters outside that set replaced by '-').
  std::string worker_id;
  // WORKER_HOSTNAME: reported in worker and lock records. Default: gethostname().
  std::string hostname;
  // WORKER_MAX_TASKS: how many tasks this worker holds at once, 1..10000.
  int max_tasks = 10;

  // LOCK_TTL_SECONDS: how long a task lock lasts unless renewed, 1 s..24 h.
  absl::Duration lock_ttl = absl::Seconds(300);
  // LOCK_RETRY_ATTEMPTS: how many more times a contended lock is tried, 0..100.
  int lock_retry_attempts = 3;
  // LOCK_RETRY_DELAY_MS: the wait between lock attempts, 0..600000 ms.
  absl::Duration lock_retry_delay = absl::Milliseconds(1000);
  // LOCK_DELAY_MS: after a holder's lease lapses, its locks cannot be re-taken for this long,
  // 0..600000 ms.
  absl::Duration lock_delay = absl::Milliseconds(5000);

  // HEARTBEAT_INTERVAL_MS: how often the worker renews its lease, 10..3600000 ms.
  absl::Duration heartbeat_interval = absl::Milliseconds(30000);
  // STALE_WORKER_THRESHOLD_MS: a worker silent this long is stale; greater than
  // heartbeat_interval and at most 86400000 ms.
  absl::Duration stale_threshold = absl::Milliseconds(120000);

  // LOAD_BALANCE_STRATEGY: one of the names ParseStrategy accepts.
  Strategy strategy = Strategy::kLeastLoaded;
  // TASK_AFFINITY_ENABLED: prefer workers that completed tasks of the same type.
  bool affinity_enabled = true;

  // MEMORY_SYNC_INTERVAL_MS: how often shared memory is synchronised, 10..3600000 ms.
  absl::Duration memory_sync_interval = absl::Milliseconds(5000);
  // MEMORY_CACHE_SIZE: entries kept in the local memory cache, 1..1000000.
  int memory_cache_size = 1000;
  // MEMORY_NAMESPACES: the shared-memory namespaces; at least one, distinct, each 1..64
  // characters of [a-z0-9_-].
  std::vector<std::string> namespaces = {"swarm", "tasks", "workers", "global"};

  // SUPPORTED_TASK_TYPES: the task types this worker takes, each 1..64 characters of
  // [a-z0-9_.-]; empty means every type.
  std::vector<std::string> supported_task_types;
  // CPU_CORES: reported capacity, 0..4096. Default: std::thread::hardware_concurrency().
  int cpu_cores = 0;
  // MEMORY_MB: reported capacity, 0..16777216; 0 means unknown.
  int memory_mb = 0;

  // TASK_MAX_ATTEMPTS: how many times a task is tried before it fails for good, 1..100.
  int task_max_attempts = 3;
  // TASK_RETRY_BACKOFF_MS: the base retry delay, 0..3600000 ms; the delay before attempt n+1
  // is task_retry_backoff * 2^(n-1).
  absl::Duration task_retry_backoff = absl::Milliseconds(1000);

  // SENTINEL_GRPC_ADDR: where the gRPC API listens: "host:port", "[ipv6]:port" (port 0..65535)
  // or "unix:path".
  std::string grpc_addr = "127.0.0.1:50051";
  // SENTINEL_HTTP_ADDR: where the HTTP health endpoints listen: "host:port" or "[ipv6]:port";
  // empty disables them.
  std::string http_addr = "127.0.0.1:8080";
  // SENTINEL_DATA_DIR: where local state is kept; non-empty. Default
  // "$XDG_DATA_HOME/task-sentinel", else "$HOME/.local/share/task-sentinel", else
  // "./.task-sentinel".
  std::string data_dir;
  // SENTINEL_POLL_INTERVAL_MS: how often blocked calls re-check a store shared with other
  // processes, 1..10000 ms.
  absl::Duration poll_interval = absl::Milliseconds(50);
  // SENTINEL_LOG_LEVEL: "debug", "info", "warn" or "error".
  std::string log_level = "info";
  // SENTINEL_CONFIG: the path of the JSON config file; empty means none.
  std::string config_path;

  // SENTINEL_API_TOKEN: when set, every RPC but grpc.health.v1 must carry
  // `authorization: Bearer <token>`, and so must the HTTP endpoints other than /health. 16..4096
  // characters without whitespace; never printed. Filled from api_token_file when that is set.
  std::string api_token;
  // SENTINEL_API_TOKEN_FILE: a file holding the token (trailing whitespace is dropped); set this
  // or api_token, not both. LoadConfig reads it.
  std::string api_token_file;
  // SENTINEL_TLS_CERT, SENTINEL_TLS_KEY: PEM files of the gRPC server's certificate chain and
  // private key; both or neither. Set, the gRPC API is served over TLS only.
  std::string tls_cert;
  std::string tls_key;
  // SENTINEL_TLS_CLIENT_CA: PEM file of the CAs that sign client certificates; set (with
  // tls_cert), clients must present a certificate it verifies (mutual TLS).
  std::string tls_client_ca;
  // SENTINEL_GRPC_SOCKET_MODE: the file mode of a unix: gRPC socket, applied after bind; 0..0777
  // written in octal.
  int grpc_socket_mode = 0660;
  // SENTINEL_ALLOW_INSECURE: allow a non-loopback SENTINEL_GRPC_ADDR with neither TLS nor a
  // token, and a non-loopback SENTINEL_HTTP_ADDR without a token.
  bool allow_insecure = false;
  // SENTINEL_MAX_WATCHES: the most WatchMemory streams served at once, 1..100000; more are
  // refused with RESOURCE_EXHAUSTED.
  int max_watches = 4096;

  // GITHUB_TOKEN: the GitHub API token; never printed. May not contain whitespace.
  std::string github_token;
  // GITHUB_OWNER: the repository owner; set together with github_repo, or neither.
  std::string github_owner;
  // GITHUB_REPO: the repository name; set together with github_owner, or neither.
  std::string github_repo;
  // GITHUB_API_URL: the GitHub API base URL; http:// or https://.
  std::string github_api_url = "https://api.github.com";
  // GITHUB_CLAIM_SETTLE_MS: how long a lock claim is left to become visible before the claims
  // are listed (GitHub's read-after-write lag), 0..60000 ms.
  absl::Duration github_claim_settle = absl::Milliseconds(1000);
  // GITHUB_QUEUE_LABEL: the label that puts an issue in the task queue; 1..50 characters, no
  // commas or control characters.
  std::string github_queue_label = "sentinel:queued";
  // GITHUB_WRITE_SPACING_MS: the least time between two writes to GitHub, 0..60000 ms.
  absl::Duration github_write_spacing = absl::Milliseconds(1000);
  // GITHUB_WRITES_PER_MINUTE: the write budget per minute (GitHub's secondary limit on
  // content-creating requests), 1..10000.
  int github_writes_per_minute = 80;
  // GITHUB_WRITES_PER_HOUR: the write budget per hour, 1..100000.
  int github_writes_per_hour = 500;
  // GITHUB_IDLE_RENEW_INTERVAL_MS: how often a worker that holds no lock renews its registration
  // (at least; less often when the identity's budget requires), 1000..86400000 ms.
  absl::Duration github_idle_renew_interval = absl::Minutes(10);
  // GITHUB_TIMEOUT_MS: how long one request to GitHub may take, 100..120000 ms.
  absl::Duration github_timeout = absl::Milliseconds(10000);
  // GITHUB_POLL_INTERVAL_MS: how often blocked calls list GitHub again, 100..600000 ms.
  absl::Duration github_poll_interval = absl::Milliseconds(2000);
  // GITHUB_MIN_SECONDARY_BACKOFF_MS: how long a secondary rate limit without `retry-after`
  // blocks at first (doubling on each consecutive one, at most 15 minutes), 100..900000 ms.
  absl::Duration github_min_secondary_backoff = absl::Milliseconds(60000);
  // GITHUB_TOKEN_FILE: a file holding the token, read again whenever it changes (rotation
  // without a restart). Instead of GITHUB_TOKEN.
  std::string github_token_file;
  // GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_PATH, GITHUB_APP_INSTALLATION_ID: a GitHub App
  // installation as the identity, instead of a token (all three together).
  std::string github_app_id;
  std::string github_app_private_key_path;
  std::string github_app_installation_id;
  // SENTINEL_TRUSTED_AUTHORS: logins (besides the token's own account) whose records count,
  // e.g. other fleets' bots ("name[bot]" for a GitHub App). Resolved to account ids at start-up.
  std::vector<std::string> trusted_authors;
  // SENTINEL_TASK_INTAKE: which issues with the queue label are tasks: "labelled" (any: only
  // triage/write collaborators, or an issue form, can apply labels) or "trusted" (only those
  // opened by a trusted author).
  std::string task_intake = "labelled";
  // WORKER_SECRET: with it, every record written is signed (HMAC-SHA256) and unsigned or badly
  // signed records do not count. Never printed. Empty: authorship alone decides.
  std::string worker_secret;

  // One "NAME=value" line per setting, in AllSettings() order; secrets (GITHUB_TOKEN,
  // SENTINEL_API_TOKEN) show as "(set)" or "(unset)", never their values.
  std::string DebugString() const;
};

// Where LoadConfig reads settings from.
struct ConfigSources {
  // The flags the user set, keyed by setting name (e.g. "WORKER_ID"), with their text values.
  std::map<std::string, std::string> flags;
  // Environment lookup: the value of a variable, or nullopt when unset. May be empty (no
  // environment).
  std::function<std::optional<std::string>(const std::string&)> env;
};

// Resolves every setting with precedence flag > environment > config file > default, and
// validates each value and the relations between them (e.g. the stale threshold exceeds the
// heartbeat interval). Returns the whole Config, or INVALID_ARGUMENT listing every problem, one
// line each, naming the setting, where its value came from and what is allowed, e.g.
//   WORKER_MAX_TASKS (env) = "abc": must be an integer in 1..10000
// An unreadable or malformed config file is one line naming the path (and the position of the
// parse error). No secret (GITHUB_TOKEN, SENTINEL_API_TOKEN, the contents of
// SENTINEL_API_TOKEN_FILE) ever appears in an error. Also refuses, in one line, a non-loopback
// SENTINEL_GRPC_ADDR with neither TLS nor a token, and a non-loopback SENTINEL_HTTP_ADDR without
// a token, unless SENTINEL_ALLOW_INSECURE is true.
absl::StatusOr<Config> LoadConfig(const ConfigSources& sources);

// Whether `addr` (a SENTINEL_GRPC_ADDR or SENTINEL_HTTP_ADDR value) is reachable from this
// machine only: a unix: socket, localhost, 127.0.0.0/8 or [::1].
bool IsLocalOnlyAddress(absl::string_view addr);

// A setting, for defining flags and for --help.
struct SettingInfo {
  // The setting's name, which is also its environment variable, e.g. "WORKER_MAX_TASKS".
  std::string name;
  // One line: what the setting does and what values it allows.
  std::string description;
  // The default in the setting's own syntax (e.g. "300", "swarm,tasks,workers,global", ""), or
  // a description of how it is computed (e.g. "<hostname>-<pid>").
  std::string default_value;
};

// Every setting, in a fixed order (the order of DebugString).
const std::vector<SettingInfo>& AllSettings();

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_CONFIG_H_
