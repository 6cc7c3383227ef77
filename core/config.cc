// Configuration (see config.h). Every setting is one entry of a table that knows how to parse the
// setting's text into its Config field and how to print the field back. LoadConfig picks each
// setting's text (flag, else environment, else config file), runs it through the table, then
// checks the relations between settings; the built-in defaults are Config's member initialisers,
// which also give AllSettings() its default values.
#include "core/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace tasksentinel {
namespace {

using Json = nlohmann::json;
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

constexpr size_t kMaxWorkerIdLength = 128;
constexpr int kMaxCpuCores = 4096;
constexpr char kConfigSetting[] = "SENTINEL_CONFIG";
constexpr char kTokenSetting[] = "GITHUB_TOKEN";

// A setting's value as given, before parsing.
struct RawValue {
  // The text, as given in a flag, the environment or a config-file string or number.
  std::string text;
  // The items, when the value is a JSON array in the config file (`text` is then unused).
  std::optional<std::vector<std::string>> items;
  // Where the value came from: "flag", "env" or "config file PATH, JSON.PATH".
  std::string origin;
};

// What a setting's value may be in the config file besides a string.
enum class JsonKind { kNumber, kBool, kString, kList };

// One setting: its name and how to read and print it.
struct Setting {
  std::string name;
  std::string description;
  JsonKind json_kind;
  // Parses `raw` into its field of `config`. On failure, returns INVALID_ARGUMENT whose message
  // says what is allowed (e.g. "must be an integer in 1..10000"), without the setting's name.
  std::function<absl::Status(const RawValue& raw, Config* config)> parse;
  // The field's value in `config`, in the syntax `parse` accepts.
  std::function<std::string(const Config& config)> format;
  // How the default is computed, for settings whose default depends on the machine; empty when
  // the default is Config's member initialiser.
  std::string computed_default;
  // Whether the value must never be shown.
  bool secret = false;
};

absl::Status MustBe(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("must be ", what));
}

// Parses a whole decimal integer (an optional '-', then digits only) within [lo, hi].
bool ParseInt(absl::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  absl::string_view digits = text;
  absl::ConsumePrefix(&digits, "-");
  if (digits.empty()) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int64_t value;
  if (!absl::SimpleAtoi(text, &value) || value < lo || value > hi) return false;
  *out = value;
  return true;
}

// Whether every character of `s` satisfies `ok` and `s` has min..max characters.
bool HasChars(absl::string_view s, size_t min, size_t max, bool (*ok)(char)) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsLowerOrDigit(char c) {
  return absl::ascii_islower(static_cast<unsigned char>(c)) ||
         absl::ascii_isdigit(static_cast<unsigned char>(c));
}
bool IsIdChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '-';
}
bool IsNamespaceChar(char c) { return IsLowerOrDigit(c) || c == '_' || c == '-'; }
bool IsTaskTypeChar(char c) { return IsLowerOrDigit(c) || c == '_' || c == '.' || c == '-'; }
bool IsHostnameChar(char c) { return IsAlnum(c) || c == '.' || c == '-' || c == '_'; }
bool IsGithubOwnerChar(char c) { return IsAlnum(c) || c == '-'; }
bool IsGithubRepoChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }
// A label name character: anything printable but a comma (labels are comma-separated in queries).
bool IsLabelChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u != 0x7f && c != ',';
}
// Printable and not a space: no whitespace or control characters (bytes >= 0x80 are allowed).
bool IsVisible(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

// Whether `port` is a decimal port number 0..65535.
bool IsPort(absl::string_view port) {
  int64_t unused;
  return !absl::StartsWith(port, "-") && ParseInt(port, 0, 65535, &unused);
}

// Whether `addr` is "host:port" (host: name or IPv4 address) or "[ipv6]:port".
bool IsHostPort(absl::string_view addr) {
  if (absl::ConsumePrefix(&addr, "[")) {
    const size_t close = addr.find(']');
    if (close == absl::string_view::npos) return false;
    absl::string_view host = addr.substr(0, close);
    absl::string_view port = addr.substr(close + 1);
    if (!absl::ConsumePrefix(&port, ":")) return false;
    // An IPv6 address, optionally with a zone ("fe80::1%eth0").
    std::pair<absl::string_view, absl::string_view> address_zone =
        absl::StrSplit(host, absl::MaxSplits('%', 1));
    const bool has_zone = host.find('%') != absl::string_view::npos;
    return absl::StrContains(address_zone.first, ':') &&
           HasChars(address_zone.first, 2, 45,
                    [](char c) {
                      return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' ||
                             c == '.';
                    }) &&
           (!has_zone || HasChars(address_zone.second, 1, 64, IsHostnameChar)) && IsPort(port);
  }
  const size_t colon = addr.rfind(':');
  if (colon == absl::string_view::npos) return false;
  return HasChars(addr.substr(0, colon), 1, 253, IsHostnameChar) && IsPort(addr.substr(colon + 1));
}

// The comma-separated items of `text`, each stripped of surrounding whitespace; none when `text`
// is blank.
std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> items;
  if (absl::StripAsciiWhitespace(text).empty()) return items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return items;
}

