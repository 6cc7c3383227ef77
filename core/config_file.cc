// The config-file source (see config_file.h).
#include "core/config_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace tasksentinel::config_internal {

// Replaces each "${VAR}" in `in` by VAR's value in `env` (empty when unset). Sets
// `*only_references`, when given, to whether `in` consists of references and nothing else.
absl::StatusOr<std::string> ExpandVariables(absl::string_view in, const EnvLookup& env,
                                            bool* only_references) {
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

namespace {

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
    {"github.idleRenewIntervalMs", "GITHUB_IDLE_RENEW_INTERVAL_MS"},
    {"github.timeoutMs", "GITHUB_TIMEOUT_MS"},
    {"github.pollIntervalMs", "GITHUB_POLL_INTERVAL_MS"},
    {"github.minSecondaryBackoffMs", "GITHUB_MIN_SECONDARY_BACKOFF_MS"},
    {"sentinel.grpcAddr", "SENTINEL_GRPC_ADDR"},
    {"sentinel.httpAddr", "SENTINEL_HTTP_ADDR"},
    {"sentinel.dataDir", "SENTINEL_DATA_DIR"},
    {"github.tokenFile", "GITHUB_TOKEN_FILE"},
    {"github.app.id", "GITHUB_APP_ID"},
    {"github.app.privateKeyPath", "GITHUB_APP_PRIVATE_KEY_PATH"},
    {"github.app.installationId", "GITHUB_APP_INSTALLATION_ID"},
    {"security.trustedAuthors", "SENTINEL_TRUSTED_AUTHORS"},
    {"security.taskIntake", "SENTINEL_TASK_INTAKE"},
    {"security.workerSecret", "WORKER_SECRET"},
    {"sentinel.apiTokenFile", "SENTINEL_API_TOKEN_FILE"},
    {"sentinel.tlsCert", "SENTINEL_TLS_CERT"},
    {"sentinel.tlsKey", "SENTINEL_TLS_KEY"},
    {"sentinel.tlsClientCa", "SENTINEL_TLS_CLIENT_CA"},
    {"sentinel.grpcSocketMode", "SENTINEL_GRPC_SOCKET_MODE"},
    {"sentinel.allowInsecure", "SENTINEL_ALLOW_INSECURE"},
    {"sentinel.maxWatches", "SENTINEL_MAX_WATCHES"},
};
constexpr absl::string_view kConflictResolutionPath = "distributed.memorySync.conflictResolution";

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

}  // namespace

void ReadConfigFile(const std::string& path, absl::string_view origin, const EnvLookup& env,
                    FileValues* values, std::vector<std::string>* errors) {
  FileReader(path, env, values, errors).Read(origin);
}

}  // namespace tasksentinel::config_internal
