// Commands on the shared memory: get, set, delete, list and watch entries of a namespace, and
// memory-namespaces (how many entries each namespace holds; the seed's debug:memory-namespaces).
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/cli/cli.h"
#include "clients/cli/flags.h"
#include "clients/cli/output.h"

namespace tasksentinel::cli {
namespace {

// The namespaces memory-namespaces counts when none are named: the sidecar's defaults
// (MEMORY_NAMESPACES). The API has no namespace listing.
const char* const kDefaultNamespaces[] = {"swarm", "tasks", "workers", "global"};

// Set by SIGINT/SIGTERM while `memory watch` runs.
std::atomic<bool> interrupted{false};

void OnInterrupt(int) { interrupted.store(true); }

// memory get NS KEY.
int RunGet(Invocation& inv) {
  v1::GetMemoryRequest req;
  req.set_namespace_(inv.args[0]);
  req.set_key(inv.args[1]);
  v1::GetMemoryResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::GetMemory, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  PrintFields(EntryFields(resp.entry()));
  return kExitOk;
}

// memory set NS KEY VALUE [--expected-version=N] [--ttl=...]; VALUE "-" reads stdin.
int RunSet(Invocation& inv) {
  v1::SetMemoryRequest req;
  req.set_namespace_(inv.args[0]);
  req.set_key(inv.args[1]);
  if (inv.args[2] == "-") {
    req.set_value(std::string(std::istreambuf_iterator<char>(std::cin), {}));
  } else {
    req.set_value(inv.args[2]);
  }
  if (auto v = absl::GetFlag(FLAGS_expected_version); v.has_value()) req.set_expected_version(*v);
  if (auto ttl = absl::GetFlag(FLAGS_ttl); ttl.has_value()) {
    if (*ttl < absl::ZeroDuration() || *ttl == absl::InfiniteDuration()) {
      return UsageError(inv, "--ttl must be a finite, non-negative duration");
    }
    ToProtoDuration(*ttl, req.mutable_ttl());
  }
  v1::SetMemoryResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::SetMemory, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  PrintFields(EntryFields(resp.entry()));
  return kExitOk;
}

// memory delete NS KEY [--expected-version=N]: deleting a missing key is not an error.
int RunDelete(Invocation& inv) {
  v1::DeleteMemoryRequest req;
  req.set_namespace_(inv.args[0]);
  req.set_key(inv.args[1]);
  if (auto v = absl::GetFlag(FLAGS_expected_version); v.has_value()) req.set_expected_version(*v);
  v1::DeleteMemoryResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::DeleteMemory, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  std::printf("%s\n", resp.deleted() ? "deleted" : "not found (nothing deleted)");
  return kExitOk;
}

// memory list NS [PREFIX].
int RunList(Invocation& inv) {
  v1::ListMemoryRequest req;
  req.set_namespace_(inv.args[0]);
  if (inv.args.size() > 1) req.set_prefix(inv.args[1]);
  v1::ListMemoryResponse resp;
  if (auto s = CallAllPages(inv, &v1::SentinelService::Stub::ListMemory, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  Table t({"KEY", "VERSION", "UPDATED_BY", "UPDATED", "EXPIRES", "VALUE"});
  for (const v1::MemoryEntry& e : resp.entries()) {
    t.AddRow({e.key(), absl::StrCat(e.version()), e.updated_by(), FormatTime(e.updated_at()),
              FormatTime(e.expires_at()), Printable(e.value(), 60)});
  }
  t.Print("no entries");
  return kExitOk;
}

// memory watch NS [PREFIX] [--noinitial]: prints events until Ctrl-C, --timeout (inf: never)
// or the sidecar ends the stream. Ctrl-C and the timeout end it with exit 0.
int RunWatch(Invocation& inv) {
  v1::WatchMemoryRequest req;
  req.set_namespace_(inv.args[0]);
  if (inv.args.size() > 1) req.set_prefix(inv.args[1]);
  req.set_include_initial(absl::GetFlag(FLAGS_initial));

  grpc::ClientContext ctx;
  inv.SetDeadline(&ctx);
  // Ctrl-C cancels the call (from a helper thread: TryCancel is not async-signal-safe).
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::atomic<bool> done{false};
  std::thread canceller([&] {
    while (!done.load()) {
      if (interrupted.load()) {
        ctx.TryCancel();
        return;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  });

  std::unique_ptr<grpc::ClientReader<v1::WatchMemoryResponse>> reader =
      inv.stub->WatchMemory(&ctx, req);
  v1::WatchMemoryResponse event;
  int rc = kExitOk;
  while (rc == kExitOk && reader->Read(&event)) {
    if (inv.json) {
      rc = PrintJson(event);
      continue;
    }
    const v1::MemoryEntry& e = event.entry();
    if (event.type() == v1::WatchMemoryResponse::TYPE_PUT) {
      std::printf("PUT %s/%s version=%llu by=%s %s\n", e.namespace_().c_str(), e.key().c_str(),
                  static_cast<unsigned long long>(e.version()), e.updated_by().c_str(),
                  Printable(e.value(), 200).c_str());
    } else {
      std::printf("DELETE %s/%s version=%llu\n", e.namespace_().c_str(), e.key().c_str(),
                  static_cast<unsigned long long>(e.version()));
    }
    std::fflush(stdout);
  }
  if (rc != kExitOk) ctx.TryCancel();
  grpc::Status status = reader->Finish();
  done.store(true);
  canceller.join();
  if (rc != kExitOk) return rc;
  const bool ended_by_us = (interrupted.load() && status.error_code() == grpc::CANCELLED) ||
                           status.error_code() == grpc::DEADLINE_EXCEEDED;
  if (!status.ok() && !ended_by_us) return RpcError(status);
  return kExitOk;
}

// memory-namespaces [NS...]: the entry count of each namespace (default: the sidecar's default
// namespaces), skipping those the sidecar is not configured with (INVALID_ARGUMENT).
int RunNamespaces(Invocation& inv) {
  std::vector<std::string> names = inv.args;
  if (names.empty()) names.assign(std::begin(kDefaultNamespaces), std::end(kDefaultNamespaces));
  google::protobuf::Struct json;
  google::protobuf::ListValue* list = (*json.mutable_fields())["namespaces"].mutable_list_value();
  Table t({"NAMESPACE", "ENTRIES"});
  for (const std::string& ns : names) {
    v1::ListMemoryRequest req;
    req.set_namespace_(ns);
    v1::ListMemoryResponse resp;
    grpc::Status s = CallAllPages(inv, &v1::SentinelService::Stub::ListMemory, req, &resp);
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) continue;  // not configured
    if (!s.ok()) return RpcError(s);
    t.AddRow({ns, absl::StrCat(resp.entries_size())});
    auto& fields = *list->add_values()->mutable_struct_value()->mutable_fields();
    fields["namespace"].set_string_value(ns);
    fields["entries"].set_number_value(resp.entries_size());
  }
  if (inv.json) return PrintJson(json);
  t.Print("no configured namespaces among those asked");
  return kExitOk;
}

}  // namespace

std::vector<Command> MemoryCommands() {
  return {
      {"memory get", "NS KEY", 2, 2, {}, "read one entry", RunGet},
      {"memory set", "NS KEY VALUE|- [--expected-version=N] [--ttl=DURATION]", 3, 3,
       {"expected_version", "ttl"}, "write one entry (VALUE - reads stdin)", RunSet},
      {"memory delete", "NS KEY [--expected-version=N]", 2, 2, {"expected_version"},
       "delete one entry", RunDelete},
      {"memory list", "NS [PREFIX]", 1, 2, {}, "list the entries of a namespace", RunList},
      {"memory watch", "NS [PREFIX] [--noinitial]", 1, 2, {"initial"},
       "stream changes until Ctrl-C or --timeout (inf: forever)", RunWatch},
      {"memory-namespaces", "[NS...]", 0, -1, {},
       "entry counts of swarm, tasks, workers, global (or of NS...)", RunNamespaces},
  };
}

}  // namespace tasksentinel::cli