// `text` quoted and escaped as a JSON string.
std::string Quote(absl::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The load-balancing strategies' names, e.g. "round_robin, least_loaded, ...".
std::string StrategyNames() {
  std::vector<absl::string_view> names;
  for (Strategy s : {Strategy::kRoundRobin, Strategy::kLeastLoaded, Strategy::kCapacityBased,
                     Strategy::kAffinity, Strategy::kAdaptive}) {
    names.push_back(StrategyName(s));
  }
  return absl::StrJoin(names, ", ");
}

// Factories for the setting table.

Setting IntSetting(std::string name, std::string description, int Config::*field, int lo, int hi) {
  return {std::move(name), std::move(description), JsonKind::kNumber,
          [=](const RawValue& raw, Config* config) {
            int64_t value;
            if (!ParseInt(raw.text, lo, hi, &value)) {
              return MustBe(absl::StrCat("an integer in ", lo, "..", hi));
            }
            config->*field = static_cast<int>(value);
            return absl::OkStatus();
          },
          [=](const Config& config) { return absl::StrCat(config.*field); }};
}

// A duration written as a whole number of `unit`s (seconds or milliseconds).
Setting DurationSetting(std::string name, std::string description, absl::Duration Config::*field,
                        absl::Duration unit, int64_t lo, int64_t hi) {
  const char* unit_name = unit == absl::Seconds(1) ? "seconds" : "milliseconds";
  return {std::move(name), std::move(description), JsonKind::kNumber,
          [=](const RawValue& raw, Config* config) {
            int64_t value;
            if (!ParseInt(raw.text, lo, hi, &value)) {
              return MustBe(absl::StrCat("an integer in ", lo, "..", hi, " (", unit_name, ")"));
            }
            config->*field = value * unit;
            return absl::OkStatus();
          },
          [=](const Config& config) { return absl::StrCat(config.*field / unit); }};
}

Setting BoolSetting(std::string name, std::string description, bool Config::*field) {
  return {std::move(name), std::move(description), JsonKind::kBool,
          [=](const RawValue& raw, Config* config) {
            const std::string text = absl::AsciiStrToLower(raw.text);
            if (text == "true" || text == "1" || text == "yes") {
              config->*field = true;
            } else if (text == "false" || text == "0" || text == "no") {
              config->*field = false;
            } else {
              return MustBe("true, false, 1, 0, yes or no");
            }
            return absl::OkStatus();
          },
          [=](const Config& config) { return std::string(config.*field ? "true" : "false"); }};
}

// A string accepted when `check` returns OK; `check` explains what is allowed otherwise.
Setting StringSetting(std::string name, std::string description, std::string Config::*field,
                      std::function<absl::Status(absl::string_view)> check) {
  return {std::move(name), std::move(description), JsonKind::kString,
          [=](const RawValue& raw, Config* config) {
            absl::Status status = check(raw.text);
            if (status.ok()) config->*field = raw.text;
            return status;
          },
          [=](const Config& config) { return config.*field; }};
}

// A comma-separated list (a JSON array in the config file) of distinct items, each 1..64
// characters satisfying `ok`.
Setting ListSetting(std::string name, std::string description,
                    std::vector<std::string> Config::*field, std::string noun, std::string charset,
                    bool (*ok)(char), bool require_one) {
  return {
      std::move(name), std::move(description), JsonKind::kList,
      [=](const RawValue& raw, Config* config) {
        std::vector<std::string> items = raw.items ? *raw.items : SplitList(raw.text);
        if (require_one && items.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("must list at least one ", noun));
        }
        std::set<absl::string_view> seen;
        for (const std::string& item : items) {
          if (!HasChars(item, 1, 64, ok)) {
            return absl::InvalidArgumentError(absl::StrCat(
                noun, " ", Quote(item), " is invalid: each must be 1..64 characters of ", charset));
          }
          if (!seen.insert(item).second) {
            return absl::InvalidArgumentError(
                absl::StrCat(noun, " ", Quote(item), " is listed twice: each must appear once"));
          }
        }
        config->*field = std::move(items);
        return absl::OkStatus();
      },
      [=](const Config& config) { return absl::StrJoin(config.*field, ","); }};
}

