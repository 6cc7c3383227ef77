// ScopedLock (see scoped_lock.h).
#include "clients/cpp/scoped_lock.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "clients/cpp/status.h"

namespace tasksentinel::client {

absl::StatusOr<ScopedLock> ScopedLock::Acquire(Client* client, const std::string& name,
                                               absl::Duration wait, absl::Duration ttl) {
  absl::StatusOr<std::optional<v1::Lock>> lock = client->AcquireLock(name, ttl, wait);
  if (!lock.ok()) return lock.status();
  if (!lock->has_value()) {
    return WithErrorReason(absl::FailedPreconditionError(absl::StrCat("lock ", name, " is held")),
                           kLockHeld);
  }
  const v1::Lock& l = **lock;
  return ScopedLock(client, name, l.fencing_token(),
                    absl::FromUnixSeconds(l.expires_at().seconds()) +
                        absl::Nanoseconds(l.expires_at().nanos()));
}

ScopedLock::ScopedLock(ScopedLock&& other) noexcept
    : client_(std::exchange(other.client_, nullptr)),
      name_(std::move(other.name_)),
      token_(other.token_),
      expires_at_(other.expires_at_) {}

ScopedLock& ScopedLock::operator=(ScopedLock&& other) noexcept {
  if (this != &other) {
    Release().IgnoreError();
    client_ = std::exchange(other.client_, nullptr);
    name_ = std::move(other.name_);
    token_ = other.token_;
    expires_at_ = other.expires_at_;
  }
  return *this;
}

ScopedLock::~ScopedLock() { Release().IgnoreError(); }

absl::Status ScopedLock::Release() {
  if (client_ == nullptr) return absl::OkStatus();
  Client* client = std::exchange(client_, nullptr);
  absl::StatusOr<v1::ReleaseLockResponse::Status> out = client->ReleaseLock(name_, token_);
  if (!out.ok()) return out.status();
  if (*out == v1::ReleaseLockResponse::STATUS_HELD_BY_OTHER) {
    return WithErrorReason(
        absl::FailedPreconditionError(
            absl::StrCat("lock ", name_, " token ", token_, " had lapsed; a newer holder has it")),
        kLockHeld);
  }
  return absl::OkStatus();
}

}  // namespace tasksentinel::client
