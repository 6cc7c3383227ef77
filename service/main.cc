// The sidecar binary: configuration (flags > environment > config file > defaults), the
// embedded store in SENTINEL_DATA_DIR, the gRPC server and HTTP endpoints, and shutdown on
// SIGTERM/SIGINT. `sentinel exec ... -- CMD` also works the queue itself (exec_command.h).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/embedded/embedded_coordinator.h"
#include "core/github/github_coordinator.h"
#include "core/embedded/sqlite_store.h"
#include "service/build_info.h"
#include "service/event_log.h"
#include "service/exec_command.h"
#include "service/github/curl_github_api.h"
#include "service/grpc_log.h"
#include "service/help_text.h"
#include "service/log.h"
#include "service/server.h"

// One optional flag per setting (lower-case name of the environment variable). GITHUB_TOKEN and
// SENTINEL_API_TOKEN have no flag: a secret on a command line is visible to every user of the
// machine (SENTINEL_API_TOKEN_FILE names a file instead).
#define TS_SETTINGS(X)                                                                        \
  X(worker_id, "WORKER_ID")                                                                   \
  X(worker_hostname, "WORKER_HOSTNAME")                                                       \
  X(worker_max_tasks, "WORKER_MAX_TASKS")                                                     \
  X(lock_ttl_seconds, "LOCK_TTL_SECONDS")                                                     \
  X(lock_retry_attempts, "LOCK_RETRY_ATTEMPTS")                                               \
  X(lock_retry_delay_ms, "LOCK_RETRY_DELAY_MS")                                               \
  X(lock_delay_ms, "LOCK_DELAY_MS")                                                           \
  X(heartbeat_interval_ms, "HEARTBEAT_INTERVAL_MS")                                           \
  X(stale_worker_threshold_ms, "STALE_WORKER_THRESHOLD_MS")                                   \
  X(load_balance_strategy, "LOAD_BALANCE_STRATEGY")                                           \
  X(task_affinity_enabled, "TASK_AFFINITY_ENABLED")                                           \
  X(memory_sync_interval_ms, "MEMORY_SYNC_INTERVAL_MS")                                       \
  X(memory_cache_size, "MEMORY_CACHE_SIZE")                                                   \
  X(memory_namespaces, "MEMORY_NAMESPACES")                                                   \
  X(supported_task_types, "SUPPORTED_TASK_TYPES")                                             \
  X(cpu_cores, "CPU_CORES")                                                                   \
  X(memory_mb, "MEMORY_MB")                                                                   \
  X(task_max_attempts, "TASK_MAX_ATTEMPTS")                                                   \
  X(task_retry_backoff_ms, "TASK_RETRY_BACKOFF_MS")                                           \
  X(sentinel_grpc_addr, "SENTINEL_GRPC_ADDR")                                                 \
  X(sentinel_http_addr, "SENTINEL_HTTP_ADDR")                                                 \
  X(sentinel_data_dir, "SENTINEL_DATA_DIR")                                                   \
  X(sentinel_poll_interval_ms, "SENTINEL_POLL_INTERVAL_MS")                                   \
  X(sentinel_log_level, "SENTINEL_LOG_LEVEL")                                                 \
  X(sentinel_debug, "SENTINEL_DEBUG")                                                         \
  X(sentinel_config, "SENTINEL_CONFIG")                                                       \
  X(sentinel_api_token_file, "SENTINEL_API_TOKEN_FILE")                                       \
  X(sentinel_tls_cert, "SENTINEL_TLS_CERT")                                                   \
  X(sentinel_tls_key, "SENTINEL_TLS_KEY")                                                     \
  X(sentinel_tls_client_ca, "SENTINEL_TLS_CLIENT_CA")                                         \
  X(sentinel_grpc_socket_mode, "SENTINEL_GRPC_SOCKET_MODE")                                   \
  X(sentinel_allow_insecure, "SENTINEL_ALLOW_INSECURE")                                       \
  X(sentinel_max_watches, "SENTINEL_MAX_WATCHES")                                             \
  X(github_owner, "GITHUB_OWNER")                                                             \
  X(github_repo, "GITHUB_REPO")                                                               \
  X(github_api_url, "GITHUB_API_URL")                                                         \
  X(github_claim_settle_ms, "GITHUB_CLAIM_SETTLE_MS")                                         \
  X(github_queue_label, "GITHUB_QUEUE_LABEL")                                                 \
  X(github_write_spacing_ms, "GITHUB_WRITE_SPACING_MS")                                       \
  X(github_writes_per_minute, "GITHUB_WRITES_PER_MINUTE")                                     \
  X(github_writes_per_hour, "GITHUB_WRITES_PER_HOUR")                                         \
  X(github_idle_renew_interval_ms, "GITHUB_IDLE_RENEW_INTERVAL_MS")                             \
  X(github_timeout_ms, "GITHUB_TIMEOUT_MS")                                                   \
  X(github_poll_interval_ms, "GITHUB_POLL_INTERVAL_MS")                                       \
  X(github_min_secondary_backoff_ms, "GITHUB_MIN_SECONDARY_BACKOFF_MS")                         \
  X(github_token_file, "GITHUB_TOKEN_FILE")                                                   \
  X(github_app_id, "GITHUB_APP_ID")                                                           \
  X(github_app_private_key_path, "GITHUB_APP_PRIVATE_KEY_PATH")                               \
  X(github_app_installation_id, "GITHUB_APP_INSTALLATION_ID")                                 \
  X(sentinel_trusted_authors, "SENTINEL_TRUSTED_AUTHORS")                                     \
  X(sentinel_task_intake, "SENTINEL_TASK_INTAKE")