Setting WithComputedDefault(Setting setting, std::string how) {
  setting.computed_default = std::move(how);
  return setting;
}

Setting Secret(Setting setting) {
  setting.secret = true;
  return setting;
}

// Every setting, in AllSettings() order.
const std::vector<Setting>& Settings() {
  static const std::vector<Setting>* const kSettings = new std::vector<Setting>{
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
  return *kSettings;
}

const Setting* FindSetting(absl::string_view name) {
  for (const Setting& setting : Settings()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

// The config file's keys, as dotted paths. Objects are the paths' proper prefixes.
struct FileKey {
  const char* path;
  // The setting the key gives; nullptr for a key of the seed's that Task Sentinel does not use.
  const char* setting;
};

// When two keys give the same setting, the later one wins.
constexpr FileKey kFileKeys[] = {
    {"distributed.enabled", nullptr},
    {"distributed.workerId", "WORKER_ID"},
    {"distributed.hostname", "WORKER_HOSTNAME"},
    {"distributed.locking.ttlSeconds", "LOCK_TTL_SECONDS"},
    {"distributed.locking.retryAttempts", "LOCK_RETRY_ATTEMPTS"},
    {"distributed.locking.retryDelayMs", "LOCK_RETRY_DELAY_MS"},
    {"distributed.locking.lockDelayMs", "LOCK_DELAY_MS"},
    {"distributed.locking.cleanupIntervalMs", nullptr},
    {"distributed.registry.maxWorkers", nullptr},
    {"distributed.registry.healthCheckIntervalMs", nullptr},
    {"distributed.registry.staleThresholdMs", "STALE_WORKER_THRESHOLD_MS"},
    {"distributed.heartbeat.intervalMs", "HEARTBEAT_INTERVAL_MS"},
    {"distributed.heartbeat.staleThresholdMs", "STALE_WORKER_THRESHOLD_MS"},
    {"distributed.heartbeat.recoveryEnabled", nullptr},
    {"distributed.loadBalancer.strategy", "LOAD_BALANCE_STRATEGY"},
    {"distributed.loadBalancer.affinityEnabled", "TASK_AFFINITY_ENABLED"},
    {"distributed.loadBalancer.rebalanceIntervalMs", nullptr},
    {"distributed.memorySync.intervalMs", "MEMORY_SYNC_INTERVAL_MS"},
    {"distributed.memorySync.conflictResolution", nullptr},  // Checked in FileReader::Leaf.
    {"distributed.memorySync.cacheSize", "MEMORY_CACHE_SIZE"},
    {"distributed.memorySync.namespaces", "MEMORY_NAMESPACES"},
    {"capacity.maxConcurrentTasks", "WORKER_MAX_TASKS"},
    {"capacity.cpuCores", "CPU_CORES"},
    {"capacity.memoryMb", "MEMORY_MB"},
    {"capacity.supportedTaskTypes", "SUPPORTED_TASK_TYPES"},
    {"github.owner", "GITHUB_OWNER"},
    {"github.repo", "GITHUB_REPO"},
    {"github.apiUrl", "GITHUB_API_URL"},
    {"github.token", kTokenSetting},
    {"github.claimSettleMs", "GITHUB_CLAIM_SETTLE_MS"},
    {"github.queueLabel", "GITHUB_QUEUE_LABEL"},
    {"github.writeSpacingMs", "GITHUB_WRITE_SPACING_MS"},
    {"github.writesPerMinute", "GITHUB_WRITES_PER_MINUTE"},
    {"github.writesPerHour", "GITHUB_WRITES_PER_HOUR"},
    {"github.timeoutMs", "GITHUB_TIMEOUT_MS"},
    {"github.pollIntervalMs", "GITHUB_POLL_INTERVAL_MS"},
    {"github.minSecondaryBackoffMs", "GITHUB_MIN_SECONDARY_BACKOFF_MS"},
    {"sentinel.grpcAddr", "SENTINEL_GRPC_ADDR"},
    {"sentinel.httpAddr", "SENTINEL_HTTP_ADDR"},
    {"sentinel.dataDir", "SENTINEL_DATA_DIR"},
};
constexpr absl::string_view kConflictResolutionPath = "distributed.memorySync.conflictResolution";

// Replaces each "${VAR}" in `in` by VAR's value in `env` (empty when unset). Sets
// `*only_references`, when given, to whether `in` consists of references and nothing else.
absl::StatusOr<std::string> ExpandVariables(absl::string_view in, const EnvLookup& env,
                                            bool* only_references = nullptr) {
  std::string out;
  bool literal = false;
  bool reference = false;
  while (!in.empty()) {
    const size_t start = in.find("${");
    literal = literal || start != 0;
    if (start == absl::string_view::npos) {
      absl::StrAppend(&out, in);
      break;
    }
    absl::StrAppend(&out, in.substr(0, start));
    const size_t end = in.find('}', start);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError("\"${\" without a closing \"}\"");
    }
    const absl::string_view name = in.substr(start + 2, end - start - 2);
    if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0])) ||
        !HasChars(name, 1, name.size(), [](char c) { return IsAlnum(c) || c == '_'; })) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(absl::StrCat("${", name, "}")),
                       " is not a variable reference: names are [A-Za-z_][A-Za-z0-9_]*"));
    }
    absl::StrAppend(&out, env(std::string(name)).value_or(""));
    reference = true;
    in.remove_prefix(end + 1);
  }
  if (only_references != nullptr) *only_references = reference && !literal;
  return out;
}

