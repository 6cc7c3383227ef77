// Tests for LoadConfig: defaults, precedence (flag > env > config file > default), ${VAR}
// expansion in the config file, every class of invalid value, and that the GitHub token never
// shows. Config files are written under TEST_TMPDIR.
#include "core/config.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tasksentinel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The seed's task-sentinel.config.json, verbatim.
constexpr char kSeedConfig[] = R"({
  "distributed": {
    "enabled": true,
    "workerId": "${WORKER_ID}",
    "hostname": "${WORKER_HOSTNAME}",

    "locking": {
      "ttlSeconds": 300,
      "retryAttempts": 3,
      "retryDelayMs": 1000,
      "cleanupIntervalMs": 60000
    },

    "registry": {
      "maxWorkers": 100,
      "healthCheckIntervalMs": 30000,
      "staleThresholdMs": 120000
    },

    "heartbeat": {
      "intervalMs": 30000,
      "staleThresholdMs": 120000,
      "recoveryEnabled": true
    },

    "loadBalancer": {
      "strategy": "least_loaded",
      "affinityEnabled": true,
      "rebalanceIntervalMs": 60000
    },

    "memorySync": {
      "intervalMs": 5000,
      "conflictResolution": "last_write_wins",
      "cacheSize": 1000,
      "namespaces": ["swarm", "tasks", "workers", "global"]
    }
  },

  "capacity": {
    "maxConcurrentTasks": 10,
    "cpuCores": 4,
    "memoryMb": 8192,
    "supportedTaskTypes": ["build", "test", "deploy"]
  }
})";

constexpr char kToken[] = "ghp_SuperSecretToken0123456789";

class ConfigTest : public ::testing::Test {
 protected:
  // Writes `contents` to a fresh file under TEST_TMPDIR and returns its path.
  std::string WriteFile(const std::string& contents) {
    static int counter = 0;
    std::string path = absl::StrCat(::testing::TempDir(), "/config_test_", ++counter, ".json");
    std::ofstream(path) << contents;
    return path;
  }

  // Writes `contents` as the config file named by the environment.
  void UseConfigFile(const std::string& contents) {
    config_path_ = WriteFile(contents);
    env_["SENTINEL_CONFIG"] = config_path_;
  }

  absl::StatusOr<Config> Load() {
    ConfigSources sources;
    sources.flags = flags_;
    sources.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    return LoadConfig(sources);
  }

  // Loads, expecting INVALID_ARGUMENT; returns the message.
  std::string LoadError() {
    absl::StatusOr<Config> config = Load();
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(config.status().message());
  }

  std::map<std::string, std::string> flags_;
  std::map<std::string, std::string> env_;
  std::string config_path_;
};

std::string Hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

TEST_F(ConfigTest, DefaultsWithNoSources) {
  absl::StatusOr<Config> config = LoadConfig(ConfigSources{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(absl::EndsWith(config->worker_id, absl::StrCat("-", getpid()))) << config->worker_id;
  EXPECT_LE(config->worker_id.size(), 128u);
  EXPECT_EQ(config->hostname, Hostname());
  EXPECT_EQ(config->max_tasks, 10);
  EXPECT_EQ(config->lock_ttl, absl::Seconds(300));
  EXPECT_EQ(config->lock_retry_attempts, 3);
  EXPECT_EQ(config->lock_retry_delay, absl::Milliseconds(1000));
  EXPECT_EQ(config->lock_delay, absl::Milliseconds(5000));
  EXPECT_EQ(config->heartbeat_interval, absl::Seconds(30));
  EXPECT_EQ(config->stale_threshold, absl::Seconds(120));
  EXPECT_EQ(config->strategy, Strategy::kLeastLoaded);
  EXPECT_TRUE(config->affinity_enabled);
  EXPECT_EQ(config->memory_sync_interval, absl::Seconds(5));
  EXPECT_EQ(config->memory_cache_size, 1000);
  EXPECT_THAT(config->namespaces, ElementsAre("swarm", "tasks", "workers", "global"));
  EXPECT_THAT(config->supported_task_types, IsEmpty());
  EXPECT_EQ(config->cpu_cores, static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_EQ(config->memory_mb, 0);
  EXPECT_EQ(config->task_max_attempts, 3);
  EXPECT_EQ(config->task_retry_backoff, absl::Seconds(1));
  EXPECT_EQ(config->grpc_addr, "127.0.0.1:50051");
  EXPECT_EQ(config->http_addr, "127.0.0.1:8080");
  EXPECT_EQ(config->data_dir, "./.task-sentinel");
  EXPECT_EQ(config->poll_interval, absl::Milliseconds(50));
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->config_path, "");
  EXPECT_EQ(config->github_token, "");
  EXPECT_EQ(config->github_owner, "");
  EXPECT_EQ(config->github_repo, "");
  EXPECT_EQ(config->github_api_url, "https://api.github.com");
}

TEST_F(ConfigTest, DataDirDefaultsToXdgThenHome) {
  env_["HOME"] = "/home/ada";
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir, "/home/ada/.local/share/task-sentinel");

  env_["XDG_DATA_HOME"] = "/xdg/data";
  config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir, "/xdg/data/task-sentinel");

  env_["SENTINEL_DATA_DIR"] = "/var/lib/sentinel";
  config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir, "/var/lib/sentinel");
}

