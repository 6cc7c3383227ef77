// Internal to core/config: the config-file source (task-sentinel.config.json). The seed's JSON
// shape (distributed.{locking, registry, heartbeat, loadBalancer, memorySync}, capacity) plus
// Task Sentinel's github and sentinel sections; string values may reference environment variables
// as ${VAR}. Unknown keys, wrong JSON types and unreadable files are reported, never ignored.
//
// Thread safety: pure functions of their arguments.
#ifndef TASK_SENTINEL_CORE_CONFIG_FILE_H_
#define TASK_SENTINEL_CORE_CONFIG_FILE_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/config_setting.h"

namespace tasksentinel::config_internal {

// The settings a config file gives, keyed by setting name.
struct FileValue {
  size_t key_index;  // into kFileKeys
  RawValue raw;
};
using FileValues = std::map<std::string, FileValue>;

// Reads the config file at `path` into `values`, appending a line to `errors` for each problem.
// `origin` names where the path came from, e.g. "SENTINEL_CONFIG (env)".
void ReadConfigFile(const std::string& path, absl::string_view origin, const EnvLookup& env,
                    FileValues* values, std::vector<std::string>* errors);

// Replaces each "${VAR}" in `in` by VAR's value in `env` (empty when unset). Sets
// `*only_references`, when given, to whether `in` consists of references and nothing else.
absl::StatusOr<std::string> ExpandVariables(absl::string_view in, const EnvLookup& env,
                                            bool* only_references = nullptr);

}  // namespace tasksentinel::config_internal

#endif  // TASK_SENTINEL_CORE_CONFIG_FILE_H_