#define TS_DEFINE_FLAG(flag, env) \
  ABSL_FLAG(std::optional<std::string>, flag, std::nullopt, "Overrides $" env);
TS_SETTINGS(TS_DEFINE_FLAG)
#undef TS_DEFINE_FLAG

namespace tasksentinel {
namespace {

int Fail(const std::string& line) {
  std::fprintf(stderr, "task-sentinel: %s\n", line.c_str());
  return 2;
}

// Handles --help (and absl's -h, --helpfull, --helpshort) and --version before absl parses the
// command line: absl's own help lists only flags, without their environment variables or
// defaults. Returns the exit code when one of them was given.
std::optional<int> HandleInfoFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-help" || arg == "-h" || arg == "--helpfull" ||
        arg == "-helpfull" || arg == "--helpshort" || arg == "-helpshort") {
      std::fputs(SidecarHelp([](const std::string& flag) {
                   return absl::FindCommandLineFlag(flag) != nullptr;
                 }).c_str(),
                 stdout);
      return 0;
    }
    if (arg == "--version" || arg == "-version") {
      std::printf("%s\n", VersionLine("sentinel").c_str());
      return 0;
    }
  }
  return std::nullopt;
}

int Run(int argc, char** argv) {
  // absl::Mutex's deadlock detection (on in Debian's libabsl) builds a lock graph on every
  // acquisition: a few percent of a lock call's CPU (issue #14's profile). The tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "Task Sentinel coordination sidecar; see sentinel --help. `sentinel exec [--until-idle] "
      "[--max-tasks N] [--grace DURATION] -- CMD ARGS...` also runs CMD once per task of this "
      "worker (docs/clients.md).");
  // `exec` and its own arguments are taken out before the sidecar's flags are parsed.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::optional<ExecOptions> exec;
  if (IsExecCommand(args)) {
    absl::StatusOr<ExecOptions> parsed = ParseExecArgs(&args);
    if (!parsed.ok()) return Fail(std::string(parsed.status().message()));
    exec = *std::move(parsed);
  }
  std::vector<char*> flag_argv = {argv[0]};
  for (std::string& a : args) flag_argv.push_back(a.data());
  if (std::optional<int> done =
          HandleInfoFlags(static_cast<int>(flag_argv.size()), flag_argv.data())) {
    return *done;
  }
  absl::ParseCommandLine(static_cast<int>(flag_argv.size()), flag_argv.data());

  ConfigSources sources;
