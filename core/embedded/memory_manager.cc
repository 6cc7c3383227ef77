// Shared memory (see memory_manager.h).
#include "core/embedded/memory_manager.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/embedded/lock_table.h"
#include "core/memory_diff.h"
#include "core/notifier.h"
#include "core/validation.h"

namespace tasksentinel {
namespace {

absl::StatusOr<std::optional<MemoryRecord>> ReadLive(Transaction& txn, const std::string& key,
                                                     absl::Time now) {
  absl::StatusOr<std::optional<std::string>> raw = txn.Get(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<MemoryRecord>();
  absl::StatusOr<MemoryRecord> rec = DecodeMemory(**raw);
  if (!rec.ok()) return rec.status();
  if (now >= rec->expires_at) return std::optional<MemoryRecord>();
  return std::optional<MemoryRecord>(*std::move(rec));
}

// Every live entry under the prefix, keyed by memory key.
absl::StatusOr<std::map<std::string, MemoryRecord>> ScanLive(Transaction& txn,
                                                             const std::string& ns,
                                                             const std::string& prefix,
                                                             absl::Time now) {
  const std::string ns_prefix = MemoryPrefix(ns, "");
  auto rows = txn.Scan(MemoryPrefix(ns, prefix));
  if (!rows.ok()) return rows.status();
  std::map<std::string, MemoryRecord> out;
  for (const auto& [key, value] : *rows) {
    absl::StatusOr<MemoryRecord> rec = DecodeMemory(value);
    if (!rec.ok()) return rec.status();
    if (now < rec->expires_at) out.emplace(key.substr(ns_prefix.size()), *std::move(rec));
  }
  return out;
}

}  // namespace

absl::Status MemoryManager::ValidateTarget(const std::string& ns, const std::string& key) {
  if (absl::Status s = ValidateNamespace(ns, ctx_.config->namespaces); !s.ok()) return s;
  return ValidateKey("key", key);
}

absl::StatusOr<MemoryEntry> MemoryManager::Get(const std::string& ns, const std::string& key) {
  if (absl::Status s = ValidateTarget(ns, key); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  std::optional<MemoryRecord> found;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<MemoryRecord>> rec = ReadLive(txn, MemoryKey(ns, key), now);
    if (!rec.ok()) return rec.status();
    found = *std::move(rec);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (!found.has_value()) {
    return absl::NotFoundError(absl::StrCat("no memory entry ", ns, "/", key));
  }
  return MemoryEntry{ns, key, *std::move(found)};
}

absl::StatusOr<std::optional<MemoryRecord>> MemoryManager::CheckWrite(
    Transaction& txn, const std::string& ns, const std::string& key,
    std::optional<uint64_t> expected, const std::optional<FenceRef>& fencing, absl::Time now) {
  if (fencing.has_value()) {
    absl::StatusOr<LoadedLock> lock =
        CheckFence(txn, fencing->name, fencing->token, now, ctx_.config->lock_delay);
    if (!lock.ok()) return lock.status();
  }
  absl::StatusOr<std::optional<MemoryRecord>> current = ReadLive(txn, MemoryKey(ns, key), now);
  if (!current.ok()) return current.status();
  if (expected.has_value()) {
    const uint64_t actual = current->has_value() ? (*current)->version : 0;
    if (absl::Status s = CheckExpectedVersion(ns, key, *expected, actual); !s.ok()) return s;
  }
  return current;
}

absl::StatusOr<MemoryEntry> MemoryManager::Set(const SetRequest& request) {
  if (absl::Status s = ValidateSetRequest(request, ctx_.config->namespaces); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  MemoryRecord written;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<MemoryRecord>> current = CheckWrite(
        txn, request.ns, request.key, request.expected_version, request.fencing, now);
    if (!current.ok()) return current.status();
    absl::StatusOr<uint64_t> version = NextRevision(txn);
    if (!version.ok()) return version.status();
    written.value = request.value;
    written.version = *version;
    written.updated_at = now;
    written.updated_by = ctx_.config->worker_id;
    written.expires_at =
        request.ttl > absl::ZeroDuration() ? now + request.ttl : absl::InfiniteFuture();
    return txn.Put(MemoryKey(request.ns, request.key), Encode(written));
  });
  if (!status.ok()) return status;
  ctx_.notifier->Notify();
  return MemoryEntry{request.ns, request.key, written};
}

absl::StatusOr<bool> MemoryManager::Delete(const std::string& ns, const std::string& key,
                                           std::optional<uint64_t> expected_version,
                                           const std::optional<FenceRef>& fencing) {
  if (absl::Status s = ValidateTarget(ns, key); !s.ok()) return s;
  if (fencing.has_value()) {
    if (absl::Status s = ValidateId("fencing.task_id", fencing->name); !s.ok()) return s;
  }
  const absl::Time now = ctx_.clock->Now();
  bool deleted = false;
  absl::Status status = ctx_.store->Run([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<MemoryRecord>> current =
        CheckWrite(txn, ns, key, expected_version, fencing, now);
    if (!current.ok()) return current.status();
    deleted = current->has_value();
    return txn.Delete(MemoryKey(ns, key));  // also drops an expired record
  });
  if (!status.ok()) return status;
  if (deleted) ctx_.notifier->Notify();
  return deleted;
}

absl::StatusOr<std::vector<MemoryEntry>> MemoryManager::List(const std::string& ns,
                                                             const std::string& prefix) {
  if (absl::Status s = ValidateNamespace(ns, ctx_.config->namespaces); !s.ok()) return s;
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  const absl::Time now = ctx_.clock->Now();
  std::vector<MemoryEntry> out;
  absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::map<std::string, MemoryRecord>> live = ScanLive(txn, ns, prefix, now);
    if (!live.ok()) return live.status();
    out.clear();
    for (auto& [key, rec] : *live) out.push_back(MemoryEntry{ns, key, std::move(rec)});
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::Status MemoryManager::Watch(const std::string& ns, const std::string& prefix,
                                  bool include_initial,
                                  const std::function<bool(const MemoryEvent&)>& sink,
                                  const std::function<bool()>& cancelled) {
  if (absl::Status s = ValidateNamespace(ns, ctx_.config->namespaces); !s.ok()) return s;
  if (absl::Status s = ValidateKeyPrefix("prefix", prefix); !s.ok()) return s;
  MemoryWatch watch(ns, include_initial);
  return RetryUntil(
      *ctx_.clock, *ctx_.notifier, absl::InfiniteFuture(), ctx_.config->poll_interval,
      cancelled, [&](bool* done) -> absl::Status {
        const absl::Time now = ctx_.clock->Now();
        std::map<std::string, MemoryRecord> current;
        absl::Status status = ctx_.store->Read([&](Transaction& txn) -> absl::Status {
          absl::StatusOr<std::map<std::string, MemoryRecord>> live =
              ScanLive(txn, ns, prefix, now);
          if (!live.ok()) return live.status();
          current = *std::move(live);
          return absl::OkStatus();
        });
        if (!status.ok()) return status;
        *done = !watch.Observe(std::move(current), sink);
        return absl::OkStatus();
      });
}

}  // namespace tasksentinel
