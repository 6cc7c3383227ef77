// The setting table's value checks and entry factories (see config_setting.h).
#include "core/config_setting.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/load_balancer.h"

namespace tasksentinel::config_internal {

absl::Status MustBe(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("must be ", what));
}

// Parses a whole decimal integer (an optional '-', then digits only) within [lo, hi].
bool ParseInt(absl::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  absl::string_view digits = text;
  absl::ConsumePrefix(&digits, "-");
  if (digits.empty()) return false;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int64_t value;
  if (!absl::SimpleAtoi(text, &value) || value < lo || value > hi) return false;
  *out = value;
  return true;
}

// Whether every character of `s` satisfies `ok` and `s` has min..max characters.
bool HasChars(absl::string_view s, size_t min, size_t max, bool (*ok)(char)) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}

bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsLowerOrDigit(char c) {
  return absl::ascii_islower(static_cast<unsigned char>(c)) ||
         absl::ascii_isdigit(static_cast<unsigned char>(c));
}
bool IsIdChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '-';
}
bool IsNamespaceChar(char c) { return IsLowerOrDigit(c) || c == '_' || c == '-'; }
bool IsTaskTypeChar(char c) { return IsLowerOrDigit(c) || c == '_' || c == '.' || c == '-'; }
bool IsHostnameChar(char c) { return IsAlnum(c) || c == '.' || c == '-' || c == '_'; }
bool IsGithubOwnerChar(char c) { return IsAlnum(c) || c == '-'; }
bool IsGithubLoginChar(char c) { return IsAlnum(c) || c == '-' || c == '[' || c == ']'; }
bool IsGithubRepoChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }
// A label name character: anything printable but a comma (labels are comma-separated in queries).
bool IsLabelChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u != 0x7f && c != ',';
}
// Printable and not a space: no whitespace or control characters (bytes >= 0x80 are allowed).
bool IsVisible(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

// Whether `port` is a decimal port number 0..65535.
bool IsPort(absl::string_view port) {
  int64_t unused;
  return !absl::StartsWith(port, "-") && ParseInt(port, 0, 65535, &unused);
}

// Whether `addr` is "host:port" (host: name or IPv4 address) or "[ipv6]:port".
bool IsHostPort(absl::string_view addr) {
  if (absl::ConsumePrefix(&addr, "[")) {
    const size_t close = addr.find(']');
    if (close == absl::string_view::npos) return false;
    absl::string_view host = addr.substr(0, close);
    absl::string_view port = addr.substr(close + 1);
    if (!absl::ConsumePrefix(&port, ":")) return false;
    // An IPv6 address, optionally with a zone ("fe80::1%eth0").
    std::pair<absl::string_view, absl::string_view> address_zone =
        absl::StrSplit(host, absl::MaxSplits('%', 1));
    const bool has_zone = host.find('%') != absl::string_view::npos;
    return absl::StrContains(address_zone.first, ':') &&
           HasChars(address_zone.first, 2, 45,
                    [](char c) {
                      return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' ||
                             c == '.';
                    }) &&
           (!has_zone || HasChars(address_zone.second, 1, 64, IsHostnameChar)) && IsPort(port);
  }
  const size_t colon = addr.rfind(':');
  if (colon == absl::string_view::npos) return false;
  return HasChars(addr.substr(0, colon), 1, 253, IsHostnameChar) && IsPort(addr.substr(colon + 1));
}

// The comma-separated items of `text`, each stripped of surrounding whitespace; none when `text`
// is blank.
std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> items;
  if (absl::StripAsciiWhitespace(text).empty()) return items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return items;
}

