// The records kept on GitHub and their comment format (see records.h).
#include "core/github/records.h"

#include <nlohmann/json.hpp>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace tasksentinel::github {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kMarker = "<!-- task-sentinel ";
constexpr absl::string_view kMarkerEnd = " -->";

// Overloaded lambdas for std::visit.
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// A time as JSON: microseconds, or null for the infinite past/future.
Json TimeJson(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return Json(nullptr);
  return Json(absl::ToUnixMicros(t));
}

absl::Time TimeFrom(const Json& j, const char* field, absl::Time if_null) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return if_null;
  return absl::FromUnixMicros(it->get<int64_t>());
}

template <typename T>
T Optional(const Json& j, const char* field, T fallback) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

// "10:04:12Z": a time of day for summaries.
std::string Clock(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return "-";
  return absl::FormatTime("%H:%M:%SZ", t, absl::UTCTimeZone());
}

// `text` on one line, at most `max` characters, for a summary.
std::string OneLine(absl::string_view text, size_t max) {
  std::string out = absl::StrReplaceAll(text, {{"\r", " "}, {"\n", " "}});
  if (out.size() > max) out = absl::StrCat(out.substr(0, max), "…");
  return out;
}

std::string Seconds(absl::Duration d) { return absl::StrCat(absl::ToInt64Seconds(d), "s"); }

Json ToJson(const RegistrationRecord& r) {
  return {{"type", "WORKER_REGISTRATION"},
          {"worker_id", r.worker_id},
          {"hostname", r.hostname},
          {"status", r.gone ? "gone" : "active"},
          {"health", r.health},
          {"epoch", r.epoch},
          {"lease_ms", absl::ToInt64Milliseconds(r.lease)},
          {"next_renewal_at", TimeJson(r.next_renewal_at)},
          {"lease_expires_at", TimeJson(r.lease_expires_at)},
          {"renews_until", TimeJson(r.renews_until)},
          {"registered_at", TimeJson(r.registered_at)},
          {"capacity", {{"max_tasks", r.max_tasks}, {"active_tasks", r.active_tasks.size()}}},
          {"capabilities",
           {{"supported_task_types", r.supported_task_types},
            {"cpu_cores", r.cpu_cores},
            {"memory_mb", r.memory_mb}}},
          {"active_tasks", r.active_tasks},
          {"type_history", r.type_history},
          {"idle", r.idle}};
}

RegistrationRecord RegistrationFrom(const Json& j) {
  RegistrationRecord r;
  r.worker_id = j.at("worker_id").get<std::string>();
  r.hostname = Optional<std::string>(j, "hostname", "");
  r.gone = Optional<std::string>(j, "status", "active") == "gone";
  r.health = Optional<int>(j, "health", 0);
  r.epoch = j.at("epoch").get<uint64_t>();
  r.lease = absl::Milliseconds(j.at("lease_ms").get<int64_t>());
  r.next_renewal_at = TimeFrom(j, "next_renewal_at", absl::UnixEpoch());
  r.lease_expires_at = TimeFrom(j, "lease_expires_at", absl::UnixEpoch());
  r.renews_until = TimeFrom(j, "renews_until", absl::InfinitePast());
  r.registered_at = TimeFrom(j, "registered_at", absl::UnixEpoch());
  if (auto cap = j.find("capacity"); cap != j.end() && cap->is_object()) {
    r.max_tasks = Optional<uint32_t>(*cap, "max_tasks", 0);
  }
  if (auto caps = j.find("capabilities"); caps != j.end() && caps->is_object()) {
    r.supported_task_types =
        Optional<std::vector<std::string>>(*caps, "supported_task_types", {});
    r.cpu_cores = Optional<uint32_t>(*caps, "cpu_cores", 0);
    r.memory_mb = Optional<uint64_t>(*caps, "memory_mb", 0);
  }
  r.active_tasks = Optional<std::vector<std::string>>(j, "active_tasks", {});
  r.type_history = Optional<std::map<std::string, uint32_t>>(j, "type_history", {});
  r.idle = Optional<bool>(j, "idle", false);
  return r;
}

Json ToJson(const ClaimRecord& r) {
  Json j = {{"type", "LOCK_CLAIM"},
            {"lock", r.lock},
            {"worker_id", r.worker_id},
            {"epoch", r.epoch},
            {"ttl_ms", absl::ToInt64Milliseconds(r.ttl)}};
  if (!r.metadata.empty()) j["metadata"] = r.metadata;
  if (!r.recovered_from.empty()) {
    j["recovered_from"] = r.recovered_from;
    j["lapsed_at"] = TimeJson(r.lapsed_at);
  }
  return j;
}

