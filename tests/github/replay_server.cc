// ReplayServer: recorded GitHub responses served over local HTTP. See replay_server.h.
//
// Thread safety: one mutex guards the recordings, the handler and the request log; handlers
// run on httplib's worker threads.
#include "tests/github/replay_server.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace tasksentinel::testing {
namespace {

using json = nlohmann::json;

// Percent-decodes a path (`+` stays `+`).
std::string DecodePath(const std::string& path) { return httplib::detail::decode_url(path, false); }

// Decoded query parameters, sorted (order is not significant).
std::vector<std::pair<std::string, std::string>> QueryParams(absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    params.emplace_back(httplib::detail::decode_url(kv.first, true),
                        httplib::detail::decode_url(kv.second, true));
  }
  std::sort(params.begin(), params.end());
  return params;
}

// A JSON value as header or body text: strings as they are, anything else serialized.
std::string AsText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

// Headers of either format: an object of name → value, or a flat [name, value, ...] array.
std::vector<std::pair<std::string, std::string>> HeadersOf(const json& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  if (headers.is_object()) {
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      out.emplace_back(it.key(), AsText(it.value()));
    }
  } else if (headers.is_array()) {
    for (size_t i = 0; i + 1 < headers.size(); i += 2) {
      out.emplace_back(AsText(headers[i]), AsText(headers[i + 1]));
    }
  }
  return out;
}

// Splits "path?query".
std::pair<std::string, std::string> SplitPathQuery(const std::string& target) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return {target, ""};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace

std::string FixturePath(absl::string_view relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir == nullptr ? "." : srcdir, "/",
                      workspace == nullptr ? "task_sentinel" : workspace, "/tests/fixtures/github/",
                      relative);
}

absl::StatusOr<std::vector<RecordedInteraction>> LoadRecording(absl::string_view relative) {
  const std::string path = FixturePath(relative);
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  const json root = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));

  std::vector<RecordedInteraction> out;
  if (root.is_object() && root.contains("interactions")) {
    // octokit-rb: {"interactions": [{"request": {...}, "response": {...}}]}
    for (const json& entry : root["interactions"]) {
      const json& request = entry.at("request");
      const json& response = entry.at("response");
      RecordedInteraction interaction;
      interaction.source = std::string(relative);
      interaction.method = absl::AsciiStrToUpper(request.value("method", "GET"));
      interaction.path = request.value("path", "/");
      interaction.query = request.value("query", "");
      interaction.status = response.value("status", 200);
      interaction.headers = HeadersOf(response.value("headers", json::object()));
      interaction.body = AsText(response.value("body", json("")));
      out.push_back(std::move(interaction));
    }
  } else if (root.is_array()) {
    // octokit/fixtures: [{"method", "path" (with query), "status", "response", "headers"}]
    for (const json& entry : root) {
      RecordedInteraction interaction;
      interaction.source = std::string(relative);
      interaction.method = absl::AsciiStrToUpper(entry.value("method", "get"));
      std::tie(interaction.path, interaction.query) = SplitPathQuery(entry.value("path", "/"));
      interaction.status = entry.value("status", 200);
      interaction.headers = HeadersOf(entry.value("headers", json::object()));
      interaction.body = AsText(entry.value("response", json("")));
      out.push_back(std::move(interaction));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(path, ": neither fixture format"));
  }
  return out;
}