// Reports each parse error of a JSON text; accepts every other event.
class ParseErrorRecorder : public Json::json_sax_t {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const Json::exception& e) override {
    message_ = e.what();
    return false;
  }

  // The error, e.g. "parse error at line 3, column 5: syntax error while parsing object -
  // unexpected '}'; expected string literal". The text near the error is left out: it may be
  // a secret.
  std::string message() const {
    absl::string_view message = message_;
    const size_t bracket = message.find("] ");
    if (bracket != absl::string_view::npos) message.remove_prefix(bracket + 2);
    return std::string(message.substr(0, message.find("; last read:")));
  }

 private:
  std::string message_ = "parse error";
};

// Reads the whole file at `path`; on failure returns the system's reason.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(std::generic_category().message(errno));
  }
  std::string contents;
  char buffer[8192];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) contents.append(buffer, n);
  const int error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (error != 0) return absl::InvalidArgumentError(std::generic_category().message(error));
  return contents;
}

// The settings a config file gives, keyed by setting name.
struct FileValue {
  size_t key_index;  // into kFileKeys
  RawValue raw;
};
using FileValues = std::map<std::string, FileValue>;

// Reads one config file into FileValues, appending a line to `errors` for each problem.
class FileReader {
 public:
  FileReader(std::string path, const EnvLookup& env, FileValues* values,
             std::vector<std::string>* errors)
      : path_(std::move(path)), env_(env), values_(values), errors_(errors) {}

  // Reads the file. `origin` names where its path came from, e.g. "SENTINEL_CONFIG (env)".
  void Read(absl::string_view origin) {
    absl::StatusOr<std::string> text = ReadFile(path_);
    if (!text.ok()) {
      errors_->push_back(absl::StrCat(origin, " = ", Quote(path_),
                                      ": cannot read the config file: ", text.status().message()));
      return;
    }
    Json json = Json::parse(*text, /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) {
      ParseErrorRecorder recorder;
      Json::sax_parse(*text, &recorder);
      errors_->push_back(absl::StrCat("config file ", path_, ": ", recorder.message()));
      return;
    }
    if (!json.is_object()) {
      errors_->push_back(
          absl::StrCat("config file ", path_, ": expected a JSON object, got ", json.type_name()));
      return;
    }
    Walk(json, "");
  }