TEST_F(ConfigTest, AllSettingsNamesEachSettingOnceWithItsDefault) {
  std::vector<std::string> names;
  std::map<std::string, std::string> defaults;
  for (const SettingInfo& info : AllSettings()) {
    names.push_back(info.name);
    defaults[info.name] = info.default_value;
    EXPECT_FALSE(info.description.empty()) << info.name;
  }
  EXPECT_THAT(
      names,
      ElementsAre("WORKER_ID", "WORKER_HOSTNAME", "WORKER_MAX_TASKS", "LOCK_TTL_SECONDS",
                  "LOCK_RETRY_ATTEMPTS", "LOCK_RETRY_DELAY_MS", "LOCK_DELAY_MS",
                  "HEARTBEAT_INTERVAL_MS", "STALE_WORKER_THRESHOLD_MS", "LOAD_BALANCE_STRATEGY",
                  "TASK_AFFINITY_ENABLED", "MEMORY_SYNC_INTERVAL_MS", "MEMORY_CACHE_SIZE",
                  "MEMORY_NAMESPACES", "SUPPORTED_TASK_TYPES", "CPU_CORES", "MEMORY_MB",
                  "TASK_MAX_ATTEMPTS", "TASK_RETRY_BACKOFF_MS", "SENTINEL_GRPC_ADDR",
                  "SENTINEL_HTTP_ADDR", "SENTINEL_DATA_DIR", "SENTINEL_POLL_INTERVAL_MS",
                  "SENTINEL_LOG_LEVEL", "SENTINEL_CONFIG", "SENTINEL_API_TOKEN",
                  "SENTINEL_API_TOKEN_FILE", "SENTINEL_TLS_CERT", "SENTINEL_TLS_KEY",
                  "SENTINEL_TLS_CLIENT_CA", "SENTINEL_GRPC_SOCKET_MODE",
                  "SENTINEL_ALLOW_INSECURE", "SENTINEL_MAX_WATCHES", "GITHUB_TOKEN",
                  "GITHUB_OWNER",
                  "GITHUB_REPO", "GITHUB_API_URL", "GITHUB_CLAIM_SETTLE_MS", "GITHUB_QUEUE_LABEL",
                  "GITHUB_WRITE_SPACING_MS", "GITHUB_WRITES_PER_MINUTE", "GITHUB_WRITES_PER_HOUR",
                  "GITHUB_IDLE_RENEW_INTERVAL_MS", "GITHUB_TIMEOUT_MS", "GITHUB_POLL_INTERVAL_MS",
                  "GITHUB_MIN_SECONDARY_BACKOFF_MS", "GITHUB_TOKEN_FILE", "GITHUB_APP_ID",
                  "GITHUB_APP_PRIVATE_KEY_PATH", "GITHUB_APP_INSTALLATION_ID",
                  "SENTINEL_TRUSTED_AUTHORS",
                  "SENTINEL_TASK_INTAKE", "WORKER_SECRET"));
  EXPECT_EQ(defaults["WORKER_ID"], "<hostname>-<pid>");
  EXPECT_EQ(defaults["WORKER_MAX_TASKS"], "10");
  EXPECT_EQ(defaults["LOCK_TTL_SECONDS"], "300");
  EXPECT_EQ(defaults["STALE_WORKER_THRESHOLD_MS"], "120000");
  EXPECT_EQ(defaults["LOAD_BALANCE_STRATEGY"], "least_loaded");
  EXPECT_EQ(defaults["TASK_AFFINITY_ENABLED"], "true");
  EXPECT_EQ(defaults["MEMORY_NAMESPACES"], "swarm,tasks,workers,global");
  EXPECT_EQ(defaults["SENTINEL_HTTP_ADDR"], "127.0.0.1:8080");
  EXPECT_EQ(defaults["GITHUB_TOKEN"], "");
  EXPECT_EQ(defaults["GITHUB_CLAIM_SETTLE_MS"], "1000");
  EXPECT_EQ(defaults["GITHUB_IDLE_RENEW_INTERVAL_MS"], "600000");
  EXPECT_EQ(defaults["GITHUB_QUEUE_LABEL"], "sentinel:queued");
  EXPECT_EQ(defaults["GITHUB_WRITE_SPACING_MS"], "1000");
  EXPECT_EQ(defaults["GITHUB_WRITES_PER_MINUTE"], "80");
  EXPECT_EQ(defaults["GITHUB_WRITES_PER_HOUR"], "500");
  EXPECT_EQ(defaults["GITHUB_TIMEOUT_MS"], "10000");
  EXPECT_EQ(defaults["GITHUB_POLL_INTERVAL_MS"], "2000");
  EXPECT_EQ(defaults["GITHUB_MIN_SECONDARY_BACKOFF_MS"], "60000");
}