#define TS_COLLECT_FLAG(flag, env) \
  if (auto v = absl::GetFlag(FLAGS_##flag); v.has_value()) sources.flags[env] = *v;
  TS_SETTINGS(TS_COLLECT_FLAG)
#undef TS_COLLECT_FLAG
  sources.env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  absl::StatusOr<Config> config = LoadConfig(sources);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  Logger::Global().SetLevel(config->log_level);
  Logger::Global().SetWorker(config->worker_id);
  if (absl::Status s = Logger::Global().SetDebugComponents(config->debug_components); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  // Handle SIGTERM/SIGINT on this thread: block them before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RealClock clock;
  // The backends' events as log lines and counters; outlives the coordinator (declared first).
  std::unique_ptr<EventLog> events;
  std::unique_ptr<SqliteStore> store;            // the embedded backend's
  std::unique_ptr<github::CurlGitHubApi> api;    // the GitHub backend's
  std::unique_ptr<Coordinator> coordinator;
  std::string backend;
  if (!config->github_owner.empty()) {
    // GitHub: check the token, the repository and its issues now, not at the first call.
    github::CurlGitHubApi::Options options;
    options.api_url = config->github_api_url;
    options.token = config->github_token;
    if (!config->github_token_file.empty()) {
      options.token_source = std::make_shared<github::FileTokenSource>(config->github_token_file);
    } else if (!config->github_app_id.empty()) {
      github::AppTokenSource::Options app;
      app.api_url = config->github_api_url;
      app.app_id = config->github_app_id;
      app.installation_id = config->github_app_installation_id;
      app.timeout = config->github_timeout;
      std::ifstream key_file(config->github_app_private_key_path, std::ios::binary);
      std::stringstream key;
      key << key_file.rdbuf();
      if (!key_file.is_open() || key.str().empty()) {
        return Fail(absl::StrCat("GITHUB_APP_PRIVATE_KEY_PATH ",
                                 config->github_app_private_key_path,
                                 ": cannot read the app's private key"));
      }
      app.private_key_pem = key.str();
      options.token_source = std::make_shared<github::AppTokenSource>(app, &clock);
    }
    options.owner = config->github_owner;
    options.repo = config->github_repo;
    options.timeout = config->github_timeout;
    options.write_spacing = config->github_write_spacing;
    options.writes_per_minute = config->github_writes_per_minute;
    options.writes_per_hour = config->github_writes_per_hour;
    options.min_secondary_backoff = config->github_min_secondary_backoff;
    events = std::make_unique<EventLog>(EventLog::Backend::kGitHub);
    options.on_rate_limit = [log = events.get()](bool blocked, const std::string& message) {
      log->OnRateLimit(blocked, message);
    };
    api = std::make_unique<github::CurlGitHubApi>(options, &clock);
    if (absl::Status s = github::CheckStartup(*api); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    GitHubCoordinator::Options coordination;
    coordination.background_sync = true;
    coordination.poll_interval = config->github_poll_interval;
    coordination.events = events.get();  // lease_stretched among them
    coordination.on_foreign_record = [](const github::Comment& c, github::ForeignReason reason) {
      Logger::Global().Debug("github", "foreign_record",
                             {{"reason", std::string(github::ForeignReasonName(reason))},
                              {"issue", absl::StrCat(c.issue_number)},
                              {"comment", absl::StrCat(c.id)},
                              {"author", c.author}});
    };
    coordinator = std::make_unique<GitHubCoordinator>(*config, api.get(), &clock, coordination);
    backend = absl::StrCat("github:", config->github_owner, "/", config->github_repo);
  } else {
    // The embedded store, shared by every sidecar pointed at the same directory.
    std::error_code ec;
    std::filesystem::create_directories(config->data_dir, ec);
    if (ec) {
      return Fail(absl::StrCat("SENTINEL_DATA_DIR ", config->data_dir,
                               ": cannot create directory: ", ec.message()));
    }
    const std::string db_path =
        (std::filesystem::path(config->data_dir) / "sentinel.db").string();
    absl::StatusOr<std::unique_ptr<SqliteStore>> opened = SqliteStore::Open(db_path);
    if (!opened.ok()) return Fail(std::string(opened.status().message()));
    store = *std::move(opened);
    events = std::make_unique<EventLog>(EventLog::Backend::kEmbedded);
    coordinator =
        std::make_unique<EmbeddedCoordinator>(*config, store.get(), &clock, events.get());
    backend = absl::StrCat("embedded:", config->data_dir);
  }

  SentinelServer server(*config, std::move(coordinator), &clock);
  if (api != nullptr) server.AddMetricsSource([&api] { return api->Metrics(); });
  server.AddMetricsSource([&events] { return events->Metrics(); });
  RouteGrpcLogs();
  HoldGrpcLogs(true);  // a failed start says so in one line of its own
  if (absl::Status s = server.Start(); !s.ok()) return Fail(std::string(s.message()));
  HoldGrpcLogs(false);
  Logger::Global().Info("sidecar", "started",
                        {{"grpc_addr", config->grpc_addr},
                         {"port", std::to_string(server.port())},
                         {"http_addr", config->http_addr.empty() ? "disabled" : config->http_addr},
                         {"http_port", std::to_string(server.http_port())},
                         {"backend", backend},
                         {"strategy", std::string(StrategyName(config->strategy))}});

  if (exec.has_value()) return RunExec(*exec, *config, &server, signals);

  int sig = 0;
  sigwait(&signals, &sig);
  Logger::Global().Info("sidecar", "shutting_down", {{"signal", strsignal(sig)}});
  absl::Status s = server.Shutdown(absl::Seconds(2));
  if (!s.ok()) {
    Logger::Global().Error("sidecar", "shutdown_incomplete", {{"error", std::string(s.message())}});
    return 1;
  }
  Logger::Global().Info("sidecar", "stopped", {});
  return 0;
}

}  // namespace
}  // namespace tasksentinel

int main(int argc, char** argv) { return tasksentinel::Run(argc, argv); }
