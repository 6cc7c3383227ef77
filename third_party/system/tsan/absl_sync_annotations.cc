// ThreadSanitizer builds only (--config=tsan; see .bazelrc and README,
// Development).
//
// Debian's libabsl is not built with -fsanitize=thread, so TSan does not see
// what absl::Mutex, absl::CondVar and absl::Notification order: every field
// guarded by an absl::Mutex looks like a data race. This file interposes the
// out-of-line entry points of those classes (it is linked into the executable,
// which comes first in symbol lookup, so it also catches the calls gRPC and
// libabsl itself make) and tells TSan about the order each one creates, then
// calls the original found with dlsym(RTLD_NEXT):
//
//   - acquiring a mutex (Lock, ReaderLock, a TryLock that succeeds, LockWhen*,
//   the return from
//     Await* and CondVar::Wait*) is an acquire on the mutex's address;
//   - releasing it (Unlock, ReaderUnlock, ReleasableMutexLock::Release,
//   entering Await* and
//     CondVar::Wait*, which may release it while they wait) is a release on
//     that address;
//   - a Condition given to LockWhen*/Await* is evaluated by absl under the
//   mutex, but possibly
//     on another thread (the one unlocking): it is wrapped so that its
//     evaluation acquires before and releases after, as a critical section
//     would;
//   - Notification::Notify releases on the notification (and on its flag, which
//   the inline
//     HasBeenNotified reads); the WaitForNotification* that return true
//     acquire.
//
// It tracks happens-before only, not lock ownership: TSan's lock-order
// (deadlock) checks and "mutex held" notes in reports do not cover absl::Mutex.
// The mangled names are those of Debian's libabsl 20220623 (inline namespace
// absl::debian3); a start-up check aborts if one is missing, so a changed
// libabsl cannot silently turn the annotations off.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