TEST_F(ConfigTest, GithubSettingsHaveDefaultsAndComeFromEveryPlace) {
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->github_claim_settle, absl::Milliseconds(1000));
  EXPECT_EQ(config->github_queue_label, "sentinel:queued");
  EXPECT_EQ(config->github_write_spacing, absl::Milliseconds(1000));
  EXPECT_EQ(config->github_writes_per_minute, 80);
  EXPECT_EQ(config->github_writes_per_hour, 500);
  EXPECT_EQ(config->github_timeout, absl::Milliseconds(10000));
  EXPECT_EQ(config->github_min_secondary_backoff, absl::Seconds(60));

  UseConfigFile(R"({"github": {"claimSettleMs": 2500, "queueLabel": "jobs: ready",
                                "writeSpacingMs": 0, "writesPerMinute": 30,
                                "writesPerHour": 200, "timeoutMs": 500,
                                "minSecondaryBackoffMs": 2000}})");
  env_["GITHUB_WRITES_PER_HOUR"] = "300";
  flags_["GITHUB_TIMEOUT_MS"] = "120000";
  config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->github_claim_settle, absl::Milliseconds(2500));  // file
  EXPECT_EQ(config->github_queue_label, "jobs: ready");              // file
  EXPECT_EQ(config->github_write_spacing, absl::ZeroDuration());     // file
  EXPECT_EQ(config->github_writes_per_minute, 30);                   // file
  EXPECT_EQ(config->github_writes_per_hour, 300);                    // env
  EXPECT_EQ(config->github_timeout, absl::Milliseconds(120000));     // flag
  EXPECT_EQ(config->github_min_secondary_backoff, absl::Seconds(2));  // file
}

TEST_F(ConfigTest, BadGithubSettingsAreErrors) {
  const std::pair<const char*, const char*> kCases[] = {
      {"GITHUB_CLAIM_SETTLE_MS", "-1"},      {"GITHUB_CLAIM_SETTLE_MS", "60001"},
      {"GITHUB_QUEUE_LABEL", ""},            {"GITHUB_QUEUE_LABEL", "a,b"},
      {"GITHUB_QUEUE_LABEL", " queued"},     {"GITHUB_WRITE_SPACING_MS", "60001"},
      {"GITHUB_WRITES_PER_MINUTE", "0"},     {"GITHUB_WRITES_PER_MINUTE", "10001"},
      {"GITHUB_WRITES_PER_HOUR", "0"},       {"GITHUB_WRITES_PER_HOUR", "100001"},
      {"GITHUB_TIMEOUT_MS", "99"},           {"GITHUB_TIMEOUT_MS", "120001"},
      {"GITHUB_MIN_SECONDARY_BACKOFF_MS", "99"},
      {"GITHUB_MIN_SECONDARY_BACKOFF_MS", "900001"},
  };
  for (const auto& [name, value] : kCases) {
    env_ = {{name, value}};
    EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat(name, " (env) = \"", value, "\": must be")));
  }
  env_ = {{"GITHUB_QUEUE_LABEL", std::string(51, 'q')}};
  EXPECT_THAT(LoadError(), HasSubstr("GITHUB_QUEUE_LABEL (env)"));
  env_ = {{"GITHUB_QUEUE_LABEL", std::string(50, 'q')}};
  EXPECT_TRUE(Load().ok());
}

TEST_F(ConfigTest, DebugStringValuesReadBackAsFlags) {
  env_ = {{"WORKER_ID", "w-7"},
          {"LOCK_TTL_SECONDS", "60"},
          {"LOCK_RETRY_DELAY_MS", "250"},
          {"LOAD_BALANCE_STRATEGY", "adaptive"},
          {"TASK_AFFINITY_ENABLED", "no"},
          {"MEMORY_NAMESPACES", "a, b"},
          {"SUPPORTED_TASK_TYPES", "build,test.unit"},
          {"SENTINEL_HTTP_ADDR", ""},
          {"GITHUB_OWNER", "acme"},
          {"GITHUB_REPO", "jobs"}};
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->lock_retry_delay, absl::Milliseconds(250));
  EXPECT_EQ(config->strategy, Strategy::kAdaptive);
  EXPECT_FALSE(config->affinity_enabled);
  EXPECT_THAT(config->namespaces, ElementsAre("a", "b"));
  EXPECT_THAT(config->supported_task_types, ElementsAre("build", "test.unit"));
  EXPECT_EQ(config->http_addr, "");
  const std::string debug = config->DebugString();
  EXPECT_THAT(debug, HasSubstr("LOCK_TTL_SECONDS=60\n"));
  EXPECT_THAT(debug, HasSubstr("MEMORY_NAMESPACES=a,b\n"));

  env_.clear();
  for (absl::string_view line : absl::StrSplit(debug, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> name_value = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (name_value.first != "GITHUB_TOKEN" && name_value.first != "SENTINEL_API_TOKEN" &&
        name_value.first != "WORKER_SECRET") {
      flags_.insert(name_value);  // secrets show as "(unset)", not as values
    }
  }
  absl::StatusOr<Config> again = Load();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->DebugString(), debug);
}

TEST_F(ConfigTest, TrustSettingsAreCheckedAndTheSecretNeverShows) {
  env_ = {{"SENTINEL_TRUSTED_AUTHORS", "alice, deploy-bot[bot]"},
          {"SENTINEL_TASK_INTAKE", "trusted"},
          {"WORKER_SECRET", "0123456789abcdef-fleet"}};
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->trusted_authors, ElementsAre("alice", "deploy-bot[bot]"));
  EXPECT_EQ(config->task_intake, "trusted");
  EXPECT_EQ(config->worker_secret, "0123456789abcdef-fleet");
  EXPECT_THAT(config->DebugString(), HasSubstr("WORKER_SECRET=(set)\n"));
  EXPECT_THAT(config->DebugString(), Not(HasSubstr("0123456789abcdef-fleet")));

  env_ = {{"SENTINEL_TRUSTED_AUTHORS", "al ice"},
          {"SENTINEL_TASK_INTAKE", "anyone"},
          {"WORKER_SECRET", "short-secret"}};
  absl::StatusOr<Config> bad = Load();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("SENTINEL_TRUSTED_AUTHORS (env)"));
  EXPECT_THAT(bad.status().message(), HasSubstr("SENTINEL_TASK_INTAKE (env) = \"anyone\": must be "
                                                "labelled or trusted"));
  EXPECT_THAT(bad.status().message(), HasSubstr("WORKER_SECRET (env): must be empty or at least 16"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("short-secret")));
}