 private:
  // Reads the members of `object`, found at the dotted path `prefix` ("" at the top).
  void Walk(const Json& object, const std::string& prefix) {
    for (const auto& member : object.items()) {
      const std::string& key = member.key();
      const Json& value = member.value();
      const std::string path = prefix.empty() ? key : absl::StrCat(prefix, ".", key);
      const bool plain_key = !absl::StrContains(key, '.');  // "a.b" must be nested objects
      if (std::optional<size_t> index = FindFileKey(path); plain_key && index) {
        Leaf(*index, value, path);
        continue;
      }
      if (plain_key && IsObjectPath(path)) {
        if (value.is_object()) {
          Walk(value, path);
        } else {
          errors_->push_back(absl::StrCat("config file ", path_, ": ", path,
                                          ": expected an object, got ", value.type_name()));
        }
        continue;
      }
      errors_->push_back(absl::StrCat("config file ", path_, ": unknown key ", Quote(path),
                                      " (known keys here: ", KnownKeysUnder(prefix), ")"));
    }
  }

  // The index in kFileKeys of the key at `path`, if there is one.
  static std::optional<size_t> FindFileKey(absl::string_view path) {
    for (size_t i = 0; i < std::size(kFileKeys); ++i) {
      if (kFileKeys[i].path == path) return i;
    }
    return std::nullopt;
  }

  static bool IsObjectPath(absl::string_view path) {
    for (const FileKey& key : kFileKeys) {
      if (absl::StartsWith(key.path, absl::StrCat(path, "."))) return true;
    }
    return false;
  }

  // The distinct names of the keys directly under `prefix`, e.g. "capacity, distributed, ...".
  static std::string KnownKeysUnder(absl::string_view prefix) {
    std::vector<std::string> names;
    for (const FileKey& key : kFileKeys) {
      absl::string_view rest = key.path;
      if (!prefix.empty() && !absl::ConsumePrefix(&rest, absl::StrCat(prefix, "."))) continue;
      std::string name(rest.substr(0, rest.find('.')));
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return absl::StrJoin(names, ", ");
  }

  // Reads the value of kFileKeys[index], found at `path`.
  void Leaf(size_t index, const Json& value, const std::string& path) {
    const char* setting_name = kFileKeys[index].setting;
    if (setting_name == nullptr) {
      if (path == kConflictResolutionPath) CheckConflictResolution(value, path);
      return;
    }
    const Setting& setting = *FindSetting(setting_name);
    RawValue raw{"", std::nullopt, absl::StrCat("config file ", path_, ", ", path)};
    auto fail = [&](absl::string_view origin, absl::string_view problem) {
      errors_->push_back(absl::StrCat(setting.name, " (", origin, "): ", problem));
    };
    if (value.is_string()) {
      bool only_references;
      absl::StatusOr<std::string> text =
          ExpandVariables(value.get_ref<const std::string&>(), env_, &only_references);
      if (!text.ok()) return fail(raw.origin, text.status().message());
      if (text->empty() && only_references) return;  // e.g. "${WORKER_ID}" with it unset
      raw.text = *std::move(text);
    } else if (setting.json_kind == JsonKind::kNumber && value.is_number()) {
      raw.text = value.dump();
    } else if (setting.json_kind == JsonKind::kBool && value.is_boolean()) {
      raw.text = value.get<bool>() ? "true" : "false";
    } else if (setting.json_kind == JsonKind::kList && value.is_array()) {
      raw.items.emplace();
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item_origin = absl::StrCat(raw.origin, "[", i, "]");
        if (!value[i].is_string()) {
          return fail(item_origin, absl::StrCat("expected a string, got ", value[i].type_name()));
        }
        absl::StatusOr<std::string> item =
            ExpandVariables(value[i].get_ref<const std::string&>(), env_);
        if (!item.ok()) return fail(item_origin, item.status().message());
        raw.items->push_back(*std::move(item));
      }
    } else {
      static constexpr const char* kExpected[] = {"a number or a string", "a boolean or a string",
                                                  "a string", "an array of strings or a string"};
      return fail(raw.origin,
                  absl::StrCat("expected ", kExpected[static_cast<int>(setting.json_kind)],
                               ", got ", value.type_name()));
    }
    auto it = values_->find(setting.name);
    if (it == values_->end() || it->second.key_index < index) {
      (*values_)[setting.name] = FileValue{index, std::move(raw)};
    }
  }

