// Tasks as GitHub issues (see task_issue.h).
#include "core/github/task_issue.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tasksentinel::github {
namespace {

constexpr absl::string_view kResultHeading = "### Result\n";
constexpr absl::string_view kResultOpen = "<!-- task-sentinel-result -->\n";
constexpr absl::string_view kResultClose = "\n<!-- /task-sentinel-result -->";
// Room left under GitHub's 65,536 characters for everything but the result.
constexpr size_t kMaxBody = 65000;

bool HasLabel(const Issue& issue, const std::string& label) {
  return std::find(issue.labels.begin(), issue.labels.end(), label) != issue.labels.end();
}

// Splits the text before the record into the task's text and its result.
void SplitResult(absl::string_view before_record, int64_t result_bytes, std::string* text,
                 std::optional<std::string>* result) {
  absl::string_view rest = before_record;
  if (absl::ConsumeSuffix(&rest, kResultClose)) {
    size_t open = absl::string_view::npos;
    if (result_bytes >= 0 && static_cast<size_t>(result_bytes) + kResultOpen.size() <= rest.size() &&
        absl::EndsWith(rest.substr(0, rest.size() - result_bytes), kResultOpen)) {
      open = rest.size() - result_bytes - kResultOpen.size();
    } else {
      open = rest.rfind(kResultOpen);  // edited by hand: best effort
    }
    if (open != absl::string_view::npos) {
      *result = std::string(rest.substr(open + kResultOpen.size()));
      absl::string_view head = rest.substr(0, open);
      absl::ConsumeSuffix(&head, kResultHeading);
      while (absl::ConsumeSuffix(&head, "\n")) {
      }
      *text = std::string(head);
      return;
    }
  }
  *text = std::string(before_record);
}

}  // namespace

const std::string& TaskLabels::For(TaskState state) const {
  switch (state) {
    case TaskState::kQueued:
      return queued;
    case TaskState::kInProgress:
      return in_progress;
    case TaskState::kDone:
      return done;
    case TaskState::kDeadLetter:
    default:
      return dead_letter;
  }
}

std::optional<TaskState> TaskStateOf(const Issue& issue, const TaskLabels& labels) {
  if (HasLabel(issue, labels.dead_letter)) return TaskState::kDeadLetter;
  if (HasLabel(issue, labels.done)) return TaskState::kDone;
  const bool in_progress = HasLabel(issue, labels.in_progress);
  const bool queued = HasLabel(issue, labels.queued);
  if (!in_progress && !queued) return std::nullopt;
  // Closed by a person before it was done: it will not run.
  if (!issue.open) return TaskState::kDeadLetter;
  return in_progress ? TaskState::kInProgress : TaskState::kQueued;
}

std::optional<int64_t> TaskNumber(absl::string_view id) {
  if (id.empty() || id.size() > 18 || id[0] == '0') return std::nullopt;
  for (char c : id) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(id, &n) || n <= 0) return std::nullopt;
  return n;
}

TaskIssue ReadTaskIssue(const Issue& issue, const TaskLabels& labels,
                        uint32_t default_max_attempts, const RecordScreen* screen,
                        absl::Time server_time, std::optional<ForeignReason>* foreign) {
  TaskIssue out;
  ParsedBody parsed = ParseBody(issue.body);
  if (screen != nullptr) {
    std::optional<ForeignReason> reason =
        screen->ScreenIssueBody(issue.number, server_time, parsed);
    if (foreign != nullptr) *foreign = reason;
  }
  const TaskMeta* meta = parsed.record.has_value() ? std::get_if<TaskMeta>(&*parsed.record)
                                                   : nullptr;
  std::optional<std::string> result;
  if (meta != nullptr) {
    out.meta = *meta;
    SplitResult(parsed.text, meta->result_bytes, &out.text, &result);
  } else {
    out.text = issue.body;  // a person's issue
  }
  TaskRecord& t = out.task;
  t.id = absl::StrCat(issue.number);
  t.seq = static_cast<uint64_t>(issue.number);
  t.title = issue.title;
  t.body = out.text;
  for (const std::string& label : issue.labels) {
    if (absl::StartsWith(label, kTypeLabelPrefix)) {
      t.type = label.substr(kTypeLabelPrefix.size());
      break;
    }
  }
  t.priority = out.meta.priority;
  t.state = TaskStateOf(issue, labels).value_or(TaskState::kQueued);
  t.attempts = out.meta.attempts;
  t.max_attempts = out.meta.max_attempts != 0 ? out.meta.max_attempts : default_max_attempts;
  t.created_at = issue.created_at;
  t.updated_at = issue.updated_at;
  t.not_before = std::max(issue.created_at, out.meta.not_before);
  t.worker_id = out.meta.worker_id;
  t.lock_token = out.meta.token;
  t.last_error = out.meta.last_error;
  t.result = result.value_or("");
  return out;
}

std::string TaskBody(absl::string_view text, TaskMeta meta,
                     const std::optional<std::string>& result, const RecordSeal* seal,
                     int64_t issue, absl::Time at) {
  auto line = [&](const TaskMeta& m) {
    return seal != nullptr ? seal->Line(m, issue, at) : RecordLine(m);
  };
  if (!result.has_value()) {
    meta.result_bytes = -1;
    return absl::StrCat(text, "\n\n", line(meta));
  }
  std::string r = *result;
  meta.result_bytes = static_cast<int64_t>(r.size());
  // The record line's length, with room for the seal and for result_bytes to change.
  const size_t frame = text.size() + kResultHeading.size() + kResultOpen.size() +
                       kResultClose.size() + RecordLine(meta).size() + 256;
  if (frame + r.size() > kMaxBody) {
    constexpr absl::string_view kCut = "\n…(truncated)";
    const size_t room = kMaxBody > frame + kCut.size() ? kMaxBody - frame - kCut.size() : 0;
    r = absl::StrCat(r.substr(0, room), kCut);
    meta.result_bytes = static_cast<int64_t>(r.size());
  }
  return absl::StrCat(text, "\n\n", kResultHeading, kResultOpen, r, kResultClose, "\n\n",
                      line(meta));
}

std::vector<std::string> LabelsWithState(const Issue& issue, TaskState state,
                                         const TaskLabels& labels) {
  std::vector<std::string> out;
  for (const std::string& l : issue.labels) {
    if (l == labels.queued || l == labels.in_progress || l == labels.done ||
        l == labels.dead_letter) {
      continue;
    }
    out.push_back(l);
  }
  out.push_back(labels.For(state));
  return out;
}

}  // namespace tasksentinel::github