ClaimRecord ClaimFrom(const Json& j) {
  ClaimRecord r;
  r.lock = j.at("lock").get<std::string>();
  r.worker_id = j.at("worker_id").get<std::string>();
  r.epoch = j.at("epoch").get<uint64_t>();
  r.ttl = absl::Milliseconds(j.at("ttl_ms").get<int64_t>());
  r.metadata = Optional<std::map<std::string, std::string>>(j, "metadata", {});
  r.recovered_from = Optional<std::string>(j, "recovered_from", "");
  r.lapsed_at = TimeFrom(j, "lapsed_at", absl::InfinitePast());
  return r;
}

Json ToJson(const ReleasedRecord& r) {
  return {{"type", "LOCK_RELEASED"}, {"lock", r.lock},
          {"worker_id", r.worker_id}, {"epoch", r.epoch},
          {"error", r.error},         {"retry_at", TimeJson(r.retry_at)},
          {"dead_letter", r.dead_letter}};
}

ReleasedRecord ReleasedFrom(const Json& j) {
  ReleasedRecord r;
  r.lock = j.at("lock").get<std::string>();
  r.worker_id = j.at("worker_id").get<std::string>();
  r.epoch = Optional<uint64_t>(j, "epoch", 0);
  r.error = Optional<std::string>(j, "error", "");
  r.retry_at = TimeFrom(j, "retry_at", absl::InfinitePast());
  r.dead_letter = Optional<bool>(j, "dead_letter", false);
  return r;
}

Json ToJson(const WorkerMemoryRecord& r) {
  Json entries = Json::object();
  for (const auto& [key, item] : r.entries) {
    Json e = {{"w", absl::ToUnixMicros(item.written_at)}};
    if (item.tombstone) {
      e["t"] = true;
    } else {
      e["b64"] = absl::Base64Escape(item.value);
    }
    if (item.expires_at != absl::InfiniteFuture()) e["x"] = absl::ToUnixMicros(item.expires_at);
    entries[key] = std::move(e);
  }
  return {{"type", "MEMORY"},
          {"worker_id", r.worker_id},
          {"namespace", r.ns},
          {"part", r.part},
          {"entries", std::move(entries)}};
}

WorkerMemoryRecord MemoryFrom(const Json& j) {
  WorkerMemoryRecord r;
  r.worker_id = j.at("worker_id").get<std::string>();
  r.ns = j.at("namespace").get<std::string>();
  r.part = Optional<int>(j, "part", 0);
  for (const auto& [key, e] : j.at("entries").items()) {
    MemoryItem item;
    item.written_at = absl::FromUnixMicros(e.at("w").get<int64_t>());
    item.tombstone = Optional<bool>(e, "t", false);
    if (!item.tombstone &&
        !absl::Base64Unescape(e.at("b64").get<std::string>(), &item.value)) {
      throw std::runtime_error("bad base64 in memory entry");
    }
    item.expires_at = TimeFrom(e, "x", absl::InfiniteFuture());
    r.entries[key] = std::move(item);
  }
  return r;
}

Json ToJson(const TaskMeta& r) {
  Json j = {{"type", "TASK"},
            {"priority", r.priority},
            {"max_attempts", r.max_attempts},
            {"attempts", r.attempts}};
  if (!r.worker_id.empty()) {
    j["worker_id"] = r.worker_id;
    j["epoch"] = r.epoch;
    j["token"] = r.token;
  }
  if (r.not_before != absl::InfinitePast()) j["not_before"] = TimeJson(r.not_before);
  if (!r.last_error.empty()) j["last_error"] = r.last_error;
  if (r.result_bytes >= 0) j["result_bytes"] = r.result_bytes;
  return j;
}

TaskMeta TaskFrom(const Json& j) {
  TaskMeta r;
  r.priority = Optional<int32_t>(j, "priority", 0);
  r.max_attempts = Optional<uint32_t>(j, "max_attempts", 0);
  r.attempts = Optional<uint32_t>(j, "attempts", 0);
  r.worker_id = Optional<std::string>(j, "worker_id", "");
  r.epoch = Optional<uint64_t>(j, "epoch", 0);
  r.token = Optional<uint64_t>(j, "token", 0);
  r.not_before = TimeFrom(j, "not_before", absl::InfinitePast());
  r.last_error = Optional<std::string>(j, "last_error", "");
  r.result_bytes = Optional<int64_t>(j, "result_bytes", -1);
  return r;
}

Json ToJson(const Record& record) {
  return std::visit([](const auto& r) { return ToJson(r); }, record);
}

}  // namespace

