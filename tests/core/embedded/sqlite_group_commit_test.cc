// SqliteStore's group commit: concurrent writes share one transaction and one commit (fsync),
// a write that fails does not fail the others of its batch, and every acknowledged write of
// concurrent writers survives kill -9.
//
// Writes are lined up into one batch deterministically: a first write blocks inside its body
// (it leads a batch of its own) until the others are queued (SqliteStore::queued_writes), so
// they all land in the next batch.
//
// Thread safety: the kill test forks while the parent holds no open SqliteStore on the file;
// the child only ever _exits.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/embedded/sqlite_store.h"
#include "gtest/gtest.h"
#include "tests/core/embedded/store_testing.h"

namespace tasksentinel {
namespace {

// Polls `condition` until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = FreshDir("group_commit") + "/store.db";
    OpenStore(SqliteStore::Options());
  }

  // (Re)opens store_ with `options`.
  void OpenStore(const SqliteStore::Options& options) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  void TearDown() override { ReleaseAndJoin(); }

  // Starts a write that blocks inside its body until release_ is notified; returns once its
  // body runs (it leads a batch, so later writes queue behind it).
  void StartBlockingWrite() {
    threads_.emplace_back([this] {
      blocking_status_ = store_->Run([&](Transaction& txn) -> absl::Status {
        entered_.Notify();
        release_.WaitForNotification();
        return txn.Put("blocker", "1");
      });
    });
    entered_.WaitForNotification();
  }

  // Starts `body` as a write on its own thread and waits until it is queued for a batch.
  // Returns where its status will be once ReleaseAndJoin returned.
  const absl::Status* Queue(std::function<absl::Status(Transaction&)> body) {
    const size_t before = store_->queued_writes();
    absl::Status* status = &statuses_.emplace_back(absl::UnknownError("did not run"));
    threads_.emplace_back([this, body = std::move(body), status] { *status = store_->Run(body); });
    EXPECT_TRUE(WaitUntil([&] { return store_->queued_writes() == before + 1; }));
    return status;
  }

  // Lets the blocking write finish and waits for every write started.
  void ReleaseAndJoin() {
    if (!release_.HasBeenNotified()) release_.Notify();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    EXPECT_TRUE(blocking_status_.ok()) << blocking_status_;
  }

  std::string path_;
  std::unique_ptr<SqliteStore> store_;
  absl::Notification entered_;
  absl::Notification release_;
  absl::Status blocking_status_;
  std::deque<absl::Status> statuses_;  // Queue's, at stable addresses.
  std::vector<std::thread> threads_;
};

TEST_F(GroupCommitTest, ConcurrentWritersShareOneCommit) {
  const SqliteStore::WriteStats before = store_->write_stats();
  StartBlockingWrite();
  constexpr int kWriters = 16;
  std::vector<const absl::Status*> statuses;
  for (int i = 0; i < kWriters; ++i) {
    statuses.push_back(Queue(
        [i](Transaction& txn) { return txn.Put(absl::StrCat("w/", i), absl::StrCat(i)); }));
  }
  ReleaseAndJoin();
  for (int i = 0; i < kWriters; ++i) {
    EXPECT_TRUE(statuses[i]->ok()) << i << ": " << *statuses[i];
    EXPECT_EQ(ReadKey(*store_, absl::StrCat("w/", i)).value(), absl::StrCat(i));
  }
  const SqliteStore::WriteStats after = store_->write_stats();
  EXPECT_EQ(after.writes - before.writes, kWriters + 1u);
  // The blocking write's own commit, then one for all 16: 2 syncs for 17 writes.
  EXPECT_EQ(after.commits - before.commits, 2u);
}

TEST_F(GroupCommitTest, ABatchTakesAtMostMaxBatchWrites) {
  SqliteStore::Options options;
  options.max_batch = 4;
  ASSERT_NO_FATAL_FAILURE(OpenStore(options));
  const SqliteStore::WriteStats before = store_->write_stats();
  StartBlockingWrite();
  std::vector<const absl::Status*> statuses;
  for (int i = 0; i < 10; ++i) {
    statuses.push_back(
        Queue([i](Transaction& txn) { return txn.Put(absl::StrCat("w/", i), "v"); }));
  }
  ReleaseAndJoin();
  for (const absl::Status* status : statuses) EXPECT_TRUE(status->ok()) << *status;
  const SqliteStore::WriteStats after = store_->write_stats();
  EXPECT_EQ(after.writes - before.writes, 11u);
  // The blocking write, then the 10 queued ones in batches of 4, 4 and 2.
  EXPECT_EQ(after.commits - before.commits, 4u);
}