TEST_F(ConfigTest, OneCredentialAtATimeAndAnAppNeedsAllThreeParts) {
  env_ = {{"GITHUB_APP_ID", "12345"}, {"GITHUB_APP_PRIVATE_KEY_PATH", "/etc/app.pem"}};
  absl::StatusOr<Config> partial = Load();
  ASSERT_FALSE(partial.ok());
  EXPECT_THAT(partial.status().message(), HasSubstr("set all three for a GitHub App identity"));

  env_ = {{"GITHUB_TOKEN", "t0ken-never-shown"}, {"GITHUB_TOKEN_FILE", "/run/secrets/token"}};
  absl::StatusOr<Config> two = Load();
  ASSERT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("set only one"));
  EXPECT_THAT(two.status().message(), Not(HasSubstr("t0ken-never-shown")));

  env_ = {{"GITHUB_APP_ID", "12x"}};
  absl::StatusOr<Config> bad = Load();
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("GITHUB_APP_ID (env) = \"12x\": must be empty or a number"));

  env_ = {{"GITHUB_APP_ID", "12345"},
          {"GITHUB_APP_PRIVATE_KEY_PATH", "/etc/app.pem"},
          {"GITHUB_APP_INSTALLATION_ID", "678"}};
  absl::StatusOr<Config> app = Load();
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ(app->github_app_installation_id, "678");
}

TEST_F(ConfigTest, FlagBeatsEnvBeatsFileBeatsDefault) {
  UseConfigFile(R"({
    "distributed": {
      "locking": {"ttlSeconds": 600, "retryAttempts": 7},
      "loadBalancer": {"strategy": "round_robin"}
    },
    "capacity": {"maxConcurrentTasks": 20}
  })");
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_tasks, 20);
  EXPECT_EQ(config->lock_ttl, absl::Seconds(600));

  env_["WORKER_MAX_TASKS"] = "30";
  env_["LOCK_TTL_SECONDS"] = "900";
  flags_["WORKER_MAX_TASKS"] = "40";
  config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_tasks, 40);                         // flag
  EXPECT_EQ(config->lock_ttl, absl::Seconds(900));          // env
  EXPECT_EQ(config->strategy, Strategy::kRoundRobin);       // file
  EXPECT_EQ(config->lock_retry_attempts, 7);                // file
  EXPECT_EQ(config->lock_delay, absl::Milliseconds(5000));  // default
  EXPECT_EQ(config->config_path, config_path_);
}

TEST_F(ConfigTest, ConfigPathFromFlagBeatsEnv) {
  env_["SENTINEL_CONFIG"] = WriteFile(R"({"capacity": {"maxConcurrentTasks": 11}})");
  flags_["SENTINEL_CONFIG"] = WriteFile(R"({"capacity": {"maxConcurrentTasks": 12}})");
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_tasks, 12);
}

TEST_F(ConfigTest, LoadsTheSeedConfigFile) {
  UseConfigFile(kSeedConfig);
  env_["WORKER_ID"] = "worker-001";
  env_["WORKER_HOSTNAME"] = "build-host-1";
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->worker_id, "worker-001");
  EXPECT_EQ(config->hostname, "build-host-1");
  EXPECT_EQ(config->cpu_cores, 4);
  EXPECT_EQ(config->memory_mb, 8192);
  EXPECT_THAT(config->supported_task_types, ElementsAre("build", "test", "deploy"));
  EXPECT_EQ(config->stale_threshold, absl::Seconds(120));
}

TEST_F(ConfigTest, SeedReferencesToUnsetVariablesFallBackToDefaults) {
  UseConfigFile(kSeedConfig);
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(absl::EndsWith(config->worker_id, absl::StrCat("-", getpid())));
  EXPECT_EQ(config->hostname, Hostname());
}

TEST_F(ConfigTest, ExpandsVariablesInFileStrings) {
  env_ = {{"TTL", "45"}, {"REGION", "eu"}, {"N", "3"}, {"NS", "jobs"}, {"RUN", "/run/ts"}};
  UseConfigFile(R"({
    "distributed": {
      "workerId": "w-${REGION}-${N}${UNSET}",
      "locking": {"ttlSeconds": "${TTL}"},
      "memorySync": {"namespaces": ["${NS}", "tasks"]}
    },
    "sentinel": {"grpcAddr": "unix:${RUN}/grpc.sock", "httpAddr": ""}
  })");
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->worker_id, "w-eu-3");
  EXPECT_EQ(config->lock_ttl, absl::Seconds(45));
  EXPECT_THAT(config->namespaces, ElementsAre("jobs", "tasks"));
  EXPECT_EQ(config->grpc_addr, "unix:/run/ts/grpc.sock");
  EXPECT_EQ(config->http_addr, "");  // a literal "" is a value, not absent
}