  // Task Sentinel resolves memory conflicts by last write only; refuse a file asking otherwise.
  void CheckConflictResolution(const Json& value, const std::string& path) {
    const std::string where = absl::StrCat("config file ", path_, ": ", path);
    if (!value.is_string()) {
      errors_->push_back(absl::StrCat(where, ": expected a string, got ", value.type_name()));
      return;
    }
    absl::StatusOr<std::string> text = ExpandVariables(value.get_ref<const std::string&>(), env_);
    if (!text.ok()) {
      errors_->push_back(absl::StrCat(where, ": ", text.status().message()));
    } else if (*text != "last_write_wins") {
      errors_->push_back(absl::StrCat(where, " = ", Quote(*text),
                                      ": must be \"last_write_wins\", the only one supported"));
    }
  }

  const std::string path_;
  const EnvLookup& env_;
  FileValues* const values_;
  std::vector<std::string>* const errors_;
};

std::string SystemHostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// "<hostname>-<pid>", with characters a worker id may not contain replaced by '-' and the
// hostname shortened to fit.
std::string DefaultWorkerId(absl::string_view hostname) {
  const std::string suffix = absl::StrCat("-", getpid());
  std::string id = absl::StrCat(hostname.substr(0, kMaxWorkerIdLength - suffix.size()), suffix);
  for (char& c : id) {
    if (!IsIdChar(c)) c = '-';
  }
  return id;
}

std::string DefaultDataDir(const EnvLookup& env) {
  const std::string xdg = env("XDG_DATA_HOME").value_or("");
  if (absl::StartsWith(xdg, "/")) return absl::StrCat(xdg, "/task-sentinel");
  const std::string home = env("HOME").value_or("");
  if (!home.empty()) return absl::StrCat(home, "/.local/share/task-sentinel");
  return "./.task-sentinel";
}

// Config's defaults, with the machine-dependent ones filled in.
Config Defaults(const EnvLookup& env) {
  Config config;
  config.hostname = SystemHostname();
  config.worker_id = DefaultWorkerId(config.hostname);
  config.cpu_cores = std::min(static_cast<int>(std::thread::hardware_concurrency()), kMaxCpuCores);
  config.data_dir = DefaultDataDir(env);
  return config;
}

// Resolves and validates every setting; see LoadConfig.
class Loader {
 public:
  explicit Loader(const ConfigSources& sources) : sources_(sources) {
    env_ = [this](const std::string& name) -> std::optional<std::string> {
      return sources_.env ? sources_.env(name) : std::nullopt;
    };
  }
  Loader(const Loader&) = delete;  // env_ refers to this
  Loader& operator=(const Loader&) = delete;

  absl::StatusOr<Config> Load() {
    for (const auto& [name, value] : sources_.flags) {
      if (FindSetting(name) == nullptr) {
        errors_.push_back(absl::StrCat("unknown setting ", name, " (flag)"));
      }
    }
    if (std::optional<RawValue> path = FromCommandLine(kConfigSetting);
        path && !path->text.empty()) {
      FileReader(path->text, env_, &file_values_, &errors_)
          .Read(absl::StrCat(kConfigSetting, " (", path->origin, ")"));
    }
    Config config = Defaults(env_);
    for (const Setting& setting : Settings()) {
      std::optional<RawValue> raw = FromCommandLine(setting.name);
      if (!raw) {
        auto it = file_values_.find(setting.name);
        if (it == file_values_.end()) continue;
        raw = it->second.raw;
      }
      origins_[setting.name] = raw->origin;
      absl::Status status = setting.parse(*raw, &config);
      if (status.ok()) continue;
      invalid_.insert(setting.name);
      errors_.push_back(
          setting.secret
              ? absl::StrCat(setting.name, " (", raw->origin, "): ", status.message())
              : absl::StrCat(
                    setting.name, " (", raw->origin, ") = ",
                    raw->items
                        ? Json(*raw->items).dump(-1, ' ', false, Json::error_handler_t::replace)
                        : Quote(raw->text),
                    ": ", status.message()));
    }
    CheckRelations(config);
    if (errors_.empty()) return config;
    return absl::InvalidArgumentError(WithoutSecrets(absl::StrJoin(errors_, "\n")));
  }

