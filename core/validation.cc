// Input validation (see validation.h).
#include "core/validation.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/error_reason.h"

namespace tasksentinel {
namespace {

bool IsIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
         c == ':' || c == '/' || c == '@' || c == '-';
}

absl::Status ValidateChars(absl::string_view field, absl::string_view s, size_t min, size_t max,
                           bool (*ok)(char), absl::string_view allowed) {
  if (s.size() < min || s.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be ", min, "..", max,
                                                   " characters long (got ", s.size(), ")"));
  }
  for (char c : s) {
    if (!ok(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " may contain only ", allowed, " characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string QuoteInput(absl::string_view input) {
  std::string out = "\"";
  for (char c : input.substr(0, kMaxQuotedInput)) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    }
  }
  out.push_back('"');
  if (input.size() > kMaxQuotedInput) absl::StrAppend(&out, "... (", input.size(), " bytes)");
  return out;
}

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  return ValidateChars(field, id, 1, kMaxIdLength, IsIdChar, "[A-Za-z0-9._:/@-]");
}

absl::Status ValidateKey(absl::string_view field, absl::string_view key) {
  return ValidateChars(field, key, 1, kMaxKeyLength, IsIdChar, "[A-Za-z0-9._:/@-]");
}

absl::Status ValidateKeyPrefix(absl::string_view field, absl::string_view prefix) {
  return ValidateChars(field, prefix, 0, kMaxKeyLength, IsIdChar, "[A-Za-z0-9._:/@-]");
}

absl::Status ValidateNamespace(absl::string_view ns, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), ns) == allowed.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown namespace ", QuoteInput(ns),
                                                   ": configured namespaces are ",
                                                   absl::StrJoin(allowed, ", ")));
  }
  return absl::OkStatus();
}

absl::Status ValidateTaskType(absl::string_view field, absl::string_view type) {
  return ValidateChars(
      field, type, 0, 64,
      [](char c) {
        return absl::ascii_islower(static_cast<unsigned char>(c)) ||
               absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
               c == '-';
      },
      "[a-z0-9_.-]");
}

absl::Status ValidateSize(absl::string_view field, absl::string_view value, size_t max) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value.size(), " bytes; the limit is ", max, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDuration(absl::string_view field, absl::Duration d, absl::Duration max) {
  if (d < absl::ZeroDuration() || d > max) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be between 0 and ",
                                                   absl::FormatDuration(max), " (got ",
                                                   absl::FormatDuration(d), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMetadata(const std::map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata has ", metadata.size(), " entries; the limit is ",
                     kMaxMetadataEntries));
  }
  for (const auto& [k, v] : metadata) {
    if (k.empty() || k.size() > kMaxMetadataKeyLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata keys must be 1..", kMaxMetadataKeyLength, " characters"));
    }
    if (v.size() > kMaxMetadataValueLength) {
      return absl::InvalidArgumentError(absl::StrCat("metadata value of ", QuoteInput(k),
                                                     " exceeds ", kMaxMetadataValueLength,
                                                     " characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSetRequest(const SetRequest& request,
                                const std::vector<std::string>& namespaces) {
  if (absl::Status s = ValidateNamespace(request.ns, namespaces); !s.ok()) return s;
  if (absl::Status s = ValidateKey("key", request.key); !s.ok()) return s;
  if (absl::Status s = ValidateSize("value", request.value, kMaxValueBytes); !s.ok()) return s;
  if (absl::Status s = ValidateDuration("ttl", request.ttl, kMaxMemoryTtl); !s.ok()) return s;
  if (request.ttl > absl::ZeroDuration() && request.ttl < kMinMemoryTtl) {
    return absl::InvalidArgumentError("ttl must be zero (no expiry) or at least 1s");
  }
  if (request.fencing.has_value()) {
    if (absl::Status s = ValidateId("fencing.task_id", request.fencing->name); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckExpectedVersion(const std::string& ns, const std::string& key,
                                  uint64_t expected, uint64_t actual) {
  if (actual == expected) return absl::OkStatus();
  return WithReason(absl::AbortedError(absl::StrCat("version mismatch on ", ns, "/", key, ": expected ",
                                         expected, ", current ", actual)), reason::kVersionMismatch);
}

absl::Status ValidateNewTask(const NewTask& t) {
  if (t.title.empty()) return absl::InvalidArgumentError("title must not be empty");
  if (absl::Status s = ValidateSize("title", t.title, kMaxTitleLength); !s.ok()) return s;
  if (absl::Status s = ValidateSize("body", t.body, kMaxValueBytes); !s.ok()) return s;
  if (absl::Status s = ValidateTaskType("type", t.type); !s.ok()) return s;
  if (t.priority < -kMaxPriority || t.priority > kMaxPriority) {
    return absl::InvalidArgumentError(
        absl::StrCat("priority must be in -", kMaxPriority, "..", kMaxPriority));
  }
  if (t.max_attempts > kMaxTaskAttempts) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be at most ", kMaxTaskAttempts));
  }
  if (!t.request_id.empty()) {
    if (absl::Status s = ValidateId("request_id", t.request_id); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tasksentinel
