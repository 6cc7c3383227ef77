// FakeHub's admin HTTP API under /_fakehub/, for tests that drive a fakehub process rather than
// a FakeHub object: the same seeding, state, fault, rate-limit, clock and log controls as the
// C++ API (it calls only FakeHub's public methods). No token needed, never faulted, not logged.
// Bodies and answers are JSON; errors are {"message": ...} with 400 or 404.
//
//   GET    /_fakehub/health                  {"ok":true,"base_url":...}
//   GET    /_fakehub/config                  faults, limits, clock offset, tokens
//   POST   /_fakehub/config                  change any of those keys (others are refused)
//   GET    /_fakehub/rate_limit              primary usage and secondary block
//   POST   /_fakehub/rate_limit/reset        fresh primary window, no secondary block
//   POST   /_fakehub/secondary_limit         block content creation now {"duration_ms"?}
//   GET    /_fakehub/clock                   {"now","offset_ms"}
//   POST   /_fakehub/clock                   {"offset_ms"} or {"advance_ms"}
//   GET    /_fakehub/log[?limit=N]           {"counts":{...},"entries":[...]}
//   DELETE /_fakehub/log                     clear the log and its counts
//   GET    /_fakehub/repos                   the repositories
//   POST   /_fakehub/repos                   {"owner","name","id"?,"has_issues"?}
//   GET    /_fakehub/issues[?repo=o/r]       every issue as stored
//   POST   /_fakehub/issues                  seed {"repo"?,"title","body"?,"labels"?,"state"?,
//                                            "pull_request"?,"user"?}
//   DELETE /_fakehub/issues/{n}[?repo=o/r]   delete an issue (then 410)
//   GET    /_fakehub/comments[?repo=&issue=] comments as stored (issue omitted: all)
//   POST   /_fakehub/comments                seed {"repo"?,"issue","body","user"?}
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tests/fakehub/fakehub.h"

