// Planted races and their controls for --config=tsan (planted_race_test.sh): proves that the
// tsan setup reports a data race in the project's own code, and that the annotations of
// third_party/system/tsan/ make TSan see the order Debian's uninstrumented absl::Mutex,
// CondVar and Notification create (without them TSan reports correct code too).
//
//   planted_race built        prints "tsan" when compiled with -fsanitize=thread, else "plain"
//   planted_race wrong_mutex  RACE: two threads increment one counter, each under its own Mutex
//   planted_race mutex        two threads increment one counter, both under one absl::MutexLock
//   planted_race condvar      a value handed over under a Mutex, the reader waits on a CondVar
//   planted_race notification a value handed over by absl::Notification
//   planted_race lock_when    a value handed over, the reader waiting in Mutex::LockWhen
//
// Each prints the value it ended with ("counter=2000", "value=42"); the modes with correct
// synchronization always end with those values; wrong_mutex may lose increments.
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

constexpr int kIncrements = 1000;

// Not inlined, so that TSan's report names it (the test looks for this frame).
__attribute__((noinline)) void PlantedIncrement(long* counter) { ++*counter; }

int WrongMutex() {
  long counter = 0;
  absl::Mutex mu_a;
  absl::Mutex mu_b;
  std::thread a([&] {
    for (int i = 0; i < kIncrements; ++i) {
      absl::MutexLock lock(&mu_a);
      PlantedIncrement(&counter);
    }
  });
  std::thread b([&] {
    for (int i = 0; i < kIncrements; ++i) {
      absl::MutexLock lock(&mu_b);  // the planted bug: not the mutex the other thread holds
      PlantedIncrement(&counter);
    }
  });
  a.join();
  b.join();
  std::printf("counter=%ld\n", counter);
  return 0;
}

int OneMutex() {
  long counter = 0;
  absl::Mutex mu;
  auto work = [&] {
    for (int i = 0; i < kIncrements; ++i) {
      absl::MutexLock lock(&mu);
      PlantedIncrement(&counter);
    }
  };
  std::thread a(work);
  std::thread b(work);
  a.join();
  b.join();
  std::printf("counter=%ld\n", counter);
  return counter == 2 * kIncrements ? 0 : 1;
}

// The hand-overs: the writer stores a plain int, then publishes through the primitive; the
// reader waits on it and reads the int. Only the primitive orders the two accesses.
int CondVarHandOver() {
  int value = 0;
  bool ready = false;
  absl::Mutex mu;
  absl::CondVar cv;
  std::thread writer([&] {
    value = 42;
    absl::MutexLock lock(&mu);
    ready = true;
    cv.Signal();
  });
  int seen;
  {
    absl::MutexLock lock(&mu);
    while (!ready) cv.Wait(&mu);
  }
  seen = value;
  writer.join();
  std::printf("value=%d\n", seen);
  return seen == 42 ? 0 : 1;
}

int NotificationHandOver() {
  int value = 0;
  absl::Notification done;
  std::thread writer([&] {
    value = 42;
    done.Notify();
  });
  done.WaitForNotification();
  const int seen = value;
  writer.join();
  std::printf("value=%d\n", seen);
  return seen == 42 ? 0 : 1;
}

int LockWhenHandOver() {
  int value = 0;
  bool ready = false;
  absl::Mutex mu;
  std::thread writer([&] {
    value = 42;
    absl::MutexLock lock(&mu);
    ready = true;
  });
  mu.LockWhen(absl::Condition(&ready));
  mu.Unlock();
  const int seen = value;
  writer.join();
  std::printf("value=%d\n", seen);
  return seen == 42 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc == 2 ? argv[1] : "";
  if (std::strcmp(mode, "built") == 0) {
#if defined(__SANITIZE_THREAD__)
    std::printf("tsan\n");
#else
    std::printf("plain\n");
#endif
    return 0;
  }
  if (std::strcmp(mode, "wrong_mutex") == 0) return WrongMutex();
  if (std::strcmp(mode, "mutex") == 0) return OneMutex();
  if (std::strcmp(mode, "condvar") == 0) return CondVarHandOver();
  if (std::strcmp(mode, "notification") == 0) return NotificationHandOver();
  if (std::strcmp(mode, "lock_when") == 0) return LockWhenHandOver();
  std::fprintf(stderr, "usage: %s built|wrong_mutex|mutex|condvar|notification|lock_when\n",
               argv[0]);
  return 2;
}