TEST_F(GroupCommitTest, AFailingWriteDoesNotFailTheOthersInItsBatch) {
  const SqliteStore::WriteStats before = store_->write_stats();
  StartBlockingWrite();
  auto seen_by_later = std::make_shared<std::optional<std::string>>("unset");
  const absl::Status* first = Queue([](Transaction& txn) { return txn.Put("a", "1"); });
  const absl::Status* failing = Queue([](Transaction& txn) -> absl::Status {
    if (absl::Status s = txn.Put("b", "1"); !s.ok()) return s;
    if (absl::Status s = txn.Delete("a"); !s.ok()) return s;
    return absl::AbortedError("b changes its mind");
  });
  const absl::Status* after_failing = Queue([seen_by_later](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<std::string>> b = txn.Get("b");
    if (!b.ok()) return b.status();
    *seen_by_later = *b;
    return txn.Put("c", "1");
  });
  ReleaseAndJoin();
  EXPECT_TRUE(first->ok()) << *first;
  EXPECT_EQ(*failing, absl::AbortedError("b changes its mind"));
  EXPECT_TRUE(after_failing->ok()) << *after_failing;
  // The failed write was undone before the next one ran, and only it was undone.
  EXPECT_EQ(*seen_by_later, std::nullopt);
  EXPECT_EQ(ReadKey(*store_, "a").value(), "1");
  EXPECT_EQ(ReadKey(*store_, "b").value(), std::nullopt);
  EXPECT_EQ(ReadKey(*store_, "c").value(), "1");
  const SqliteStore::WriteStats after = store_->write_stats();
  EXPECT_EQ(after.writes - before.writes, 3u);  // the blocker, a and c
  EXPECT_EQ(after.commits - before.commits, 2u);

  // Reopened from disk, the batch is there without the failed write.
  store_.reset();
  absl::StatusOr<std::unique_ptr<SqliteStore>> reopened = SqliteStore::Open(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(ReadKey(**reopened, "a").value(), "1");
  EXPECT_EQ(ReadKey(**reopened, "b").value(), std::nullopt);
  EXPECT_EQ(ReadKey(**reopened, "c").value(), "1");
}

TEST_F(GroupCommitTest, ABatchOfOnlyFailingWritesCommitsNothing) {
  const SqliteStore::WriteStats before = store_->write_stats();
  StartBlockingWrite();
  auto fail = [](Transaction& txn) -> absl::Status {
    if (absl::Status s = txn.Put("never", "1"); !s.ok()) return s;
    return absl::FailedPreconditionError("no");
  };
  const absl::Status* one = Queue(fail);
  const absl::Status* two = Queue(fail);
  ReleaseAndJoin();
  EXPECT_EQ(*one, absl::FailedPreconditionError("no"));
  EXPECT_EQ(*two, absl::FailedPreconditionError("no"));
  EXPECT_EQ(ReadKey(*store_, "never").value(), std::nullopt);
  const SqliteStore::WriteStats after = store_->write_stats();
  EXPECT_EQ(after.writes - before.writes, 1u);
  EXPECT_EQ(after.commits - before.commits, 1u);  // the blocker's only
}

// ---------------------------------------------------------------------------------------------
// Durability of every acknowledged write under concurrency, across kill -9.

constexpr int kThreads = 8;

std::string ThreadKey(int thread, int i) { return absl::StrCat("t", thread, "/", 100000 + i); }
std::string CountKey(int thread) { return absl::StrCat("count/", thread); }

// Child body: kThreads threads commit as fast as they can, thread t writing ThreadKey(t, i)
// and CountKey(t) = i + 1 in write i, and reporting (t, i + 1) on `ack_fd` only after Run
// returned OK. Runs until killed.
int ConcurrentCommitStream(const std::string& path, int ack_fd) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  if (!store.ok()) return 2;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        absl::Status status = (*store)->Run([&](Transaction& txn) -> absl::Status {
          if (absl::Status s = txn.Put(ThreadKey(t, i), "v"); !s.ok()) return s;
          return txn.Put(CountKey(t), absl::StrCat(i + 1));
        });
        if (!status.ok()) _exit(3);
        const int32_t ack[2] = {t, i + 1};  // 8 bytes: one atomic pipe write
        if (write(ack_fd, ack, sizeof(ack)) != sizeof(ack)) _exit(4);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return 0;
}

TEST(GroupCommitKillTest, EveryAcknowledgedWriteOfConcurrentWritersSurvivesKill9) {
  const std::string path = FreshDir("group_commit") + "/store.db";
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) _exit(ConcurrentCommitStream(path, fds[1]));
    ASSERT_GT(pid, 0);
    close(fds[1]);
    // The highest acknowledged count per thread; kill once enough writes were acknowledged.
    std::map<int, int> acked;
    int total = 0;
    auto read_ack = [&]() -> bool {
      int32_t ack[2];
      size_t got = 0;
      while (got < sizeof(ack)) {
        const ssize_t r = read(fds[0], reinterpret_cast<char*>(ack) + got, sizeof(ack) - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        got += static_cast<size_t>(r);
      }
      acked[ack[0]] = std::max(acked[ack[0]], static_cast<int>(ack[1]));
      ++total;
      return true;
    };
    while (total < 100 + 37 * round && read_ack()) {
    }
    kill(pid, SIGKILL);
    int wait_status = 0;
    while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    while (read_ack()) {
    }
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL);
    ASSERT_GE(total, 100);

    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int t = 0; t < kThreads; ++t) {
      absl::StatusOr<std::optional<std::string>> count = ReadKey(**store, CountKey(t));
      ASSERT_TRUE(count.ok()) << count.status();
      int n = 0;
      if (count->has_value()) {
        ASSERT_TRUE(absl::SimpleAtoi(**count, &n));
      }
      // Every acknowledged write is there; at most one more (committed, not yet reported).
      EXPECT_GE(n, acked[t]) << "thread " << t;
      EXPECT_LE(n, acked[t] + 1) << "thread " << t;
      // The next round starts its counts afresh, so remove this round's.
      ASSERT_TRUE((*store)
                      ->Run([&](Transaction& txn) -> absl::Status {
                        for (int i = 0; i < n; ++i) {
                          absl::StatusOr<std::optional<std::string>> v =
                              txn.Get(ThreadKey(t, i));
                          if (!v.ok()) return v.status();
                          if (*v != "v") {
                            return absl::DataLossError(absl::StrCat("lost ", ThreadKey(t, i)));
                          }
                          if (absl::Status s = txn.Delete(ThreadKey(t, i)); !s.ok()) return s;
                        }
                        return txn.Delete(CountKey(t));
                      })
                      .ok());
    }
  }
}

}  // namespace
}  // namespace tasksentinel