absl::string_view RecordTypeName(const Record& record) {
  return std::visit(Overloaded{
                        [](const RegistrationRecord&) { return "WORKER_REGISTRATION"; },
                        [](const ClaimRecord&) { return "LOCK_CLAIM"; },
                        [](const ReleasedRecord&) { return "LOCK_RELEASED"; },
                        [](const WorkerMemoryRecord&) { return "MEMORY"; },
                        [](const TaskMeta&) { return "TASK"; },
                    },
                    record);
}

std::string RecordLine(const Record& record) {
  Json j = ToJson(record);
  j["v"] = kRecordVersion;
  // '<' and '>' occur only inside JSON strings, where \u003c and \u003e mean the same.
  const std::string json = absl::StrReplaceAll(
      j.dump(-1, ' ', false, Json::error_handler_t::replace), {{"<", "\\u003c"}, {">", "\\u003e"}});
  return absl::StrCat(kMarker, json, kMarkerEnd);
}

std::string Summary(const Record& record) {
  return std::visit(
      Overloaded{
          [](const RegistrationRecord& r) {
            if (r.gone) return absl::StrCat("👋 ", r.worker_id, " left (epoch ", r.epoch, ")");
            return absl::StrCat("💓 ", r.worker_id, " on ", OneLine(r.hostname, 80),
                                " is alive (epoch ", r.epoch, ", lease until ",
                                Clock(r.lease_expires_at), ", next heartbeat by ",
                                Clock(r.next_renewal_at), ")");
          },
          [](const ClaimRecord& r) {
            std::string s = absl::StrCat("🔒 lock \"", r.lock, "\" claimed by ", r.worker_id,
                                         " (epoch ", r.epoch, ", ttl ", Seconds(r.ttl), ")");
            if (!r.recovered_from.empty()) {
              absl::StrAppend(&s, "; recovered from ", r.recovered_from, ", lease lapsed ",
                              Clock(r.lapsed_at));
            }
            return s;
          },
          [](const ReleasedRecord& r) {
            std::string s =
                absl::StrCat("🔓 lock \"", r.lock, "\" released by ", r.worker_id, " after: ",
                             OneLine(r.error, 120));
            absl::StrAppend(&s, r.dead_letter ? " (dead-lettered)"
                                              : absl::StrCat(" (retry after ",
                                                             Clock(r.retry_at), ")"));
            return s;
          },
          [](const WorkerMemoryRecord& r) {
            return absl::StrCat("🧠 shared memory of ", r.worker_id, " in \"", r.ns, "\" (",
                                r.entries.size(), " entries", r.part > 0 ? ", part " : "",
                                r.part > 0 ? absl::StrCat(r.part + 1) : "", ")");
          },
          [](const TaskMeta& r) {
            return absl::StrCat("Task Sentinel: priority ", r.priority, ", attempt ", r.attempts);
          },
      },
      record);
}

std::string CommentBody(const Record& record) {
  return absl::StrCat(Summary(record), "\n", RecordLine(record));
}

ParsedBody ParseBody(absl::string_view body) {
  ParsedBody out;
  const size_t start = body.rfind(kMarker);
  if (start == absl::string_view::npos) {
    out.text = std::string(body);
    return out;
  }
  absl::string_view text = body.substr(0, start);
  while (absl::ConsumeSuffix(&text, "\n") || absl::ConsumeSuffix(&text, "\r")) {
  }
  out.text = std::string(text);
  const size_t json_start = start + kMarker.size();
  const size_t end = body.find("-->", json_start);
  out.outcome = ParseOutcome::kMalformed;
  if (end == absl::string_view::npos) return out;
  const absl::string_view json =
      absl::StripTrailingAsciiWhitespace(body.substr(json_start, end - json_start));
  try {
    const Json j = Json::parse(json.begin(), json.end());
    if (!j.is_object()) return out;
    if (j.at("v").get<int>() > kRecordVersion) {
      out.outcome = ParseOutcome::kNewer;
      return out;
    }
    const std::string type = j.at("type").get<std::string>();
    if (type == "WORKER_REGISTRATION") {
      out.record = RegistrationFrom(j);
    } else if (type == "LOCK_CLAIM") {
      out.record = ClaimFrom(j);
    } else if (type == "LOCK_RELEASED") {
      out.record = ReleasedFrom(j);
    } else if (type == "MEMORY") {
      out.record = MemoryFrom(j);
    } else if (type == "TASK") {
      out.record = TaskFrom(j);
    } else {
      return out;
    }
    out.sealed_at = TimeFrom(j, "at", absl::InfinitePast());
    out.nonce = Optional<std::string>(j, "nonce", "");
    out.sig = Optional<std::string>(j, "sig", "");
  } catch (const std::exception&) {
    out.record.reset();
    return out;
  }
  out.json = std::string(json);
  out.outcome = ParseOutcome::kRecord;
  return out;
}

}  // namespace tasksentinel::github