// `text` quoted and escaped as a JSON string.
std::string Quote(absl::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The load-balancing strategies' names, e.g. "round_robin, least_loaded, ...".
std::string StrategyNames() {
  std::vector<absl::string_view> names;
  for (Strategy s : {Strategy::kRoundRobin, Strategy::kLeastLoaded, Strategy::kCapacityBased,
                     Strategy::kAffinity, Strategy::kAdaptive}) {
    names.push_back(StrategyName(s));
  }
  return absl::StrJoin(names, ", ");
}

// Factories for the setting table.

Setting IntSetting(std::string name, std::string description, int Config::*field, int lo, int hi) {
  return {std::move(name), std::move(description), JsonKind::kNumber,
          [=](const RawValue& raw, Config* config) {
            int64_t value;
            if (!ParseInt(raw.text, lo, hi, &value)) {
              return MustBe(absl::StrCat("an integer in ", lo, "..", hi));
            }
            config->*field = static_cast<int>(value);
            return absl::OkStatus();
          },
          [=](const Config& config) { return absl::StrCat(config.*field); }};
}

// A duration written as a whole number of `unit`s (seconds or milliseconds).
Setting DurationSetting(std::string name, std::string description, absl::Duration Config::*field,
                        absl::Duration unit, int64_t lo, int64_t hi) {
  const char* unit_name = unit == absl::Seconds(1) ? "seconds" : "milliseconds";
  return {std::move(name), std::move(description), JsonKind::kNumber,
          [=](const RawValue& raw, Config* config) {
            int64_t value;
            if (!ParseInt(raw.text, lo, hi, &value)) {
              return MustBe(absl::StrCat("an integer in ", lo, "..", hi, " (", unit_name, ")"));
            }
            config->*field = value * unit;
            return absl::OkStatus();
          },
          [=](const Config& config) { return absl::StrCat(config.*field / unit); }};
}

Setting BoolSetting(std::string name, std::string description, bool Config::*field) {
  return {std::move(name), std::move(description), JsonKind::kBool,
          [=](const RawValue& raw, Config* config) {
            const std::string text = absl::AsciiStrToLower(raw.text);
            if (text == "true" || text == "1" || text == "yes") {
              config->*field = true;
            } else if (text == "false" || text == "0" || text == "no") {
              config->*field = false;
            } else {
              return MustBe("true, false, 1, 0, yes or no");
            }
            return absl::OkStatus();
          },
          [=](const Config& config) { return std::string(config.*field ? "true" : "false"); }};
}

// A string accepted when `check` returns OK; `check` explains what is allowed otherwise.
Setting StringSetting(std::string name, std::string description, std::string Config::*field,
                      std::function<absl::Status(absl::string_view)> check) {
  return {std::move(name), std::move(description), JsonKind::kString,
          [=](const RawValue& raw, Config* config) {
            absl::Status status = check(raw.text);
            if (status.ok()) config->*field = raw.text;
            return status;
          },
          [=](const Config& config) { return config.*field; }};
}

// A comma-separated list (a JSON array in the config file) of distinct items, each 1..64
// characters satisfying `ok`.
Setting ListSetting(std::string name, std::string description,
                    std::vector<std::string> Config::*field, std::string noun, std::string charset,
                    bool (*ok)(char), bool require_one) {
  return {
      std::move(name), std::move(description), JsonKind::kList,
      [=](const RawValue& raw, Config* config) {
        std::vector<std::string> items = raw.items ? *raw.items : SplitList(raw.text);
        if (require_one && items.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("must list at least one ", noun));
        }
        std::set<absl::string_view> seen;
        for (const std::string& item : items) {
          if (!HasChars(item, 1, 64, ok)) {
            return absl::InvalidArgumentError(absl::StrCat(
                noun, " ", Quote(item), " is invalid: each must be 1..64 characters of ", charset));
          }
          if (!seen.insert(item).second) {
            return absl::InvalidArgumentError(
                absl::StrCat(noun, " ", Quote(item), " is listed twice: each must appear once"));
          }
        }
        config->*field = std::move(items);
        return absl::OkStatus();
      },
      [=](const Config& config) { return absl::StrJoin(config.*field, ","); }};
}

absl::Status CheckApiToken(absl::string_view token) {
  if (token.empty() ||
      HasChars(token, kMinApiTokenLength, kMaxApiTokenLength, IsVisible)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "must be ", kMinApiTokenLength, "..", kMaxApiTokenLength,
      " characters without whitespace or control characters (value not shown)"));
}

Setting OctalModeSetting(std::string name, std::string description, int Config::*field) {
  return {std::move(name), std::move(description), JsonKind::kString,
          [=](const RawValue& raw, Config* config) {
            const std::string& t = raw.text;
            int mode = 0;
            if (t.empty() || t.size() > 4) return MustBe("an octal file mode in 0..0777, e.g. 0660");
            for (char c : t) {
              if (c < '0' || c > '7') return MustBe("an octal file mode in 0..0777, e.g. 0660");
              mode = mode * 8 + (c - '0');
            }
            if (mode > 0777) return MustBe("an octal file mode in 0..0777, e.g. 0660");
            config->*field = mode;
            return absl::OkStatus();
          },
          [=](const Config& config) {
            const int m = config.*field;
            return absl::StrCat("0", (m >> 6) & 7, (m >> 3) & 7, m & 7);
          }};
}

Setting PathSetting(std::string name, std::string description, std::string Config::*field) {
  return StringSetting(std::move(name), std::move(description), field, [](absl::string_view v) {
    return v.find('\0') == absl::string_view::npos ? absl::OkStatus() : MustBe("a path");
  });
}

Setting WithComputedDefault(Setting setting, std::string how) {
  setting.computed_default = std::move(how);
  return setting;
}

Setting Secret(Setting setting) {
  setting.secret = true;
  return setting;
}

}  // namespace tasksentinel::config_internal
