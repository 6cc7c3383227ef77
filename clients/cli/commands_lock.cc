// Commands that act as the sidecar's worker on locks and on its lease: lock acquire, release and
// renew, and heartbeat. Every lock taken here belongs to the worker the sidecar speaks for.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/cli/cli.h"
#include "clients/cli/flags.h"
#include "clients/cli/output.h"

namespace tasksentinel::cli {
namespace {

// The lock ttl `lock acquire` asks for when --ttl is not given.
constexpr absl::Duration kDefaultAcquireTtl = absl::Seconds(30);
// How long `lock acquire` waits for a held lock when --wait is not given.
constexpr absl::Duration kDefaultAcquireWait = absl::Seconds(5);

// Parses a fencing token argument; false when it is not an unsigned integer.
bool ParseToken(const std::string& text, uint64_t* token) { return absl::SimpleAtoi(text, token); }

// The value of an optional duration flag, or `fallback`; false (after printing the usage error)
// when it is negative.
bool DurationFlag(const Invocation& inv, const std::optional<absl::Duration>& flag,
                  absl::string_view name, absl::Duration fallback, absl::Duration* out) {
  *out = flag.value_or(fallback);
  if (*out < absl::ZeroDuration() || *out == absl::InfiniteDuration()) {
    UsageError(inv, absl::StrCat("--", name, " must be a finite, non-negative duration"));
    return false;
  }
  return true;
}

// lock acquire NAME [--ttl=30s] [--wait=5s]: exit 1 when the lock was not acquired.
int RunAcquire(Invocation& inv) {
  absl::Duration ttl, wait;
  if (!DurationFlag(inv, absl::GetFlag(FLAGS_ttl), "ttl", kDefaultAcquireTtl, &ttl) ||
      !DurationFlag(inv, absl::GetFlag(FLAGS_wait), "wait", kDefaultAcquireWait, &wait)) {
    return kExitUsage;
  }
  v1::AcquireLockRequest req;
  req.set_name(inv.args[0]);
  ToProtoDuration(ttl, req.mutable_ttl());
  ToProtoDuration(wait, req.mutable_wait_timeout());
  (*req.mutable_metadata())["client"] = "sentinelctl";
  v1::AcquireLockResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::AcquireLock, req, &resp, wait); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) {
    if (int rc = PrintJson(resp); rc != kExitOk) return rc;
  } else if (resp.acquired()) {
    Fields f = {{"acquired", "yes"}};
    for (auto& field : LockFields(resp.lock())) f.push_back(std::move(field));
    PrintFields(f);
  }
  if (resp.acquired()) return kExitOk;
  return Refused(absl::StrCat("lock ", inv.args[0], " not acquired: ",
                              resp.has_lock() ? absl::StrCat("held by ", resp.lock().holder())
                                              : "earlier claimants wait for it, or it is in "
                                                "its lock-delay"));
}

// lock release NAME TOKEN: exit 1 when another instance holds the lock.
int RunRelease(Invocation& inv) {
  v1::ReleaseLockRequest req;
  req.set_name(inv.args[0]);
  uint64_t token;
  if (!ParseToken(inv.args[1], &token)) return UsageError(inv, "TOKEN must be a number");
  req.set_fencing_token(token);
  v1::ReleaseLockResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::ReleaseLock, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  const std::string status = ShortEnum(v1::ReleaseLockResponse::Status_Name(resp.status()), "STATUS_");
  if (inv.json) {
    if (int rc = PrintJson(resp); rc != kExitOk) return rc;
  } else {
    std::printf("%s\n", status.c_str());
  }
  if (resp.status() == v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER) {
    return Refused(absl::StrCat("lock ", inv.args[0], " is held by another instance"));
  }
  return kExitOk;
}

// lock renew NAME TOKEN [--ttl=...]: without --ttl the lock keeps its ttl.
int RunRenew(Invocation& inv) {
  v1::RenewLockRequest req;
  req.set_name(inv.args[0]);
  uint64_t token;
  if (!ParseToken(inv.args[1], &token)) return UsageError(inv, "TOKEN must be a number");
  req.set_fencing_token(token);
  absl::Duration ttl;
  if (!DurationFlag(inv, absl::GetFlag(FLAGS_ttl), "ttl", absl::ZeroDuration(), &ttl)) {
    return kExitUsage;
  }
  ToProtoDuration(ttl, req.mutable_ttl());
  v1::RenewLockResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::RenewLock, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  PrintFields(LockFields(resp.lock()));
  return kExitOk;
}

// heartbeat [--health=healthy] [--max-tasks=N]: renews the sidecar's worker lease.
int RunHeartbeat(Invocation& inv) {
  v1::HeartbeatRequest req;
  const std::string health = absl::AsciiStrToUpper(absl::GetFlag(FLAGS_health));
  v1::WorkerHealth value;
  if (!v1::WorkerHealth_Parse(absl::StrCat("WORKER_HEALTH_", health), &value) ||
      value == v1::WORKER_HEALTH_UNSPECIFIED) {
    return UsageError(inv, "--health must be healthy, degraded or unhealthy");
  }
  req.set_health(value);
  req.set_max_tasks(absl::GetFlag(FLAGS_max_tasks));
  v1::HeartbeatResponse resp;
  if (auto s = Call(inv, &v1::SentinelService::Stub::Heartbeat, req, &resp); !s.ok()) {
    return RpcError(s);
  }
  if (inv.json) return PrintJson(resp);
  PrintFields({{"lease_expires_at", FormatTime(resp.lease_expires_at())},
               {"lease_epoch", absl::StrCat(resp.lease_epoch())},
               {"lost_locks", absl::StrCat(resp.lost_locks_size())}});
  if (!resp.lost_locks().empty()) {
    std::printf("\n");
    Table t({"NAME", "TOKEN", "EXPIRED"});
    for (const v1::Lock& l : resp.lost_locks()) {
      t.AddRow({l.name(), absl::StrCat(l.fencing_token()), FormatTime(l.expires_at())});
    }
    t.Print("");
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> LockCommands() {
  return {
      {"lock acquire", "NAME [--ttl=30s] [--wait=5s]", 1, 1, {"ttl", "wait"},
       "take a lock for the sidecar's worker (exit 1 if not acquired)", RunAcquire},
      {"lock release", "NAME TOKEN", 2, 2, {}, "release the lock instance TOKEN", RunRelease},
      {"lock renew", "NAME TOKEN [--ttl=DURATION]", 2, 2, {"ttl"},
       "extend a held lock's ttl", RunRenew},
      {"heartbeat", "[--health=healthy] [--max-tasks=N]", 0, 0, {"health", "max_tasks"},
       "renew the sidecar worker's lease now", RunHeartbeat},
  };
}

}  // namespace tasksentinel::cli