TEST_F(ConfigTest, UnterminatedVariableReferenceIsAnError) {
  UseConfigFile(R"({"distributed": {"workerId": "w-${REGION"}})");
  EXPECT_EQ(LoadError(), absl::StrCat("WORKER_ID (config file ", config_path_,
                                      ", distributed.workerId): \"${\" without a closing \"}\""));
}

TEST_F(ConfigTest, HeartbeatStaleThresholdWinsOverRegistry) {
  UseConfigFile(R"({"distributed": {"heartbeat": {"staleThresholdMs": 90000},
                                    "registry": {"staleThresholdMs": 60000}}})");
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->stale_threshold, absl::Seconds(90));
}

TEST_F(ConfigTest, NonIntegerIsAnError) {
  env_["WORKER_MAX_TASKS"] = "abc";
  EXPECT_EQ(LoadError(), "WORKER_MAX_TASKS (env) = \"abc\": must be an integer in 1..10000");
  env_["WORKER_MAX_TASKS"] = " 5";
  EXPECT_THAT(LoadError(), HasSubstr("WORKER_MAX_TASKS (env)"));
  env_.erase("WORKER_MAX_TASKS");
  UseConfigFile(R"({"capacity": {"cpuCores": 1.5}})");
  EXPECT_EQ(LoadError(), absl::StrCat("CPU_CORES (config file ", config_path_,
                                      ", capacity.cpuCores) = \"1.5\": must be an integer in "
                                      "0..4096"));
}

TEST_F(ConfigTest, OutOfRangeIsAnError) {
  flags_["LOCK_TTL_SECONDS"] = "0";
  EXPECT_EQ(LoadError(),
            "LOCK_TTL_SECONDS (flag) = \"0\": must be an integer in 1..86400 (seconds)");
  flags_["LOCK_TTL_SECONDS"] = "86401";
  EXPECT_THAT(LoadError(), HasSubstr("LOCK_TTL_SECONDS (flag) = \"86401\""));
  flags_["LOCK_TTL_SECONDS"] = "99999999999999999999999";
  EXPECT_THAT(LoadError(), HasSubstr("must be an integer in 1..86400"));
  flags_.clear();
  env_["HEARTBEAT_INTERVAL_MS"] = "9";
  EXPECT_EQ(LoadError(),
            "HEARTBEAT_INTERVAL_MS (env) = \"9\": must be an integer in 10..3600000 "
            "(milliseconds)");
}

TEST_F(ConfigTest, BadStrategyIsAnError) {
  env_["LOAD_BALANCE_STRATEGY"] = "fastest";
  EXPECT_EQ(LoadError(),
            "LOAD_BALANCE_STRATEGY (env) = \"fastest\": must be one of round_robin, "
            "least_loaded, capacity_based, affinity, adaptive");
}

TEST_F(ConfigTest, BooleansAcceptTrueFalseOneZeroYesNo) {
  for (const char* yes : {"true", "TRUE", "1", "yes", "Yes"}) {
    env_["TASK_AFFINITY_ENABLED"] = yes;
    absl::StatusOr<Config> config = Load();
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_TRUE(config->affinity_enabled) << yes;
  }
  for (const char* no : {"false", "False", "0", "no", "NO"}) {
    env_["TASK_AFFINITY_ENABLED"] = no;
    absl::StatusOr<Config> config = Load();
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_FALSE(config->affinity_enabled) << no;
  }
  env_["TASK_AFFINITY_ENABLED"] = "maybe";
  EXPECT_EQ(LoadError(),
            "TASK_AFFINITY_ENABLED (env) = \"maybe\": must be true, false, 1, 0, yes or no");
}

TEST_F(ConfigTest, AcceptsHostPortIpv6AndUnixAddresses) {
  env_["SENTINEL_ALLOW_INSECURE"] = "true";  // syntax only; see NonLoopbackAddresses... below
  for (const char* addr : {"0.0.0.0:0", "localhost:65535", "sentinel.internal:50051", "[::1]:50051",
                           "[fe80::1%eth0]:9000", "unix:/tmp/sentinel.sock", "unix:sentinel.sock",
                           "unix:///var/run/sentinel.sock"}) {
    flags_["SENTINEL_GRPC_ADDR"] = addr;
    absl::StatusOr<Config> config = Load();
    ASSERT_TRUE(config.ok()) << addr << ": " << config.status();
    EXPECT_EQ(config->grpc_addr, addr);
  }
  for (const char* addr : {"", "[::]:8080", "127.0.0.1:0"}) {
    flags_["SENTINEL_HTTP_ADDR"] = addr;
    absl::StatusOr<Config> config = Load();
    ASSERT_TRUE(config.ok()) << addr << ": " << config.status();
    EXPECT_EQ(config->http_addr, addr);
  }
}

TEST_F(ConfigTest, BadAddressIsAnError) {
  for (const char* addr : {"", "localhost", ":50051", "host:65536", "host:-1", "host:port",
                           "::1:50051", "[::1]", "[::1]50051", "[zz]:1", "a b:1", "unix:"}) {
    flags_["SENTINEL_GRPC_ADDR"] = addr;
    EXPECT_EQ(LoadError(), absl::StrCat("SENTINEL_GRPC_ADDR (flag) = \"", addr,
                                        "\": must be host:port or [ipv6]:port with port "
                                        "0..65535, or unix:path"));
  }
  flags_.clear();
  env_["SENTINEL_HTTP_ADDR"] = "unix:/tmp/http.sock";
  EXPECT_EQ(LoadError(),
            "SENTINEL_HTTP_ADDR (env) = \"unix:/tmp/http.sock\": must be host:port or "
            "[ipv6]:port with port 0..65535, or empty to disable");
}

