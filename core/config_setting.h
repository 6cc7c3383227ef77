// Internal to core/config: one setting of the table (how its text parses into its Config field
// and prints back), the value checks the table's entries share, and the factories that build
// entries. config_table.cc holds the table itself, config_file.cc the config-file source and
// config.cc the loader that picks each setting's source and checks the relations between them.
//
// Thread safety: the table is built once and immutable; the functions are pure.
#ifndef TASK_SENTINEL_CORE_CONFIG_SETTING_H_
#define TASK_SENTINEL_CORE_CONFIG_SETTING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/config.h"

namespace tasksentinel::config_internal {

using Json = nlohmann::json;
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

inline constexpr size_t kMaxWorkerIdLength = 128;
inline constexpr int kMaxCpuCores = 4096;
inline constexpr char kConfigSetting[] = "SENTINEL_CONFIG";
inline constexpr char kTokenSetting[] = "GITHUB_TOKEN";
inline constexpr char kSecretSetting[] = "WORKER_SECRET";
inline constexpr char kApiTokenSetting[] = "SENTINEL_API_TOKEN";
inline constexpr char kApiTokenFileSetting[] = "SENTINEL_API_TOKEN_FILE";
inline constexpr size_t kMinApiTokenLength = 16;
inline constexpr size_t kMaxApiTokenLength = 4096;

// Checks an API token's shape without ever quoting it.
absl::Status CheckApiToken(absl::string_view token);

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

// Every setting, in AllSettings() order (config_table.cc).
const std::vector<Setting>& Settings();
// The setting called `name`; nullptr when there is none.
const Setting* FindSetting(absl::string_view name);

// ---- Value checks ----

// INVALID_ARGUMENT "must be <what>".
absl::Status MustBe(absl::string_view what);
// Parses a whole decimal integer (an optional '-', then digits only) within [lo, hi].
bool ParseInt(absl::string_view text, int64_t lo, int64_t hi, int64_t* out);
// Whether every character of `s` satisfies `ok` and `s` has min..max characters.
bool HasChars(absl::string_view s, size_t min, size_t max, bool (*ok)(char));

bool IsAlnum(char c);
bool IsLowerOrDigit(char c);
bool IsIdChar(char c);
bool IsNamespaceChar(char c);
bool IsTaskTypeChar(char c);
bool IsHostnameChar(char c);
bool IsGithubOwnerChar(char c);
bool IsGithubRepoChar(char c);
// A GitHub login character, "[" and "]" included for app bots ("name[bot]").
bool IsGithubLoginChar(char c);
// A label name character: anything printable but a comma (labels are comma-separated in queries).
bool IsLabelChar(char c);
// Printable and not a space: no whitespace or control characters (bytes >= 0x80 are allowed).
bool IsVisible(char c);

// Whether `port` is a decimal port number 0..65535.
bool IsPort(absl::string_view port);
// Whether `addr` is "host:port" (host: name or IPv4 address) or "[ipv6]:port".
bool IsHostPort(absl::string_view addr);
// The comma-separated items of `text`, each stripped of surrounding whitespace; none when `text`
// is blank.
std::vector<std::string> SplitList(absl::string_view text);
// `text` quoted and escaped as a JSON string.
std::string Quote(absl::string_view text);
// The load-balancing strategies' names, e.g. "round_robin, least_loaded, ...".
std::string StrategyNames();

// ---- Factories for the setting table ----

Setting IntSetting(std::string name, std::string description, int Config::*field, int lo, int hi);
// A duration written as a whole number of `unit`s (seconds or milliseconds).
Setting DurationSetting(std::string name, std::string description, absl::Duration Config::*field,
                        absl::Duration unit, int64_t lo, int64_t hi);
Setting BoolSetting(std::string name, std::string description, bool Config::*field);
// A file mode written in octal (e.g. 0660), within 0..0777.
Setting OctalModeSetting(std::string name, std::string description, int Config::*field);
// A path to a file read at start-up; empty for none.
Setting PathSetting(std::string name, std::string description, std::string Config::*field);
// A string accepted when `check` returns OK; `check` explains what is allowed otherwise.
Setting StringSetting(std::string name, std::string description, std::string Config::*field,
                      std::function<absl::Status(absl::string_view)> check);
// A comma-separated list (a JSON array in the config file) of distinct items, each 1..64
// characters satisfying `ok`.
Setting ListSetting(std::string name, std::string description,
                    std::vector<std::string> Config::*field, std::string noun, std::string charset,
                    bool (*ok)(char), bool require_one);
// `setting` with its default described as computed by `how`.
Setting WithComputedDefault(Setting setting, std::string how);
// `setting` marked as never shown.
Setting Secret(Setting setting);

}  // namespace tasksentinel::config_internal

#endif  // TASK_SENTINEL_CORE_CONFIG_SETTING_H_
