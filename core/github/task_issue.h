// A task as a GitHub issue: which issues are tasks, their state labels, their type label, and
// the body that carries the task's text, its result and the sidecar's TASK record.
//
// An issue is a task when it carries one of the state labels: the queue label
// (GITHUB_QUEUE_LABEL, `sentinel:queued`), `sentinel:in-progress`, `sentinel:done` or
// `sentinel:dead-letter`. Its task id is its number in decimal; its type is its `type:NAME`
// label (none: the default type). A person can enqueue a task by opening an issue with the queue
// label: without a TASK record it has priority 0 and the configured attempts.
//
// Body layout (the record is always last, so ParseBody finds it):
//
//   <the task's text>
//
//   ### Result
//   <!-- task-sentinel-result -->
//   <result>
//   <!-- /task-sentinel-result -->
//
//   <!-- task-sentinel {"type":"TASK","v":1,...,"result_bytes":N} -->
//
// The record states the result's length, so a result containing the markers reads back intact.
// A body that would exceed GitHub's 65,536 characters has its result shortened (the text and the
// result are each at most 32 KiB, so this happens only near both limits).
//
// Why it is safe: a PATCH with labels replaces the whole label set; the set written keeps every
// label that is not a state label, so a person's labels survive the sidecar's relabelling.
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_CORE_GITHUB_TASK_ISSUE_H_
#define TASK_SENTINEL_CORE_GITHUB_TASK_ISSUE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/config.h"
#include "core/github/github_api.h"
#include "core/github/record_seal.h"
#include "core/github/records.h"
#include "core/github/trust.h"
#include "core/model.h"

namespace tasksentinel::github {

inline constexpr absl::string_view kTypeLabelPrefix = "type:";

// The state labels.
struct TaskLabels {
  explicit TaskLabels(const Config& config) : queued(config.github_queue_label) {}
  std::string queued;
  std::string in_progress = "sentinel:in-progress";
  std::string done = "sentinel:done";
  std::string dead_letter = "sentinel:dead-letter";

  // The label of `state`.
  const std::string& For(TaskState state) const;
};

// The state an issue's labels give, or nullopt when the issue is not a task.
std::optional<TaskState> TaskStateOf(const Issue& issue, const TaskLabels& labels);

// The issue number a task id names ("42" -> 42), or nullopt when it names none.
std::optional<int64_t> TaskNumber(absl::string_view id);

// A task issue read back.
struct TaskIssue {
  TaskRecord task;
  TaskMeta meta;
  std::string text;  // the task's own text (the body before the result and the record)
};

// Reads task issue `issue` (which TaskStateOf says is a task). `default_max_attempts` applies
// when the record does not set it. With `screen`, the TASK record in the body counts only if it
// passes RecordScreen::ScreenIssueBody at `server_time` (else the task reads as a fresh one and
// `*foreign`, when given, says why).
TaskIssue ReadTaskIssue(const Issue& issue, const TaskLabels& labels,
                        uint32_t default_max_attempts, const RecordScreen* screen = nullptr,
                        absl::Time server_time = absl::InfinitePast(),
                        std::optional<ForeignReason>* foreign = nullptr);

// The body for a task with `text`, `meta` and, when set, `result` (meta.result_bytes is set to
// match; an over-long result is shortened). With `seal`, the record is sealed for issue
// `issue` (0 for an issue not created yet) at `at`.
std::string TaskBody(absl::string_view text, TaskMeta meta,
                     const std::optional<std::string>& result, const RecordSeal* seal = nullptr,
                     int64_t issue = 0, absl::Time at = absl::UnixEpoch());

// The labels of `issue` with its state label set to `state`'s (other labels kept).
std::vector<std::string> LabelsWithState(const Issue& issue, TaskState state,
                                         const TaskLabels& labels);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_TASK_ISSUE_H_
