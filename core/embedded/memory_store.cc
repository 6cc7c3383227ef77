// MemoryStore: the in-memory Store (see memory_store.h).
//
// Thread safety: every access to the committed map happens with MemoryStore::mu_ held; a
// MemoryTransaction lives only inside Run (or Read), which holds mu_ (shared for Read) for the
// transaction's whole lifetime.
#include "core/embedded/memory_store.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace tasksentinel {
namespace {

// One transaction's view: the committed map plus a private overlay of pending writes, where
// nullopt marks a pending delete. Must only be used while the store's mutex is held (shared for
// a read-only transaction, which refuses writes).
class MemoryTransaction final : public Transaction {
 public:
  using Overlay = std::map<std::string, std::optional<std::string>>;

  MemoryTransaction(const std::map<std::string, std::string>& committed, bool read_only)
      : committed_(committed), read_only_(read_only) {}

  absl::StatusOr<std::optional<std::string>> Get(absl::string_view key) override {
    const std::string k(key);
    if (auto it = overlay_.find(k); it != overlay_.end()) return it->second;
    if (auto it = committed_.find(k); it != committed_.end()) {
      return std::optional<std::string>(it->second);
    }
    return std::optional<std::string>();
  }

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      absl::string_view prefix) override {
    const std::string p(prefix);
    std::vector<std::pair<std::string, std::string>> out;
    // Merge two sorted ranges; on equal keys the overlay wins (and a pending delete hides the
    // committed entry).
    auto c = committed_.lower_bound(p);
    auto o = overlay_.lower_bound(p);
    auto c_in = [&] { return c != committed_.end() && absl::StartsWith(c->first, p); };
    auto o_in = [&] { return o != overlay_.end() && absl::StartsWith(o->first, p); };
    while (c_in() || o_in()) {
      if (o_in() && (!c_in() || o->first <= c->first)) {
        if (c_in() && c->first == o->first) ++c;
        if (o->second.has_value()) out.emplace_back(o->first, *o->second);
        ++o;
      } else {
        out.emplace_back(c->first, c->second);
        ++c;
      }
    }
    return out;
  }

  absl::Status Put(absl::string_view key, absl::string_view value) override {
    if (read_only_) return Refuse();
    overlay_[std::string(key)] = std::string(value);
    return absl::OkStatus();
  }

  absl::Status Delete(absl::string_view key) override {
    if (read_only_) return Refuse();
    overlay_[std::string(key)] = std::nullopt;
    return absl::OkStatus();
  }

  // Moves the pending writes out (for commit).
  Overlay TakeOverlay() { return std::move(overlay_); }

  // The first refused write of a read-only transaction, or OK.
  const absl::Status& refused() const { return refused_; }

 private:
  absl::Status Refuse() {
    refused_ = absl::FailedPreconditionError("MemoryStore: write in a read-only transaction");
    return refused_;
  }

  const std::map<std::string, std::string>& committed_;
  const bool read_only_;
  Overlay overlay_;
  absl::Status refused_;
};

}  // namespace

absl::Status MemoryStore::Run(absl::FunctionRef<absl::Status(Transaction&)> body) {
  absl::MutexLock lock(&mu_);
  MemoryTransaction txn(data_, /*read_only=*/false);
  absl::Status status = body(txn);
  if (!status.ok()) return status;
  if (commits_to_fail_ > 0) {
    --commits_to_fail_;
    return injected_status_;
  }
  for (auto& [key, value] : txn.TakeOverlay()) {
    if (value.has_value()) {
      data_[key] = std::move(*value);
    } else {
      data_.erase(key);
    }
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::Read(absl::FunctionRef<absl::Status(Transaction&)> body) {
  absl::ReaderMutexLock lock(&mu_);
  MemoryTransaction txn(data_, /*read_only=*/true);
  absl::Status status = body(txn);
  if (status.ok()) status = txn.refused();
  return status;
}

void MemoryStore::FailNextCommits(int n, absl::Status status) {
  absl::MutexLock lock(&mu_);
  commits_to_fail_ = n > 0 ? n : 0;
  injected_status_ =
      status.ok() ? absl::InternalError("MemoryStore: injected commit failure") : std::move(status);
}

}  // namespace tasksentinel