ReplayServer::ReplayServer() {
  server_.set_keep_alive_timeout(1);
  server_.set_tcp_nodelay(true);  // no Nagle delay between headers and body
  const auto serve = [this](const httplib::Request& request, httplib::Response& response) {
    Serve(request, response);
  };
  server_.Get(".*", serve);
  server_.Post(".*", serve);
  server_.Put(".*", serve);
  server_.Patch(".*", serve);
  server_.Delete(".*", serve);
  const int port = server_.bind_to_any_port("127.0.0.1");
  base_url_ = absl::StrCat("http://127.0.0.1:", port);
  // The socket listens already; connections wait in its backlog until the loop accepts them.
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

ReplayServer::~ReplayServer() {
  // stop() only works once the accept loop runs.
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_.stop();
  thread_.join();
}

void ReplayServer::Add(RecordedInteraction interaction) {
  absl::MutexLock lock(&mu_);
  interactions_.push_back(std::move(interaction));
  served_.push_back(0);
}

absl::Status ReplayServer::Load(absl::string_view relative) {
  absl::StatusOr<std::vector<RecordedInteraction>> loaded = LoadRecording(relative);
  if (!loaded.ok()) return loaded.status();
  for (RecordedInteraction& interaction : *loaded) Add(std::move(interaction));
  return absl::OkStatus();
}

void ReplayServer::SetHandler(Handler handler) {
  absl::MutexLock lock(&mu_);
  handler_ = std::move(handler);
}

std::vector<ReceivedRequest> ReplayServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int ReplayServer::request_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(requests_.size());
}

std::vector<std::string> ReplayServer::unmatched() const {
  absl::MutexLock lock(&mu_);
  return unmatched_;
}

std::string ReplayServer::Rewrite(const std::string& text) const {
  return absl::StrReplaceAll(
      text, {{"https://api.github.com:443", base_url_}, {"https://api.github.com", base_url_}});
}

void ReplayServer::Serve(const httplib::Request& request, httplib::Response& response) {
  ReceivedRequest received;
  received.method = request.method;
  received.path = request.path;
  received.query = SplitPathQuery(request.target).second;
  for (const auto& [name, value] : request.params) received.params.emplace(name, value);
  for (const auto& [name, value] : request.headers) {
    received.headers[absl::AsciiStrToLower(name)] = value;
  }
  received.body = request.body;
  received.remote_port = request.remote_port;

  Handler handler;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(received);
    handler = handler_;
  }
  if (handler && handler(request, response)) return;

  const std::string path = DecodePath(request.path);
  const auto request_params = QueryParams(received.query);
  RecordedInteraction chosen;
  bool found = false;
  {
    absl::MutexLock lock(&mu_);
    std::vector<size_t> same_path;
    for (size_t i = 0; i < interactions_.size(); ++i) {
      if (interactions_[i].method == request.method && DecodePath(interactions_[i].path) == path) {
        same_path.push_back(i);
      }
    }
    std::vector<size_t> candidates;
    for (size_t i : same_path) {
      if (QueryParams(interactions_[i].query) == request_params) candidates.push_back(i);
    }
    if (candidates.empty()) {
      for (size_t i : same_path) {
        if (interactions_[i].query.empty()) candidates.push_back(i);
      }
    }
    if (candidates.empty() && !same_path.empty()) {
      std::set<std::vector<std::pair<std::string, std::string>>> queries;
      for (size_t i : same_path) queries.insert(QueryParams(interactions_[i].query));
      if (queries.size() == 1) candidates = same_path;
    }
    if (!candidates.empty()) {
      size_t pick = candidates.back();
      for (size_t i : candidates) {
        if (served_[i] == 0) {
          pick = i;
          break;
        }
      }
      ++served_[pick];
      chosen = interactions_[pick];
      found = true;
    } else {
      unmatched_.push_back(absl::StrCat(request.method, " ", request.path,
                                        received.query.empty() ? "" : "?", received.query));
    }
  }

  if (!found) {
    response.status = 404;
    response.set_content(
        R"({"message":"Not Found","documentation_url":"https://docs.github.com/rest"})",
        "application/json; charset=utf-8");
    return;
  }
  response.status = chosen.status;
  std::string content_type = "application/json; charset=utf-8";
  for (const auto& [name, value] : chosen.headers) {
    const std::string lower = absl::AsciiStrToLower(name);
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "content-encoding" || lower == "status" || lower == "keep-alive") {
      continue;
    }
    if (lower == "content-type") {
      content_type = value;
      continue;
    }
    response.set_header(name, Rewrite(value));
  }
  if (!chosen.body.empty()) response.set_content(Rewrite(chosen.body), content_type);
}

}  // namespace tasksentinel::testing