TEST_F(ConfigTest, StaleThresholdMustExceedHeartbeatInterval) {
  env_["STALE_WORKER_THRESHOLD_MS"] = "30000";
  EXPECT_EQ(LoadError(),
            "STALE_WORKER_THRESHOLD_MS (env) = \"30000\": must be greater than "
            "HEARTBEAT_INTERVAL_MS (default) = \"30000\"");
  env_.clear();
  flags_["HEARTBEAT_INTERVAL_MS"] = "200000";
  EXPECT_EQ(LoadError(),
            "STALE_WORKER_THRESHOLD_MS (default) = \"120000\": must be greater than "
            "HEARTBEAT_INTERVAL_MS (flag) = \"200000\"");
  flags_["STALE_WORKER_THRESHOLD_MS"] = "200001";
  EXPECT_TRUE(Load().ok());
}

TEST_F(ConfigTest, BadNamespaceIsAnError) {
  env_["MEMORY_NAMESPACES"] = "swarm,Tasks";
  EXPECT_EQ(LoadError(),
            "MEMORY_NAMESPACES (env) = \"swarm,Tasks\": namespace \"Tasks\" is invalid: each "
            "must be 1..64 characters of [a-z0-9_-]");
  env_["MEMORY_NAMESPACES"] = "swarm,,tasks";
  EXPECT_THAT(LoadError(), HasSubstr("namespace \"\" is invalid"));
  env_["MEMORY_NAMESPACES"] = std::string(65, 'a');
  EXPECT_THAT(LoadError(), HasSubstr("is invalid"));
  env_["MEMORY_NAMESPACES"] = "";
  EXPECT_EQ(LoadError(), "MEMORY_NAMESPACES (env) = \"\": must list at least one namespace");
  env_["MEMORY_NAMESPACES"] = " swarm , tasks ";
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->namespaces, ElementsAre("swarm", "tasks"));
}

TEST_F(ConfigTest, DuplicateNamespaceIsAnError) {
  UseConfigFile(R"({"distributed": {"memorySync": {"namespaces": ["swarm", "tasks", "swarm"]}}})");
  EXPECT_EQ(LoadError(), absl::StrCat("MEMORY_NAMESPACES (config file ", config_path_,
                                      ", distributed.memorySync.namespaces) = "
                                      "[\"swarm\",\"tasks\",\"swarm\"]: namespace \"swarm\" is "
                                      "listed twice: each must appear once"));
}

TEST_F(ConfigTest, BadTaskTypeIsAnError) {
  env_["SUPPORTED_TASK_TYPES"] = "build,Deploy";
  EXPECT_THAT(LoadError(), HasSubstr("SUPPORTED_TASK_TYPES (env) = \"build,Deploy\": task type "
                                     "\"Deploy\" is invalid"));
  env_["SUPPORTED_TASK_TYPES"] = "";
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->supported_task_types, IsEmpty());
}

TEST_F(ConfigTest, OtherBadValuesAreErrors) {
  const std::pair<const char*, const char*> kCases[] = {
      {"WORKER_ID", "worker 1"},
      {"WORKER_ID", ""},
      {"WORKER_HOSTNAME", "my host"},
      {"SENTINEL_LOG_LEVEL", "verbose"},
      {"SENTINEL_DATA_DIR", ""},
      {"SENTINEL_POLL_INTERVAL_MS", "0"},
      {"GITHUB_API_URL", "api.github.com"},
      {"GITHUB_OWNER", "acme/corp"},
  };
  for (const auto& [name, value] : kCases) {
    env_ = {{name, value}};
    EXPECT_THAT(LoadError(), HasSubstr(absl::StrCat(name, " (env) = \"", value, "\": must be")));
  }
}

TEST_F(ConfigTest, GithubOwnerAndRepoGoTogether) {
  env_["GITHUB_OWNER"] = "acme";
  EXPECT_EQ(LoadError(),
            "GITHUB_OWNER (env) = \"acme\": GITHUB_REPO must be set too (set both or neither)");
  env_ = {{"GITHUB_REPO", "jobs"}};
  EXPECT_EQ(LoadError(),
            "GITHUB_REPO (env) = \"jobs\": GITHUB_OWNER must be set too (set both or neither)");
  env_["GITHUB_OWNER"] = "acme";
  EXPECT_TRUE(Load().ok());
}

TEST_F(ConfigTest, UnknownFileKeyIsAnError) {
  UseConfigFile(R"({"distributed": {"locking": {"ttlSecond": 5}}})");
  EXPECT_EQ(LoadError(), absl::StrCat("config file ", config_path_,
                                      ": unknown key \"distributed.locking.ttlSecond\" (known "
                                      "keys here: ttlSeconds, retryAttempts, retryDelayMs, "
                                      "lockDelayMs, cleanupIntervalMs)"));
  UseConfigFile(R"({"capacity": {}, "sentinal": {}, "distributed.locking": {}})");
  const std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr("unknown key \"sentinal\""));
  EXPECT_THAT(error, HasSubstr("unknown key \"distributed.locking\""));
}

