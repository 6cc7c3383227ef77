// sentinelctl: the operator's command-line client of a Task Sentinel sidecar.
//
//   sentinelctl [--addr=ADDR] [--timeout=5s] [--json] COMMAND [ARGS] [FLAGS]
//
// This file reads the command line and dispatches to the command table (cli.h). Flags are absl
// flags (flags.h), but the command line is tokenised here rather than by
// absl::ParseCommandLine, which exits with status 1 on a bad flag where sentinelctl promises 2,
// and which knows nothing of per-command flags or of hyphenated names (--max-attempts). Each
// flag is looked up with absl::FindCommandLineFlag and set with CommandLineFlag::ParseFrom, so
// values are parsed exactly as absl would (durations by absl::ParseDuration). The syntax is
// absl's: --name=value, --name value (non-boolean flags), --name / --noname (booleans), one or
// two leading dashes, and "--" ending the flags. Flags may come before or after the command.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "clients/cli/cli.h"
#include "clients/cli/flags.h"
#include "service/build_info.h"

namespace tasksentinel::cli {
namespace {

// The contents of `path`, or an error naming `what` and the path.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", what, " ", path));
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Fills the invocation's token and channel from the global flags (or their environment
// variables): TLS when a CA is given, a client certificate for mutual TLS, the bearer token.
absl::Status Connect(Invocation& inv) {
  const std::string token_file =
      FlagOrEnv(absl::GetFlag(FLAGS_token_file), "SENTINEL_API_TOKEN_FILE");
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = ReadWholeFile(token_file, "the token file");
    if (!token.ok()) return token.status();
    inv.token = std::string(absl::StripAsciiWhitespace(*token));
  } else {
    inv.token = FlagOrEnv("", "SENTINEL_API_TOKEN");
  }
  const std::string ca = FlagOrEnv(absl::GetFlag(FLAGS_tls_ca), "SENTINEL_TLS_CA");
  const std::string cert = FlagOrEnv(absl::GetFlag(FLAGS_tls_cert), "SENTINEL_TLS_CLIENT_CERT");
  const std::string key = FlagOrEnv(absl::GetFlag(FLAGS_tls_key), "SENTINEL_TLS_CLIENT_KEY");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  // Reconnect quickly: wait-ready polls a sidecar that is still starting, and gRPC's default
  // first reconnect backoff (1 s, growing) would add seconds to it. (Not the MIN backoff: gRPC
  // also uses it as the connection attempt's timeout, which must stay long on a busy machine.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  if (!ca.empty() || !cert.empty()) {
    if (cert.empty() != key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    grpc::SslCredentialsOptions options;
    if (!ca.empty()) {
      absl::StatusOr<std::string> roots = ReadWholeFile(ca, "the TLS CA file");
      if (!roots.ok()) return roots.status();
      options.pem_root_certs = *roots;
    }
    if (!cert.empty()) {
      absl::StatusOr<std::string> chain = ReadWholeFile(cert, "the TLS client certificate");
      if (!chain.ok()) return chain.status();
      absl::StatusOr<std::string> private_key = ReadWholeFile(key, "the TLS client key");
      if (!private_key.ok()) return private_key.status();
      options.pem_cert_chain = *chain;
      options.pem_private_key = *private_key;
    }
    credentials = grpc::SslCredentials(options);
    const std::string name = absl::GetFlag(FLAGS_tls_server_name);
    if (!name.empty()) args.SetSslTargetNameOverride(name);
  }
  inv.channel = grpc::CreateCustomChannel(ResolvedAddr(), credentials, args);
  return absl::OkStatus();
}

// The command line, tokenised.
struct CommandLine {
  // The positional arguments: the command's words, then its arguments.
  std::vector<std::string> positional;
  // The names (underscored) of the flags that were given.
  std::set<std::string> flags;
  // --help or -h was given.
  bool help = false;
  // --version was given.
  bool version = false;
};

// Every flag some command accepts, plus the global ones.
std::set<std::string> KnownFlags() {
  std::set<std::string> known(GlobalFlagNames().begin(), GlobalFlagNames().end());
  for (const Command& c : AllCommands()) known.insert(c.flags.begin(), c.flags.end());
  return known;
}

// Tokenises argv[1..] and sets the flags; returns the error message of a malformed command line
// in `error` (and false).
bool Tokenise(int argc, char** argv, CommandLine* out, std::string* error) {
  const std::set<std::string> known = KnownFlags();
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) out->positional.emplace_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out->positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    std::vector<absl::string_view> parts = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    std::string name = absl::StrReplaceAll(parts[0], {{"-", "_"}});
    if (name == "help" || name == "h") {
      out->help = true;
      continue;
    }
    if (name == "version" && parts.size() == 1) {
      out->version = true;
      continue;
    }
    std::string value;
    bool has_value = parts.size() == 2;
    if (has_value) value = std::string(parts[1]);
    absl::CommandLineFlag* flag = known.count(name) ? absl::FindCommandLineFlag(name) : nullptr;
    if (flag == nullptr && absl::StartsWith(name, "no") && !has_value &&
        known.count(name.substr(2))) {
      // --noname for a boolean.
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && flag->IsOfType<bool>()) {
        name = name.substr(2);
        value = "false";
        has_value = true;
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      *error = absl::StrCat("unknown flag --", parts[0]);
      return false;
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        *error = absl::StrCat("flag --", parts[0], " needs a value");
        return false;
      }
    }
    std::string parse_error;
    if (!flag->ParseFrom(value, &parse_error)) {
      *error = absl::StrCat("invalid value \"", value, "\" for --", parts[0], ": ", parse_error);
      return false;
    }
    out->flags.insert(name);
  }
  return true;
}