namespace tasksentinel::fakehub {
namespace {

using internal::Answer;
using Json = nlohmann::ordered_json;

std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

Answer Reply(int status, const Json& j) {
  Answer a;
  a.status = status;
  a.body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return a;
}

Answer Error(int status, const std::string& message) {
  return Reply(status, Json{{"message", message}});
}

Answer NoContent() {
  Answer a;
  a.status = 204;
  return a;
}

int64_t Ms(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

Json IssueStateJson(const IssueState& i) {
  return Json{
      {"number", i.number},
      {"id", i.id},
      {"title", i.title},
      {"body", i.body.has_value() ? Json(*i.body) : Json(nullptr)},
      {"state", i.open ? "open" : "closed"},
      {"state_reason", i.state_reason.has_value() ? Json(*i.state_reason) : Json(nullptr)},
      {"labels", i.labels},
      {"pull_request", i.pull_request},
      {"deleted", i.deleted},
      {"user", i.user},
      {"comments", i.comments},
      {"created_at", Iso(i.created_at)},
      {"updated_at", Iso(i.updated_at)},
      {"closed_at", i.closed_at.has_value() ? Json(Iso(*i.closed_at)) : Json(nullptr)},
  };
}

Json CommentStateJson(const CommentState& c) {
  return Json{
      {"id", c.id},     {"issue_number", c.issue_number},  {"body", c.body},
      {"user", c.user}, {"created_at", Iso(c.created_at)}, {"updated_at", Iso(c.updated_at)}};
}

Json RepoSpecJson(const RepoSpec& r) {
  return Json{{"owner", r.owner},
              {"name", r.name},
              {"full_name", absl::StrCat(r.owner, "/", r.name)},
              {"id", r.id},
              {"has_issues", r.has_issues}};
}

Json LogEntryJson(const LogEntry& e) {
  return Json{{"method", e.method},
              {"path", e.path},
              {"query", e.query},
              {"status", e.status},
              {"not_modified", e.not_modified},
              {"content_creating", e.content_creating},
              {"dropped", e.dropped},
              {"at", Iso(e.at)}};
}

Json CountsJson(const LogCounts& c) {
  Json by_method = Json::object();
  for (const auto& [method, n] : c.by_method) by_method[method] = n;
  Json by_status = Json::object();
  for (const auto& [status, n] : c.by_status) by_status[absl::StrCat(status)] = n;
  return Json{{"total", c.total},
              {"not_modified", c.not_modified},
              {"content_creating", c.content_creating},
              {"dropped", c.dropped},
              {"by_method", by_method},
              {"by_status", by_status}};
}

Json ConfigJson(const Faults& f, const RateLimits& l, absl::Duration offset) {
  return Json{{"lag_ms", Ms(f.read_lag)},
              {"latency_ms", Ms(f.latency)},
              {"error_rate", f.error_rate},
              {"error_next", f.error_next},
              {"error_status", f.error_status},
              {"drop_rate", f.drop_rate},
              {"drop_next", f.drop_next},
              {"lose_answer_next", f.lose_answer_next},
              {"primary_limit", l.primary_limit},
              {"primary_window_ms", Ms(l.primary_window)},
              {"secondary_per_minute", l.secondary_per_minute},
              {"secondary_block_ms", Ms(l.secondary_block)},
              {"secondary_retry_after", l.secondary_retry_after},
              {"clock_offset_ms", Ms(offset)}};
}

// The request body as a JSON object (empty body: {}); nullopt when it is not one.
std::optional<nlohmann::json> ObjectBody(const httplib::Request& req) {
  if (req.body.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

FakeHub::Answer FakeHub::HandleAdmin(const httplib::Request& req) {
  const std::string& m = req.method;
  std::string path = req.path;
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::string repo = req.get_param_value("repo");

  if (path == "/_fakehub/health" && m == "GET") {
    return Reply(200, Json{{"ok", true}, {"base_url", base_url()}});
  }

  if (path == "/_fakehub/config") {
    if (m == "GET") {
      Json j = ConfigJson(faults(), limits(), clock_offset());
      return Reply(200, j);
    }
    if (m != "POST") return Error(404, "unknown admin endpoint");
    std::optional<nlohmann::json> body = ObjectBody(req);
    if (!body.has_value()) return Error(400, "body must be a JSON object");
    Faults f = faults();
    RateLimits l = limits();
    std::optional<absl::Duration> offset;
    std::optional<std::vector<std::string>> tokens;
    for (const auto& item : body->items()) {
      const std::string& key = item.key();
      const nlohmann::json& v = item.value();
      const bool number = v.is_number();
      auto ms = [&] { return absl::Milliseconds(v.get<double>()); };
      if (key == "tokens") {
        if (!v.is_array()) return Error(400, "tokens: an array of strings");
        tokens.emplace();
        for (const nlohmann::json& t : v) {
          if (!t.is_string()) return Error(400, "tokens: an array of strings");
          tokens->push_back(t.get<std::string>());
        }
        continue;
      }
      if (key == "secondary_retry_after") {
        if (!v.is_boolean()) return Error(400, "secondary_retry_after: a boolean");
        l.secondary_retry_after = v.get<bool>();
        continue;
      }
      if (!number) return Error(400, absl::StrCat(key, ": a number"));
      if (key == "lag_ms") {
        f.read_lag = ms();
      } else if (key == "latency_ms") {
        f.latency = ms();
      } else if (key == "error_rate") {
        f.error_rate = v.get<double>();
      } else if (key == "error_next") {
        f.error_next = v.get<int>();
      } else if (key == "error_status") {
        f.error_status = v.get<int>();
      } else if (key == "drop_rate") {
        f.drop_rate = v.get<double>();
      } else if (key == "drop_next") {
        f.drop_next = v.get<int>();
      } else if (key == "lose_answer_next") {
        f.lose_answer_next = v.get<int>();
      } else if (key == "primary_limit") {
        l.primary_limit = v.get<int>();
      } else if (key == "primary_window_ms") {
        l.primary_window = ms();
      } else if (key == "secondary_per_minute") {
        l.secondary_per_minute = v.get<int>();
      } else if (key == "secondary_block_ms") {
        l.secondary_block = ms();
      } else if (key == "clock_offset_ms") {
        offset = ms();
      } else {
        return Error(400, absl::StrCat("unknown config key \"", key, "\""));
      }
    }
    if (f.error_status < 500 || f.error_status > 599) {
      return Error(400, "error_status: 500..599");
    }
    SetFaults(f);
    SetLimits(l);
    if (offset.has_value()) SetClockOffset(*offset);
    if (tokens.has_value()) SetAcceptedTokens(*tokens);
    return Reply(200, ConfigJson(faults(), limits(), clock_offset()));
  }

  if (path == "/_fakehub/rate_limit" && m == "GET") {
    const RateLimitState s = rate_limit();
    return Reply(200,
                 Json{{"limit", s.limit},
                      {"used", s.used},
                      {"remaining", s.remaining},
                      {"reset", absl::ToUnixSeconds(s.reset)},
                      {"secondary_blocked_until", s.secondary_blocked_until == absl::InfinitePast()
                                                      ? Json(nullptr)
                                                      : Json(Iso(s.secondary_blocked_until))},
                      {"content_creating_last_minute", s.content_creating_last_minute}});
  }
  if (path == "/_fakehub/rate_limit/reset" && m == "POST") {
    ResetRateLimits();
    return NoContent();
  }
  if (path == "/_fakehub/secondary_limit" && m == "POST") {
    std::optional<nlohmann::json> body = ObjectBody(req);
    if (!body.has_value()) return Error(400, "body must be a JSON object");
    std::optional<absl::Duration> block;
    if (body->contains("duration_ms")) {
      if (!(*body)["duration_ms"].is_number()) return Error(400, "duration_ms: a number");
      block = absl::Milliseconds((*body)["duration_ms"].get<double>());
    }
    ForceSecondaryLimit(block);
    return Reply(200, Json{{"blocked_until", Iso(rate_limit().secondary_blocked_until)}});
  }

  if (path == "/_fakehub/clock") {
    if (m == "POST") {
      std::optional<nlohmann::json> body = ObjectBody(req);
      if (!body.has_value()) return Error(400, "body must be a JSON object");
      if (body->contains("offset_ms") && (*body)["offset_ms"].is_number()) {
        SetClockOffset(absl::Milliseconds((*body)["offset_ms"].get<double>()));
      } else if (body->contains("advance_ms") && (*body)["advance_ms"].is_number()) {
        AdvanceClock(absl::Milliseconds((*body)["advance_ms"].get<double>()));
      } else {
        return Error(400, "give offset_ms or advance_ms (a number)");
      }
    } else if (m != "GET") {
      return Error(404, "unknown admin endpoint");
    }
    return Reply(200, Json{{"now", Iso(Now())}, {"offset_ms", Ms(clock_offset())}});
  }

  if (path == "/_fakehub/log") {
    if (m == "DELETE") {
      ResetLog();
      return NoContent();
    }
    if (m != "GET") return Error(404, "unknown admin endpoint");
    const std::vector<LogEntry> log = RequestLog();
    size_t limit = log.size();
    if (req.has_param("limit")) {
      int n = 0;
      if (!absl::SimpleAtoi(req.get_param_value("limit"), &n) || n < 0) {
        return Error(400, "limit: a count");
      }
      limit = std::min(limit, static_cast<size_t>(n));
    }
    Json entries = Json::array();
    for (size_t i = log.size() - limit; i < log.size(); ++i)
      entries.push_back(LogEntryJson(log[i]));
    return Reply(200, Json{{"counts", CountsJson(Counts())}, {"entries", entries}});
  }

  if (path == "/_fakehub/repos") {
    if (m == "GET") {
      Json out = Json::array();
      for (const RepoSpec& r : Repositories()) out.push_back(RepoSpecJson(r));
      return Reply(200, out);
    }
    if (m != "POST") return Error(404, "unknown admin endpoint");
    std::optional<nlohmann::json> body = ObjectBody(req);
    if (!body.has_value()) return Error(400, "body must be a JSON object");
    RepoSpec spec;
    spec.owner = body->value("owner", "");
    spec.name = body->value("name", "");
    spec.id = body->value("id", int64_t{0});
    spec.has_issues = body->value("has_issues", true);
    if (absl::Status s = AddRepository(spec); !s.ok()) return Error(400, std::string(s.message()));
    for (const RepoSpec& r : Repositories()) {
      if (r.owner == spec.owner && r.name == spec.name) return Reply(201, RepoSpecJson(r));
    }
    return Error(400, "repository not added");
  }

  if (path == "/_fakehub/issues") {
    if (m == "GET") {
      Json out = Json::array();
      for (const IssueState& i : Issues(repo)) out.push_back(IssueStateJson(i));
      return Reply(200, out);
    }
    if (m != "POST") return Error(404, "unknown admin endpoint");
    std::optional<nlohmann::json> body = ObjectBody(req);
    if (!body.has_value()) return Error(400, "body must be a JSON object");
    try {
      IssueSeed seed;
      seed.title = body->value("title", "");
      if (body->contains("body") && !(*body)["body"].is_null()) {
        seed.body = (*body)["body"].get<std::string>();
      }
      seed.labels = body->value("labels", std::vector<std::string>{});
      seed.open = body->value("state", "open") != "closed";
      seed.pull_request = body->value("pull_request", false);
      seed.user = body->value("user", "");
      absl::StatusOr<IssueState> issue = SeedIssue(seed, body->value("repo", repo));
      if (!issue.ok()) {
        return Error(issue.status().code() == absl::StatusCode::kNotFound ? 404 : 400,
                     std::string(issue.status().message()));
      }
      return Reply(201, IssueStateJson(*issue));
    } catch (const nlohmann::json::exception& e) {
      return Error(400, absl::StrCat("bad issue: ", e.what()));
    }
  }
  if (absl::StartsWith(path, "/_fakehub/issues/") && m == "DELETE") {
    int64_t number = 0;
    if (!absl::SimpleAtoi(path.substr(sizeof("/_fakehub/issues/") - 1), &number)) {
      return Error(404, "no such issue");
    }
    if (absl::Status s = DeleteIssue(number, repo); !s.ok()) {
      return Error(404, std::string(s.message()));
    }
    return NoContent();
  }

  if (path == "/_fakehub/comments") {
    if (m == "GET") {
      int64_t issue = 0;
      if (req.has_param("issue") && !absl::SimpleAtoi(req.get_param_value("issue"), &issue)) {
        return Error(400, "issue: a number");
      }
      Json out = Json::array();
      for (const CommentState& c : Comments(issue, repo)) out.push_back(CommentStateJson(c));
      return Reply(200, out);
    }
    if (m != "POST") return Error(404, "unknown admin endpoint");
    std::optional<nlohmann::json> body = ObjectBody(req);
    if (!body.has_value()) return Error(400, "body must be a JSON object");
    try {
      CommentSeed seed;
      seed.issue_number = body->value("issue", int64_t{0});
      seed.body = body->value("body", "");
      seed.user = body->value("user", "");
      absl::StatusOr<CommentState> c = SeedComment(seed, body->value("repo", repo));
      if (!c.ok()) {
        return Error(c.status().code() == absl::StatusCode::kNotFound ? 404 : 400,
                     std::string(c.status().message()));
      }
      return Reply(201, CommentStateJson(*c));
    } catch (const nlohmann::json::exception& e) {
      return Error(400, absl::StrCat("bad comment: ", e.what()));
    }
  }

  return Error(404, absl::StrCat("unknown admin endpoint ", m, " ", req.path));
}

}  // namespace tasksentinel::fakehub
