// Fuzz target: the GitHub JSON decoding of the libcurl client (service/github/github_wire.h):
// a body parsed as JSON, then read as an issue, a comment, a list of either, and an error
// answer. Never crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "service/github/github_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tasksentinel::github;  // NOLINT: the decoders' namespace
  const std::string body(reinterpret_cast<const char*>(data), size);
  (void)GitHubMessage(body);
  std::optional<nlohmann::json> parsed = ParseJson(body);
  if (!parsed.has_value()) return 0;
  (void)Dump(*parsed);
  (void)ParseIssue(*parsed);
  (void)ParseComment(*parsed, 7);
  (void)IsPullRequest(*parsed);
  if (parsed->is_array()) {
    for (const nlohmann::json& item : *parsed) {
      (void)ParseIssue(item);
      (void)ParseComment(item, 7);
    }
  }
  return 0;
}