// The table entry whose words start `positional` (the longest such), or nullptr.
const Command* FindCommand(const std::vector<std::string>& positional) {
  const Command* best = nullptr;
  size_t best_words = 0;
  for (const Command& c : AllCommands()) {
    const std::vector<std::string> words = absl::StrSplit(c.name, ' ');
    if (words.size() <= best_words || words.size() > positional.size()) continue;
    if (std::equal(words.begin(), words.end(), positional.begin())) {
      best = &c;
      best_words = words.size();
    }
  }
  return best;
}

// Whether `prefix` is "" or selects at least one command ("lock", "lock acquire").
bool HasTopic(const std::string& prefix) {
  if (prefix.empty()) return true;
  for (const Command& c : AllCommands()) {
    if (c.name == prefix || absl::StartsWith(c.name, prefix + " ")) return true;
  }
  return false;
}

// Prints the usage of the commands whose name starts with `prefix` (all for "") to `out`.
void PrintUsage(FILE* out, const std::string& prefix) {
  if (prefix.empty()) {
    std::fprintf(out,
                 "usage: sentinelctl [--addr=ADDR] [--timeout=5s] [--json] COMMAND [ARGS] "
                 "[FLAGS]\n\n"
                 "The operator's client of a Task Sentinel sidecar (gRPC). Lock and task "
                 "commands act as the\nworker the sidecar speaks for.\n\n"
                 "Commands:\n");
  } else {
    std::fprintf(out, "usage:\n");
  }
  for (const Command& c : AllCommands()) {
    if (!prefix.empty() && c.name != prefix && !absl::StartsWith(c.name, prefix + " ")) continue;
    std::fprintf(out, "  %s\n      %s\n", UsageLine(c).c_str(), c.summary.c_str());
  }
  if (prefix.empty()) {
    std::fprintf(out,
                 "\nGlobal flags:\n"
                 "  --addr=ADDR       host:port or unix:PATH (default $SENTINEL_GRPC_ADDR, else "
                 "127.0.0.1:50051)\n"
                 "  --timeout=5s      deadline of each call; blocking calls add their --wait; "
                 "inf: none\n"
                 "  --json            print responses as JSON, one object per line\n"
                 "  --version         print sentinelctl's version and exit\n\n"
                 "Exit codes: 0 success, 1 the sidecar answered with an error (or refused: "
                 "NOT_SERVING,\nlock not acquired), 2 usage error.\n");
  }
}

// Prints "sentinelctl: <message>" and the usage (of the commands under `prefix`) to stderr.
int Usage(absl::string_view message, const std::string& prefix = "") {
  std::fprintf(stderr, "sentinelctl: %.*s\n", static_cast<int>(message.size()), message.data());
  PrintUsage(stderr, prefix);
  return kExitUsage;
}

int Run(int argc, char** argv) {
  CommandLine line;
  std::string error;
  if (!Tokenise(argc, argv, &line, &error)) return Usage(error);
  if (line.version) {
    std::printf("%s\n", VersionLine("sentinelctl").c_str());
    return kExitOk;
  }
  if (line.help || (!line.positional.empty() && line.positional[0] == "help")) {
    std::vector<std::string> topic = line.positional;
    if (!topic.empty() && topic[0] == "help") topic.erase(topic.begin());
    const std::string prefix = absl::StrJoin(topic, " ");
    if (!HasTopic(prefix)) return Usage(absl::StrCat("no command \"", prefix, "\""));
    PrintUsage(stdout, prefix);
    return kExitOk;
  }
  if (line.positional.empty()) return Usage("missing command");

  const Command* command = FindCommand(line.positional);
  if (command == nullptr) {
    const std::string& first = line.positional[0];
    for (const Command& c : AllCommands()) {
      if (absl::StartsWith(c.name, first + " ")) {
        return Usage(line.positional.size() == 1
                         ? absl::StrCat("missing ", first, " command")
                         : absl::StrCat("unknown ", first, " command \"",
                                        line.positional[1], "\""),
                     first);
      }
    }
    return Usage(absl::StrCat("unknown command \"", first, "\""));
  }

  Invocation inv;
  inv.command = command;
  const size_t words = std::vector<std::string>(absl::StrSplit(command->name, ' ')).size();
  inv.args.assign(line.positional.begin() + words, line.positional.end());
  const int n = static_cast<int>(inv.args.size());
  if (n < command->min_args) return UsageError(inv, "missing arguments");
  if (command->max_args >= 0 && n > command->max_args) return UsageError(inv, "too many arguments");
  for (const std::string& flag : line.flags) {
    const auto& globals = GlobalFlagNames();
    if (std::find(globals.begin(), globals.end(), flag) == globals.end() &&
        std::find(command->flags.begin(), command->flags.end(), flag) == command->flags.end()) {
      return UsageError(inv, absl::StrCat("--", absl::StrReplaceAll(flag, {{"_", "-"}}),
                                          " does not apply to ", command->name));
    }
  }
  inv.timeout = absl::GetFlag(FLAGS_timeout);
  inv.timeout_given = line.flags.count("timeout") > 0;
  if (inv.timeout <= absl::ZeroDuration()) return UsageError(inv, "--timeout must be positive");
  inv.json = absl::GetFlag(FLAGS_json);
  absl::Status connection = Connect(inv);
  if (!connection.ok()) return Refused(connection.message());
  inv.stub = v1::SentinelService::NewStub(inv.channel);
  return command->run(inv);
}

}  // namespace
}  // namespace tasksentinel::cli

int main(int argc, char** argv) { return tasksentinel::cli::Run(argc, argv); }