 private:
  // The setting's value from a flag, else from the environment, else none.
  std::optional<RawValue> FromCommandLine(const std::string& name) const {
    if (auto it = sources_.flags.find(name); it != sources_.flags.end()) {
      return RawValue{it->second, std::nullopt, "flag"};
    }
    if (std::optional<std::string> value = env_(name)) {
      return RawValue{*std::move(value), std::nullopt, "env"};
    }
    return std::nullopt;
  }

  // The relations between settings, checked once both sides are valid.
  void CheckRelations(const Config& config) {
    auto valid = [this](const char* name) { return invalid_.count(name) == 0; };
    if (valid("STALE_WORKER_THRESHOLD_MS") && valid("HEARTBEAT_INTERVAL_MS") &&
        config.stale_threshold <= config.heartbeat_interval) {
      errors_.push_back(absl::StrCat(Stated("STALE_WORKER_THRESHOLD_MS", config),
                                     ": must be greater than ",
                                     Stated("HEARTBEAT_INTERVAL_MS", config)));
    }
    if (valid("GITHUB_OWNER") && valid("GITHUB_REPO") &&
        config.github_owner.empty() != config.github_repo.empty()) {
      const bool owner_set = !config.github_owner.empty();
      errors_.push_back(absl::StrCat(Stated(owner_set ? "GITHUB_OWNER" : "GITHUB_REPO", config),
                                     ": ", owner_set ? "GITHUB_REPO" : "GITHUB_OWNER",
                                     " must be set too (set both or neither)"));
    }
  }

  // `NAME (origin) = "value"` for the setting's value in `config`.
  std::string Stated(const char* name, const Config& config) const {
    auto it = origins_.find(name);
    return absl::StrCat(name, " (", it == origins_.end() ? "default" : it->second,
                        ") = ", Quote(FindSetting(name)->format(config)));
  }

  // `message` with every token given anywhere (flag, env or file) replaced by "(redacted)".
  std::string WithoutSecrets(std::string message) const {
    std::vector<std::string> tokens;
    if (auto it = sources_.flags.find(kTokenSetting); it != sources_.flags.end()) {
      tokens.push_back(it->second);
    }
    if (std::optional<std::string> token = env_(kTokenSetting)) tokens.push_back(*token);
    if (auto it = file_values_.find(kTokenSetting); it != file_values_.end()) {
      tokens.push_back(it->second.raw.text);
    }
    // Longest first, so that no token is left half-replaced by one it contains.
    std::sort(tokens.begin(), tokens.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& token : tokens) {
      if (!token.empty()) absl::StrReplaceAll({{token, "(redacted)"}}, &message);
    }
    return message;
  }

  const ConfigSources& sources_;
  EnvLookup env_;
  FileValues file_values_;
  std::map<std::string, std::string> origins_;  // of the settings not left at their defaults
  std::set<std::string> invalid_;               // settings whose values did not parse
  std::vector<std::string> errors_;
};

}  // namespace

std::string Config::DebugString() const {
  std::string out;
  for (const Setting& setting : Settings()) {
    std::string value = setting.format(*this);
    if (setting.secret) value = value.empty() ? "(unset)" : "(set)";
    absl::StrAppend(&out, setting.name, "=", value, "\n");
  }
  return out;
}

absl::StatusOr<Config> LoadConfig(const ConfigSources& sources) { return Loader(sources).Load(); }

const std::vector<SettingInfo>& AllSettings() {
  static const std::vector<SettingInfo>* const kInfos = [] {
    auto* infos = new std::vector<SettingInfo>;
    const Config defaults;
    for (const Setting& setting : Settings()) {
      infos->push_back(
          {setting.name, setting.description,
           setting.computed_default.empty() ? setting.format(defaults) : setting.computed_default});
    }
    return infos;
  }();
  return *kInfos;
}

}  // namespace tasksentinel
