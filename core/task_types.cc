// Task type rules (see task_types.h).
#include "core/task_types.h"

#include <algorithm>

#include "core/validation.h"

namespace tasksentinel {

bool Supports(const std::vector<std::string>& supported, const std::string& type) {
  return supported.empty() || type.empty() ||
         std::find(supported.begin(), supported.end(), type) != supported.end();
}

bool Requested(const std::vector<std::string>& requested, const std::string& type) {
  return requested.empty() ||
         std::find(requested.begin(), requested.end(), type) != requested.end();
}

absl::StatusOr<std::vector<std::string>> ResolveRequestedTypes(
    const std::vector<std::string>& requested, const std::vector<std::string>& supported) {
  for (const std::string& type : requested) {
    if (absl::Status s = ValidateTaskType("task_types", type); !s.ok()) return s;
  }
  std::vector<std::string> wanted;
  for (const std::string& type : requested) {
    if (Supports(supported, type)) wanted.push_back(type);
  }
  if (!requested.empty() && wanted.empty()) {
    return absl::InvalidArgumentError(
        "none of the requested task_types is supported by this worker (SUPPORTED_TASK_TYPES)");
  }
  return wanted;
}

}  // namespace tasksentinel
