// DecodeCache: remembers the records most recently decoded from their exact stored bytes, so that
// a record read again unchanged is not parsed again.
//
// Why: the protocols read the same records many times (a lock call reads the worker's own
// registration two or three times per transaction, and every NextTask reads every open task and
// every worker), and parsing their JSON was the largest single cost of a lock or task call
// (issue #14: a quarter of the sidecar's instructions per task life). Decoding is a pure function
// of the bytes, so a hit is answered with a copy of the earlier result, and a record whose bytes
// changed in any way misses: the cache can never answer a stale record, however the store
// changed (another process included), and needs no invalidation.
//
// Bounded: `slots` entries, direct-mapped by a hash of the bytes (a new record evicts whatever
// shared its slot); records longer than `max_bytes` are not kept. Only successful decodes are
// kept, so a damaged record fails every time.
//
// Thread safety: safe for concurrent use (one mutex, held for a comparison and a copy).
#ifndef TASK_SENTINEL_CORE_EMBEDDED_DECODE_CACHE_H_
#define TASK_SENTINEL_CORE_EMBEDDED_DECODE_CACHE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/hash/hash.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace tasksentinel {

template <typename T>
class DecodeCache {
 public:
  DecodeCache(size_t slots, size_t max_bytes) : max_bytes_(max_bytes), slots_(slots) {}

  DecodeCache(const DecodeCache&) = delete;
  DecodeCache& operator=(const DecodeCache&) = delete;

  // The record decoded from `data`: the remembered one when `data` is byte for byte what it was
  // decoded from, else `decode(data)` (kept when it succeeds and `data` is small enough).
  template <typename Decode>
  absl::StatusOr<T> Get(absl::string_view data, Decode decode) {
    const bool cacheable = data.size() <= max_bytes_ && !slots_.empty();
    const size_t index = cacheable ? absl::Hash<absl::string_view>()(data) % slots_.size() : 0;
    if (cacheable) {
      absl::MutexLock lock(&mu_);
      Slot& slot = slots_[index];
      if (slot.record.has_value() && slot.data == data) {
        ++hits_;
        return *slot.record;
      }
    }
    absl::StatusOr<T> decoded = decode(data);
    if (cacheable && decoded.ok()) {
      absl::MutexLock lock(&mu_);
      Slot& slot = slots_[index];
      slot.data.assign(data.data(), data.size());
      slot.record = *decoded;
    }
    return decoded;
  }

  // How many Get calls were answered from the cache (for tests and benchmarks).
  size_t hits() {
    absl::MutexLock lock(&mu_);
    return hits_;
  }

 private:
  struct Slot {
    std::string data;
    std::optional<T> record;
  };

  const size_t max_bytes_;
  absl::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  size_t hits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_CORE_EMBEDDED_DECODE_CACHE_H_