template <typename Fn>
Fn Real(const char *mangled) {
  void *p = dlsym(RTLD_NEXT, mangled);
  if (p == nullptr) {
    std::fprintf(stderr, "tsan absl annotations: %s not found in libabsl: %s\n", mangled,
                 dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(p);
}

// Declares `real`, the original of `mangled`, whose type (as a plain function
// taking the object first) is the rest of the arguments.
#define REAL(mangled, ...)    \
  using RealFn = __VA_ARGS__; \
  static const RealFn real = Real<RealFn>(mangled)

void TsanAcquire(const void *mu) { __tsan_acquire(const_cast<void *>(mu)); }
void TsanRelease(const void *mu) { __tsan_release(const_cast<void *>(mu)); }

// A Condition that evaluates `inner` as a critical section of `mu`.
struct Wrapped {
  const absl::Condition *inner;
  const absl::Mutex *mu;
  static bool Eval(void *arg) {
    const Wrapped *w = static_cast<const Wrapped *>(arg);
    TsanAcquire(w->mu);
    const bool result = w->inner->Eval();
    TsanRelease(w->mu);
    return result;
  }
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// ---- Mutex: plain locking.

void Mutex::Lock() {
  REAL("_ZN4absl7debian35Mutex4LockEv", void (*)(Mutex *));
  real(this);
  TsanAcquire(this);
}

void Mutex::ReaderLock() {
  REAL("_ZN4absl7debian35Mutex10ReaderLockEv", void (*)(Mutex *));
  real(this);
  TsanAcquire(this);
}

bool Mutex::TryLock() {
  REAL("_ZN4absl7debian35Mutex7TryLockEv", bool (*)(Mutex *));
  const bool locked = real(this);
  if (locked) TsanAcquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  REAL("_ZN4absl7debian35Mutex13ReaderTryLockEv", bool (*)(Mutex *));
  const bool locked = real(this);
  if (locked) TsanAcquire(this);
  return locked;
}

void Mutex::Unlock() {
  REAL("_ZN4absl7debian35Mutex6UnlockEv", void (*)(Mutex *));
  TsanRelease(this);
  real(this);
}

void Mutex::ReaderUnlock() {
  REAL("_ZN4absl7debian35Mutex12ReaderUnlockEv", void (*)(Mutex *));
  TsanRelease(this);
  real(this);
}

void ReleasableMutexLock::Release() {
  REAL("_ZN4absl7debian319ReleasableMutexLock7ReleaseEv", void (*)(ReleasableMutexLock *));
  // The class's only member is its Mutex*; Release unlocks it and clears it.
  static_assert(sizeof(ReleasableMutexLock) == sizeof(Mutex *), "layout changed");
  Mutex *mu = *reinterpret_cast<Mutex **>(this);
  if (mu != nullptr) TsanRelease(mu);
  real(this);
}

// ---- Mutex: locking on a condition. The lock is held on return (for the
// *WithTimeout and *WithDeadline forms too, whatever they return).

void Mutex::LockWhen(const Condition &cond) {
  REAL("_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", void (*)(Mutex *, const Condition &));
  Wrapped w{&cond, this};
  real(this, Condition(&Wrapped::Eval, &w));
  TsanAcquire(this);
}

void Mutex::ReaderLockWhen(const Condition &cond) {
  REAL("_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE",
       void (*)(Mutex *, const Condition &));
  Wrapped w{&cond, this};
  real(this, Condition(&Wrapped::Eval, &w));
  TsanAcquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition &cond, Duration timeout) {
  REAL(
      "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE",
      bool (*)(Mutex *, const Condition &, Duration));
  Wrapped w{&cond, this};
  const bool result = real(this, Condition(&Wrapped::Eval, &w), timeout);
  TsanAcquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition &cond, Duration timeout) {
  REAL(
      "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE",
      bool (*)(Mutex *, const Condition &, Duration));
  Wrapped w{&cond, this};
  const bool result = real(this, Condition(&Wrapped::Eval, &w), timeout);
  TsanAcquire(this);
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition &cond, Time deadline) {
  REAL(
      "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_"
      "4TimeE",
      bool (*)(Mutex *, const Condition &, Time));
  Wrapped w{&cond, this};
  const bool result = real(this, Condition(&Wrapped::Eval, &w), deadline);
  TsanAcquire(this);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition &cond, Time deadline) {
  REAL(
      "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_"
      "9ConditionENS0_4TimeE",
      bool (*)(Mutex *, const Condition &, Time));
  Wrapped w{&cond, this};
  const bool result = real(this, Condition(&Wrapped::Eval, &w), deadline);
  TsanAcquire(this);
  return result;
}

// ---- Mutex: waiting with the lock held (it may be released meanwhile).

void Mutex::Await(const Condition &cond) {
  REAL("_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", void (*)(Mutex *, const Condition &));
  Wrapped w{&cond, this};
  TsanRelease(this);
  real(this, Condition(&Wrapped::Eval, &w));
  TsanAcquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition &cond, Duration timeout) {
  REAL(
      "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_"
      "8DurationE",
      bool (*)(Mutex *, const Condition &, Duration));
  Wrapped w{&cond, this};
  TsanRelease(this);
  const bool result = real(this, Condition(&Wrapped::Eval, &w), timeout);
  TsanAcquire(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition &cond, Time deadline) {
  REAL("_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE",
       bool (*)(Mutex *, const Condition &, Time));
  Wrapped w{&cond, this};
  TsanRelease(this);
  const bool result = real(this, Condition(&Wrapped::Eval, &w), deadline);
  TsanAcquire(this);
  return result;
}

// ---- CondVar: Wait releases the mutex and holds it again on return. Signal
// and SignalAll need nothing: a waiter learns of the signaller's writes through
// the mutex.

void CondVar::Wait(Mutex *mu) {
  REAL("_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE", void (*)(CondVar *, Mutex *));
  TsanRelease(mu);
  real(this, mu);
  TsanAcquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex *mu, Duration timeout) {
  REAL("_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
       bool (*)(CondVar *, Mutex *, Duration));
  TsanRelease(mu);
  const bool result = real(this, mu, timeout);
  TsanAcquire(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex *mu, Time deadline) {
  REAL("_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE",
       bool (*)(CondVar *, Mutex *, Time));
  TsanRelease(mu);
  const bool result = real(this, mu, deadline);
  TsanAcquire(mu);
  return result;
}

// ---- Notification.

namespace {
// The notification's flag, which the inline HasBeenNotified loads (an
// instrumented atomic load in the caller, so a release on its address orders it
// after Notify).
const void *Flag(const Notification *n) {
  return reinterpret_cast<const char *>(n) + sizeof(Mutex);
}
static_assert(sizeof(Mutex) == sizeof(void *) && sizeof(Notification) == 2 * sizeof(void *),
              "layout changed");
}  // namespace

void Notification::Notify() {
  REAL("_ZN4absl7debian312Notification6NotifyEv", void (*)(Notification *));
  TsanRelease(this);
  TsanRelease(Flag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  REAL("_ZNK4absl7debian312Notification19WaitForNotificationEv", void (*)(const Notification *));
  real(this);
  TsanAcquire(this);
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  REAL(
      "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_"
      "8DurationE",
      bool (*)(const Notification *, Duration));
  const bool notified = real(this, timeout);
  if (notified) TsanAcquire(this);
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  REAL(
      "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_"
      "4TimeE",
      bool (*)(const Notification *, Time));
  const bool notified = real(this, deadline);
  if (notified) TsanAcquire(this);
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
