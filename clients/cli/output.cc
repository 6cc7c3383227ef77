// Printing for sentinelctl (see output.h).
#include "clients/cli/output.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clients/cli/cli.h"
#include "google/protobuf/util/json_util.h"

namespace tasksentinel::cli {
namespace {

google::protobuf::util::JsonPrintOptions JsonOptions() {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  return options;
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

}  // namespace

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

void Table::Print(absl::string_view empty) const {
  if (rows_.size() == 1) {
    std::printf("%.*s\n", static_cast<int>(empty.size()), empty.data());
    return;
  }
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        absl::StrAppend(&line, row[i]);  // no trailing padding
      } else {
        absl::StrAppend(&line, row[i], std::string(widths[i] - row[i].size() + 2, ' '));
      }
    }
    std::printf("%s\n", line.c_str());
  }
}

void PrintFields(const Fields& fields) {
  size_t width = 0;
  for (const auto& [name, value] : fields) width = std::max(width, name.size());
  for (const auto& [name, value] : fields) {
    std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(), value.c_str());
  }
}

int PrintJson(const google::protobuf::Message& message) {
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, JsonOptions());
  if (!status.ok()) return Refused(absl::StrCat("cannot print JSON: ", status.ToString()));
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
  return kExitOk;
}

bool ToJsonValue(const google::protobuf::Message& message, google::protobuf::Value* value) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, JsonOptions()).ok()) {
    return false;
  }
  return google::protobuf::util::JsonStringToMessage(json, value).ok();
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToTime(ts), absl::UTCTimeZone());
}

std::string SecondsAgo(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return "-";
  return absl::StrCat(absl::ToInt64Seconds(absl::Now() - ToTime(ts)));
}

std::string SecondsUntil(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) return "-";
  return absl::StrCat(absl::ToInt64Seconds(ToTime(ts) - absl::Now()));
}

std::string FormatDuration(const google::protobuf::Duration& d) {
  return absl::FormatDuration(absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()));
}

void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

std::string ShortEnum(const std::string& name, absl::string_view prefix) {
  return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
}

std::string Printable(absl::string_view bytes, size_t max_chars) {
  const bool plain = std::none_of(bytes.begin(), bytes.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  std::string text = plain ? std::string(bytes) : absl::CHexEscape(bytes);
  if (max_chars > 0 && text.size() > max_chars) {
    text = absl::StrCat(text.substr(0, max_chars), "...");
  }
  return text;
}

Fields TaskFields(const v1::Task& task) {
  Fields f = {
      {"id", task.id()},
      {"title", task.title()},
      {"type", task.type().empty() ? "(default)" : task.type()},
      {"priority", absl::StrCat(task.priority())},
      {"state", ShortEnum(v1::TaskState_Name(task.state()), "TASK_STATE_")},
      {"attempts", absl::StrCat(task.attempts(), "/", task.max_attempts())},
      {"worker", task.worker_id().empty() ? "-" : task.worker_id()},
      {"created_at", FormatTime(task.created_at())},
      {"updated_at", FormatTime(task.updated_at())},
  };
  if (IsSet(task.not_before())) f.emplace_back("not_before", FormatTime(task.not_before()));
  if (!task.last_error().empty()) f.emplace_back("last_error", task.last_error());
  if (!task.result().empty()) f.emplace_back("result", task.result());
  if (!task.body().empty()) f.emplace_back("body", task.body());
  return f;
}

Fields LockFields(const v1::Lock& lock) {
  Fields f = {
      {"name", lock.name()},
      {"token", absl::StrCat(lock.fencing_token())},
      {"holder", lock.holder()},
      {"acquired_at", FormatTime(lock.acquired_at())},
      {"expires_at", FormatTime(lock.expires_at())},
      {"ttl", FormatDuration(lock.ttl())},
  };
  for (const auto& [k, v] : lock.metadata()) f.emplace_back(absl::StrCat("meta.", k), v);
  return f;
}

Fields EntryFields(const v1::MemoryEntry& entry) {
  return {
      {"namespace", entry.namespace_()},
      {"key", entry.key()},
      {"version", absl::StrCat(entry.version())},
      {"updated_by", entry.updated_by()},
      {"updated_at", FormatTime(entry.updated_at())},
      {"expires_at", IsSet(entry.expires_at()) ? FormatTime(entry.expires_at()) : "never"},
      {"value", Printable(entry.value())},
  };
}

}  // namespace tasksentinel::cli
