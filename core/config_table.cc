// The setting table: every setting Task Sentinel reads, with its checks (see config_setting.h).
// The order here is AllSettings()'s order (and so --help's and docs/configuration.md's).
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/config_setting.h"
#include "core/load_balancer.h"

namespace tasksentinel::config_internal {
namespace {

// The worker, its locks and its lease.
std::vector<Setting> WorkerAndLeaseSettings() {
  return {
    WithComputedDefault(
        StringSetting("WORKER_ID", "This worker's id: 1..128 characters of [A-Za-z0-9._:/@-]",
                      &Config::worker_id,
                      [](absl::string_view v) {
                        return HasChars(v, 1, kMaxWorkerIdLength, IsIdChar)
                                   ? absl::OkStatus()
                                   : MustBe("1..128 characters of [A-Za-z0-9._:/@-]");
                      }),
        "<hostname>-<pid>"),
    WithComputedDefault(
        StringSetting("WORKER_HOSTNAME", "The hostname reported in worker and lock records",
                      &Config::hostname,
                      [](absl::string_view v) {
                        return HasChars(v, 1, 255, IsVisible)
                                   ? absl::OkStatus()
                                   : MustBe("1..255 characters without whitespace or "
                                            "control characters");
                      }),
        "this machine's hostname"),
    IntSetting("WORKER_MAX_TASKS", "How many tasks this worker holds at once (1..10000)",
               &Config::max_tasks, 1, 10000),
    DurationSetting("LOCK_TTL_SECONDS",
                    "How long a task lock lasts unless renewed, in seconds (1..86400)",
                    &Config::lock_ttl, absl::Seconds(1), 1, 86400),
    IntSetting("LOCK_RETRY_ATTEMPTS", "How many more times a contended lock is tried (0..100)",
               &Config::lock_retry_attempts, 0, 100),
    DurationSetting("LOCK_RETRY_DELAY_MS",
                    "The wait between lock attempts, in milliseconds (0..600000)",
                    &Config::lock_retry_delay, absl::Milliseconds(1), 0, 600000),
    DurationSetting("LOCK_DELAY_MS",
                    "After a holder's lease lapses, how long its locks cannot be re-taken, in "
                    "milliseconds (0..600000)",
                    &Config::lock_delay, absl::Milliseconds(1), 0, 600000),
    DurationSetting("HEARTBEAT_INTERVAL_MS",
                    "How often the worker renews its lease, in milliseconds (10..3600000)",
                    &Config::heartbeat_interval, absl::Milliseconds(1), 10, 3600000),
    DurationSetting("STALE_WORKER_THRESHOLD_MS",
                    "How long a silent worker counts as live, in milliseconds (more than "
                    "HEARTBEAT_INTERVAL_MS, at most 86400000)",
                    &Config::stale_threshold, absl::Milliseconds(1), 1, 86400000),
  };
}

// Task hand-out, shared memory, capacity and retries.
std::vector<Setting> SchedulingAndMemorySettings() {
  return {
    Setting{"LOAD_BALANCE_STRATEGY",
            absl::StrCat("How tasks are spread over workers: ", StrategyNames()),
            JsonKind::kString,
            [](const RawValue& raw, Config* config) {
              absl::StatusOr<Strategy> strategy = ParseStrategy(raw.text);
              if (!strategy.ok()) return MustBe(absl::StrCat("one of ", StrategyNames()));
              config->strategy = *strategy;
              return absl::OkStatus();
            },
            [](const Config& config) { return std::string(StrategyName(config.strategy)); }},
    BoolSetting("TASK_AFFINITY_ENABLED",
                "Prefer workers that completed tasks of the same type (true/false, 1/0, yes/no)",
                &Config::affinity_enabled),
    DurationSetting("MEMORY_SYNC_INTERVAL_MS",
                    "How often shared memory is synchronised, in milliseconds (10..3600000)",
                    &Config::memory_sync_interval, absl::Milliseconds(1), 10, 3600000),
    IntSetting("MEMORY_CACHE_SIZE", "Entries kept in the local memory cache (1..1000000)",
               &Config::memory_cache_size, 1, 1000000),
    ListSetting("MEMORY_NAMESPACES",
                "Comma-separated shared-memory namespaces, each 1..64 characters of [a-z0-9_-]",
                &Config::namespaces, "namespace", "[a-z0-9_-]", IsNamespaceChar,
                /*require_one=*/true),
    ListSetting("SUPPORTED_TASK_TYPES",
                "Comma-separated task types this worker takes, each 1..64 characters of "
                "[a-z0-9_.-]; empty for every type",
                &Config::supported_task_types, "task type", "[a-z0-9_.-]", IsTaskTypeChar,
                /*require_one=*/false),
    WithComputedDefault(IntSetting("CPU_CORES", "CPU cores reported as capacity (0..4096)",
                                   &Config::cpu_cores, 0, kMaxCpuCores),
                        "the number of hardware threads"),
    IntSetting("MEMORY_MB", "Memory reported as capacity, in MiB (0..16777216; 0 for unknown)",
               &Config::memory_mb, 0, 16777216),
    IntSetting("TASK_MAX_ATTEMPTS",
               "How many times a task is tried before it fails for good (1..100)",
               &Config::task_max_attempts, 1, 100),
    DurationSetting("TASK_RETRY_BACKOFF_MS",
                    "Delay before a task's first retry, doubled for each later one, in "
                    "milliseconds (0..3600000)",
                    &Config::task_retry_backoff, absl::Milliseconds(1), 0, 3600000),
  };
}

// The sidecar process: addresses, local state, polling, logs, the config file.
std::vector<Setting> SidecarSettings() {
  return {
    StringSetting("SENTINEL_GRPC_ADDR",
                  "Where the gRPC API listens: host:port, [ipv6]:port or unix:path",
                  &Config::grpc_addr,
                  [](absl::string_view v) {
                    absl::string_view path = v;
                    if (absl::ConsumePrefix(&path, "unix:") ? !path.empty() : IsHostPort(v)) {
                      return absl::OkStatus();
                    }
                    return MustBe("host:port or [ipv6]:port with port 0..65535, or unix:path");
                  }),
    StringSetting("SENTINEL_HTTP_ADDR",
                  "Where the HTTP health endpoints listen: host:port or [ipv6]:port; empty to "
                  "disable",
                  &Config::http_addr,
                  [](absl::string_view v) {
                    if (v.empty() || IsHostPort(v)) return absl::OkStatus();
                    return MustBe(
                        "host:port or [ipv6]:port with port 0..65535, or empty to disable");
                  }),
    WithComputedDefault(
        StringSetting("SENTINEL_DATA_DIR", "Directory for this sidecar's local state",
                      &Config::data_dir,
                      [](absl::string_view v) {
                        return v.empty() ? MustBe("a non-empty path") : absl::OkStatus();
                      }),
        "$XDG_DATA_HOME/task-sentinel, else $HOME/.local/share/task-sentinel, else "
        "./.task-sentinel"),
    DurationSetting("SENTINEL_POLL_INTERVAL_MS",
                    "How often blocked calls re-check a store shared with other processes, in "
                    "milliseconds (1..10000)",
                    &Config::poll_interval, absl::Milliseconds(1), 1, 10000),
    StringSetting("SENTINEL_LOG_LEVEL",
                  "The least severe log level written: debug, info, warn or error",
                  &Config::log_level,
                  [](absl::string_view v) {
                    if (v == "debug" || v == "info" || v == "warn" || v == "error") {
                      return absl::OkStatus();
                    }
                    return MustBe("one of debug, info, warn, error");
                  }),
    StringSetting(kConfigSetting,
                  "Path of the JSON config file (task-sentinel.config.json); empty for none",
                  &Config::config_path, [](absl::string_view) { return absl::OkStatus(); }),
  };
}

// Who may call: the API token, TLS, the unix socket's mode, the insecure override.
std::vector<Setting> TransportSecuritySettings() {
  return {
    Secret(StringSetting(kApiTokenSetting,
                         "Bearer token every RPC (but health) and the HTTP endpoints (but "
                         "/health) must carry; 16..4096 characters (never printed)",
                         &Config::api_token, CheckApiToken)),
    PathSetting(kApiTokenFileSetting,
                "File holding SENTINEL_API_TOKEN (trailing whitespace dropped); empty for none",
                &Config::api_token_file),
    PathSetting("SENTINEL_TLS_CERT",
                "PEM certificate chain of the gRPC server; with SENTINEL_TLS_KEY, serves TLS",
                &Config::tls_cert),
    PathSetting("SENTINEL_TLS_KEY", "PEM private key of SENTINEL_TLS_CERT", &Config::tls_key),
    PathSetting("SENTINEL_TLS_CLIENT_CA",
                "PEM CA certificates; set, clients must present a certificate they sign (mTLS)",
                &Config::tls_client_ca),
    OctalModeSetting("SENTINEL_GRPC_SOCKET_MODE",
                     "File mode of a unix: gRPC socket, in octal (0..0777), applied after bind",
                     &Config::grpc_socket_mode),
    BoolSetting("SENTINEL_ALLOW_INSECURE",
                "Allow a non-loopback gRPC address with neither TLS nor a token, and a "
                "non-loopback HTTP address without a token (true/false)",
                &Config::allow_insecure),
    IntSetting("SENTINEL_MAX_WATCHES",
               "The most WatchMemory streams served at once (1..100000)", &Config::max_watches,
               1, 100000),
  };
}

// Which GitHub repository, and how to reach it.
std::vector<Setting> GitHubAccessSettings() {
  return {
    Secret(StringSetting(kTokenSetting, "GitHub API token (never printed)",
                         &Config::github_token,
                         [](absl::string_view v) {
                           return HasChars(v, 0, v.size(), IsVisible)
                                      ? absl::OkStatus()
                                      : absl::InvalidArgumentError(
                                            "must not contain whitespace or control "
                                            "characters (value not shown)");
                         })),
    StringSetting("GITHUB_OWNER",
                  "Owner of the GitHub repository used for coordination; set with GITHUB_REPO",
                  &Config::github_owner,
                  [](absl::string_view v) {
                    return HasChars(v, 0, 39, IsGithubOwnerChar)
                               ? absl::OkStatus()
                               : MustBe("a GitHub user or organisation: up to 39 characters "
                                        "of [A-Za-z0-9-]");
                  }),
    StringSetting("GITHUB_REPO", "Name of that GitHub repository; set with GITHUB_OWNER",
                  &Config::github_repo,
                  [](absl::string_view v) {
                    return HasChars(v, 0, 100, IsGithubRepoChar)
                               ? absl::OkStatus()
                               : MustBe("a repository name: up to 100 characters of "
                                        "[A-Za-z0-9._-]");
                  }),
    StringSetting("GITHUB_API_URL", "GitHub API base URL (http:// or https://)",
                  &Config::github_api_url,
                  [](absl::string_view v) {
                    absl::string_view rest = v;
                    if ((absl::ConsumePrefix(&rest, "https://") ||
                         absl::ConsumePrefix(&rest, "http://")) &&
                        HasChars(rest, 1, rest.size(), IsVisible)) {
                      return absl::OkStatus();
                    }
                    return MustBe("an http:// or https:// URL");
                  }),
  };
}

// Who may write the records that count (docs/protocol.md, "Trust").
// Other credentials than GITHUB_TOKEN: a rotating token file, or a GitHub App.
std::vector<Setting> GitHubIdentitySettings() {
  auto digits = [](absl::string_view v) {
    return v.empty() || HasChars(v, 1, 20, [](char c) { return c >= '0' && c <= '9'; })
               ? absl::OkStatus()
               : MustBe("empty or a number");
  };
  auto any_path = [](absl::string_view) { return absl::OkStatus(); };
  return {
    StringSetting("GITHUB_TOKEN_FILE",
                  "A file holding the GitHub token, read again whenever it changes (rotation "
                  "without a restart); instead of GITHUB_TOKEN",
                  &Config::github_token_file, any_path),
    StringSetting("GITHUB_APP_ID", "GitHub App identity: the app's id (with the two below)",
                  &Config::github_app_id, digits),
    StringSetting("GITHUB_APP_PRIVATE_KEY_PATH",
                  "GitHub App identity: the app's private key (PEM) file", &Config::github_app_private_key_path,
                  any_path),
    StringSetting("GITHUB_APP_INSTALLATION_ID",
                  "GitHub App identity: the installation's id on the repository's owner",
                  &Config::github_app_installation_id, digits),
  };
}

std::vector<Setting> TrustSettings() {
  return {
    ListSetting("SENTINEL_TRUSTED_AUTHORS",
                "Comma-separated GitHub logins, besides the token's own account, whose records "
                "count (GitHub App bots as name[bot]); resolved to account ids at start-up",
                &Config::trusted_authors, "login", "[A-Za-z0-9-] (and [bot])",
                IsGithubLoginChar, /*require_one=*/false),
    StringSetting("SENTINEL_TASK_INTAKE",
                  "Which issues carrying the queue label are tasks: labelled (any) or trusted "
                  "(only those opened by a trusted author)",
                  &Config::task_intake,
                  [](absl::string_view v) {
                    return v == "labelled" || v == "trusted" ? absl::OkStatus()
                                                             : MustBe("labelled or trusted");
                  }),
    Secret(StringSetting(kSecretSetting,
                         "Shared secret of the fleet: records are signed with it (HMAC-SHA256) "
                         "and unsigned ones do not count; empty: authorship alone decides "
                         "(never printed)",
                         &Config::worker_secret,
                         [](absl::string_view v) {
                           if (!v.empty() && v.size() < 16) {
                             return absl::InvalidArgumentError(
                                 "must be empty or at least 16 characters (value not shown)");
                           }
                           return absl::OkStatus();
                         })),
  };
}

// How the GitHub backend paces its requests: claims, the queue label, the write budget, time-outs.
std::vector<Setting> GitHubBudgetSettings() {
  return {
    DurationSetting("GITHUB_CLAIM_SETTLE_MS",
                    "How long a GitHub lock claim is left to become visible before the claims "
                    "are listed, in milliseconds (0..60000)",
                    &Config::github_claim_settle, absl::Milliseconds(1), 0, 60000),
    StringSetting("GITHUB_QUEUE_LABEL",
                  "The label that puts a GitHub issue in the task queue: 1..50 characters, no "
                  "commas or control characters",
                  &Config::github_queue_label,
                  [](absl::string_view v) {
                    return HasChars(v, 1, 50, IsLabelChar) && absl::StripAsciiWhitespace(v) == v
                               ? absl::OkStatus()
                               : MustBe("1..50 characters without commas, control characters "
                                        "or surrounding spaces");
                  }),
    DurationSetting("GITHUB_WRITE_SPACING_MS",
                    "The least time between two writes to GitHub, in milliseconds (0..60000)",
                    &Config::github_write_spacing, absl::Milliseconds(1), 0, 60000),
    IntSetting("GITHUB_WRITES_PER_MINUTE",
               "Writes to GitHub allowed per minute (1..10000; GitHub's secondary limit is 80)",
               &Config::github_writes_per_minute, 1, 10000),
    IntSetting("GITHUB_WRITES_PER_HOUR",
               "Writes to GitHub allowed per hour (1..100000; GitHub's secondary limit is 500)",
               &Config::github_writes_per_hour, 1, 100000),
    DurationSetting("GITHUB_IDLE_RENEW_INTERVAL_MS",
                    "How often a worker that holds no lock renews its registration on GitHub, "
                    "in milliseconds (1000..86400000; less often when the identity's write "
                    "budget requires)",
                    &Config::github_idle_renew_interval, absl::Milliseconds(1), 1000, 86400000),
    DurationSetting("GITHUB_TIMEOUT_MS",
                    "How long one request to GitHub may take, in milliseconds (100..120000)",
                    &Config::github_timeout, absl::Milliseconds(1), 100, 120000),
    DurationSetting("GITHUB_POLL_INTERVAL_MS",
                    "How often blocked calls list GitHub again (conditional requests), in "
                    "milliseconds (100..600000)",
                    &Config::github_poll_interval, absl::Milliseconds(1), 100, 600000),
    DurationSetting("GITHUB_MIN_SECONDARY_BACKOFF_MS",
                    "How long GitHub's secondary rate limit blocks when GitHub gives no "
                    "retry-after, at first (doubled for each consecutive one), in milliseconds "
                    "(100..900000)",
                    &Config::github_min_secondary_backoff, absl::Milliseconds(1), 100, 900000),
  };
}

}  // namespace

const std::vector<Setting>& Settings() {
  static const std::vector<Setting>* const kSettings = [] {
    auto* settings = new std::vector<Setting>;
    for (std::vector<Setting> (*group)() :
         {WorkerAndLeaseSettings, SchedulingAndMemorySettings, SidecarSettings,
          TransportSecuritySettings, GitHubAccessSettings, GitHubBudgetSettings,
          GitHubIdentitySettings, TrustSettings}) {
      for (Setting& setting : group()) settings->push_back(std::move(setting));
    }
    return settings;
  }();
  return *kSettings;
}

const Setting* FindSetting(absl::string_view name) {
  for (const Setting& setting : Settings()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

}  // namespace tasksentinel::config_internal
