// ScopedLock: an RAII hold of a named lock. Acquire takes the lock (waiting up to `wait`); the
// destructor releases exactly the instance it holds, by its fencing token, so a lock that
// lapsed and was taken by another holder is never released by mistake. Pass token() to anything
// that must reject a stale holder (SetMemory's `fencing`, your own storage).
//
// While the sidecar's worker heartbeats (a Worker does, or call Client::Heartbeat), the lock
// needs no renewal; without heartbeats it lapses after its ttl.
//
// Thread safety: one ScopedLock is used by one thread at a time; the Client it uses may be shared.
#ifndef TASK_SENTINEL_CLIENTS_CPP_SCOPED_LOCK_H_
#define TASK_SENTINEL_CLIENTS_CPP_SCOPED_LOCK_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/cpp/client.h"

namespace tasksentinel::client {

class ScopedLock {
 public:
  // Acquires lock `name` through `client` (which must outlive the lock). FAILED_PRECONDITION
  // with reason LOCK_HELD when another holder still has it after `wait`; other errors as the
  // sidecar reports them.
  static absl::StatusOr<ScopedLock> Acquire(Client* client, const std::string& name,
                                            absl::Duration wait = absl::ZeroDuration(),
                                            absl::Duration ttl = absl::ZeroDuration());

  ScopedLock(ScopedLock&& other) noexcept;
  ScopedLock& operator=(ScopedLock&& other) noexcept;
  ScopedLock(const ScopedLock&) = delete;
  ScopedLock& operator=(const ScopedLock&) = delete;
  // Releases the lock if still held (errors are ignored: see Release).
  ~ScopedLock();

  // Releases now. OK when released or already gone (NOT_HELD); FAILED_PRECONDITION with reason
  // LOCK_HELD when a newer instance holds it (ours had lapsed). Afterwards the destructor does
  // nothing.
  absl::Status Release();

  const std::string& name() const { return name_; }
  // The fencing token of this instance.
  uint64_t token() const { return token_; }
  // When the lock lapses unless the worker heartbeats (as of the acquisition).
  absl::Time expires_at() const { return expires_at_; }

 private:
  ScopedLock(Client* client, std::string name, uint64_t token, absl::Time expires_at)
      : client_(client), name_(std::move(name)), token_(token), expires_at_(expires_at) {}

  Client* client_ = nullptr;  // null once released or moved from
  std::string name_;
  uint64_t token_ = 0;
  absl::Time expires_at_;
};

}  // namespace tasksentinel::client

#endif  // TASK_SENTINEL_CLIENTS_CPP_SCOPED_LOCK_H_
