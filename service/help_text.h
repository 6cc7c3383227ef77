// `sentinel --help`: the usage, then every setting of core/config's table (AllSettings()) with
// its environment variable, its flag (when it has one), what it allows and its default. The
// text is generated from the table, so it cannot drift from what LoadConfig accepts.
//
// Thread safety: pure function.
#ifndef TASK_SENTINEL_SERVICE_HELP_TEXT_H_
#define TASK_SENTINEL_SERVICE_HELP_TEXT_H_

#include <functional>
#include <string>

namespace tasksentinel {

// The help text. `has_flag(name)` says whether the flag `--name` (the setting's name in lower
// case, e.g. "worker_max_tasks") exists; settings without one (the secrets, which must not
// appear on a command line) are marked "(environment only, no flag)".
std::string SidecarHelp(const std::function<bool(const std::string& flag)>& has_flag);

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_SERVICE_HELP_TEXT_H_
