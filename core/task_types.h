// Which task types a worker takes: the rules both backends' NextTask share.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_CORE_TASK_TYPES_H_
#define TASK_SENTINEL_CORE_TASK_TYPES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tasksentinel {

// Whether a worker configured with SUPPORTED_TASK_TYPES `supported` takes tasks of `type`: an
// empty list takes every type, and untyped tasks go to every worker.
bool Supports(const std::vector<std::string>& supported, const std::string& type);

// Whether a NextTask call that named `requested` types (empty: any the worker supports) may take
// a task of `type`; named types match exactly ("" names untyped tasks).
bool Requested(const std::vector<std::string>& requested, const std::string& type);

// Validates NextTask's `task_types` and keeps those the worker supports (empty when none were
// named). INVALID_ARGUMENT for a malformed type, or when none of the named types is supported.
absl::StatusOr<std::vector<std::string>> ResolveRequestedTypes(
    const std::vector<std::string>& requested, const std::vector<std::string>& supported);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_TASK_TYPES_H_