TEST_F(ConfigTest, WrongJsonTypeIsAnError) {
  UseConfigFile(R"({"distributed": {"locking": {"ttlSeconds": {}}}})");
  EXPECT_EQ(LoadError(), absl::StrCat("LOCK_TTL_SECONDS (config file ", config_path_,
                                      ", distributed.locking.ttlSeconds): expected a number or a "
                                      "string, got object"));
  UseConfigFile(R"({"distributed": {"workerId": 7}})");
  EXPECT_THAT(LoadError(), HasSubstr("distributed.workerId): expected a string, got number"));
  UseConfigFile(R"({"distributed": {"loadBalancer": {"affinityEnabled": 1}}})");
  EXPECT_THAT(LoadError(),
              HasSubstr("affinityEnabled): expected a boolean or a string, got number"));
  UseConfigFile(R"({"capacity": {"supportedTaskTypes": ["build", 2]}})");
  EXPECT_THAT(LoadError(), HasSubstr("SUPPORTED_TASK_TYPES (config file " + config_path_ +
                                     ", capacity.supportedTaskTypes[1]): expected a string, got "
                                     "number"));
  UseConfigFile(R"({"distributed": {"locking": [1]}})");
  EXPECT_EQ(LoadError(), absl::StrCat("config file ", config_path_,
                                      ": distributed.locking: expected an object, got array"));
  UseConfigFile(R"(["distributed"])");
  EXPECT_EQ(LoadError(),
            absl::StrCat("config file ", config_path_, ": expected a JSON object, got array"));
  UseConfigFile(R"({"distributed": {"memorySync": {"conflictResolution": "merge"}}})");
  EXPECT_EQ(LoadError(), absl::StrCat("config file ", config_path_,
                                      ": distributed.memorySync.conflictResolution = \"merge\": "
                                      "must be \"last_write_wins\", the only one supported"));
}

TEST_F(ConfigTest, MissingFileIsAnError) {
  env_["SENTINEL_CONFIG"] = ::testing::TempDir() + "/no-such-config.json";
  EXPECT_EQ(LoadError(), absl::StrCat("SENTINEL_CONFIG (env) = \"", env_["SENTINEL_CONFIG"],
                                      "\": cannot read the config file: No such file or "
                                      "directory"));
}

TEST_F(ConfigTest, MalformedJsonNamesThePathAndPosition) {
  UseConfigFile("{\n  \"capacity\": {\n    \"cpuCores\": 4,\n  }\n}\n");
  const std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr(absl::StrCat("config file ", config_path_,
                                            ": parse error at line 4, column 3")));
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 0) << error;
}

TEST_F(ConfigTest, TokenNeverAppearsInErrorsOrDebugString) {
  // A bad token: named, its value not shown.
  flags_["GITHUB_TOKEN"] = absl::StrCat(kToken, " \n");
  std::string error = LoadError();
  EXPECT_THAT(error, HasSubstr("GITHUB_TOKEN (flag): must not contain whitespace"));
  EXPECT_THAT(error, Not(HasSubstr(kToken)));

  // The token inside other settings' values, from the environment and the config file.
  flags_.clear();
  env_["GITHUB_TOKEN"] = kToken;
  env_["GITHUB_OWNER"] = absl::StrCat(kToken, "!");
  UseConfigFile(absl::StrCat(R"({"distributed": {"workerId": "${GITHUB_TOKEN} x"},)",
                             R"( "github": {"tokn": "${GITHUB_TOKEN}"}})"));
  error = LoadError();
  EXPECT_THAT(error, HasSubstr("GITHUB_OWNER (env)"));
  EXPECT_THAT(error, HasSubstr("WORKER_ID (config file"));
  EXPECT_THAT(error, HasSubstr("(redacted)"));
  EXPECT_THAT(error, Not(HasSubstr(kToken)));

  // A token written literally in a malformed file.
  env_.clear();
  UseConfigFile(absl::StrCat(R"({"github": {"token": ")", kToken, "\n}}"));
  error = LoadError();
  EXPECT_THAT(error, HasSubstr("parse error"));
  EXPECT_THAT(error, Not(HasSubstr(kToken)));

  // A token from the file, and a valid configuration's DebugString.
  UseConfigFile(absl::StrCat(R"({"github": {"token": ")", kToken, R"("}})"));
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->github_token, kToken);
  EXPECT_THAT(config->DebugString(), HasSubstr("GITHUB_TOKEN=(set)\n"));
  EXPECT_THAT(config->DebugString(), Not(HasSubstr(kToken)));
  EXPECT_THAT(Config().DebugString(), HasSubstr("GITHUB_TOKEN=(unset)\n"));
}

TEST_F(ConfigTest, ReportsEveryProblemOneLineEach) {
  env_ = {{"WORKER_MAX_TASKS", "0"}, {"SENTINEL_LOG_LEVEL", "loud"}, {"LOCK_DELAY_MS", "x"}};
  flags_["NO_SUCH_SETTING"] = "1";
  const std::vector<std::string> lines = absl::StrSplit(LoadError(), '\n');
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "unknown setting NO_SUCH_SETTING (flag)");
  EXPECT_TRUE(absl::StartsWith(lines[1], "WORKER_MAX_TASKS (env)")) << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[2], "LOCK_DELAY_MS (env)")) << lines[2];
  EXPECT_TRUE(absl::StartsWith(lines[3], "SENTINEL_LOG_LEVEL (env)")) << lines[3];
}

// Issue #11: a sidecar on a non-loopback address served anyone, with no TLS and no token.
TEST_F(ConfigTest, NonLoopbackAddressesNeedTlsOrATokenUnlessInsecureIsAllowed) {
  flags_["SENTINEL_GRPC_ADDR"] = "0.0.0.0:50051";
  std::string err = LoadError();
  EXPECT_THAT(err, HasSubstr("SENTINEL_GRPC_ADDR (flag) = \"0.0.0.0:50051\""));
  EXPECT_THAT(err, HasSubstr("SENTINEL_ALLOW_INSECURE"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 0) << err;
  env_["SENTINEL_API_TOKEN"] = "0123456789abcdef-token";
  EXPECT_TRUE(Load().ok());
  env_.erase("SENTINEL_API_TOKEN");
  env_["SENTINEL_TLS_CERT"] = "/etc/sentinel/cert.pem";
  env_["SENTINEL_TLS_KEY"] = "/etc/sentinel/key.pem";
  EXPECT_TRUE(Load().ok());  // the files are read when the server starts
  env_.erase("SENTINEL_TLS_CERT");
  env_.erase("SENTINEL_TLS_KEY");
  env_["SENTINEL_ALLOW_INSECURE"] = "true";
  EXPECT_TRUE(Load().ok());
  env_.erase("SENTINEL_ALLOW_INSECURE");
  for (const char* local : {"127.0.0.1:1", "localhost:2", "[::1]:3", "unix:/tmp/s.sock"}) {
    flags_["SENTINEL_GRPC_ADDR"] = local;
    EXPECT_TRUE(Load().ok()) << local;
  }
  // HTTP serves /metrics and /cluster/health: beyond loopback only with a token.
  flags_["SENTINEL_HTTP_ADDR"] = "0.0.0.0:8080";
  EXPECT_THAT(LoadError(), HasSubstr("SENTINEL_HTTP_ADDR (flag)"));
  env_["SENTINEL_API_TOKEN"] = "0123456789abcdef-token";
  EXPECT_TRUE(Load().ok());
}

TEST_F(ConfigTest, TheApiTokenComesFromItsFileAndNeverAppearsInErrors) {
  const std::string secret = "s3cr3t-api-token-0123456789";
  const std::string path = WriteFile(secret + "\n");
  env_["SENTINEL_API_TOKEN_FILE"] = path;
  absl::StatusOr<Config> config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->api_token, secret);
  EXPECT_THAT(config->DebugString(), HasSubstr("SENTINEL_API_TOKEN=(set)"));
  EXPECT_THAT(config->DebugString(), Not(HasSubstr(secret)));

  env_["SENTINEL_API_TOKEN"] = secret;  // both
  std::string err = LoadError();
  EXPECT_THAT(err, HasSubstr("not both"));
  EXPECT_THAT(err, Not(HasSubstr(secret)));
  env_.erase("SENTINEL_API_TOKEN");

  const std::string short_secret = "tiny secret";  // too short, and has a space
  env_["SENTINEL_API_TOKEN_FILE"] = WriteFile(short_secret);
  err = LoadError();
  EXPECT_THAT(err, HasSubstr("SENTINEL_API_TOKEN_FILE"));
  EXPECT_THAT(err, Not(HasSubstr(short_secret)));
  env_["SENTINEL_API_TOKEN"] = short_secret;
  env_.erase("SENTINEL_API_TOKEN_FILE");
  err = LoadError();
  EXPECT_THAT(err, HasSubstr("SENTINEL_API_TOKEN (env)"));
  EXPECT_THAT(err, Not(HasSubstr(short_secret)));
  env_.erase("SENTINEL_API_TOKEN");

  env_["SENTINEL_API_TOKEN_FILE"] = path + ".missing";
  EXPECT_THAT(LoadError(), HasSubstr("cannot open"));
}

TEST_F(ConfigTest, TlsSettingsGoTogetherAndTheSocketModeIsOctal) {
  env_["SENTINEL_TLS_CERT"] = "/c.pem";
  EXPECT_THAT(LoadError(), HasSubstr("SENTINEL_TLS_KEY must be set too"));
  env_["SENTINEL_TLS_KEY"] = "/k.pem";
  EXPECT_TRUE(Load().ok());
  env_.erase("SENTINEL_TLS_CERT");
  env_.erase("SENTINEL_TLS_KEY");
  env_["SENTINEL_TLS_CLIENT_CA"] = "/ca.pem";
  EXPECT_THAT(LoadError(), HasSubstr("needs SENTINEL_TLS_CERT"));
  env_.erase("SENTINEL_TLS_CLIENT_CA");

  EXPECT_EQ(Load()->grpc_socket_mode, 0660);
  env_["SENTINEL_GRPC_SOCKET_MODE"] = "0600";
  EXPECT_EQ(Load()->grpc_socket_mode, 0600);
  for (const char* bad : {"", "0800", "1777", "rw-rw----", "66000"}) {
    env_["SENTINEL_GRPC_SOCKET_MODE"] = bad;
    EXPECT_THAT(LoadError(), HasSubstr("octal")) << bad;
  }
}

}  // namespace
}  // namespace tasksentinel
