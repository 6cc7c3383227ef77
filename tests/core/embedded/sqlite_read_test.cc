// SqliteStore's read path: reads run on a pool of read connections beside the writer (of this
// store or of another connection to the file) and see committed data only, as one consistent
// snapshot, including every write whose Run returned before the read began.
#include <stdlib.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/embedded/sqlite_store.h"
#include "gtest/gtest.h"
#include "tests/core/embedded/store_testing.h"

namespace tasksentinel {
namespace {

class SqliteReadTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = FreshDir("sqlite_read") + "/store.db"; }

  std::unique_ptr<SqliteStore> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Runs a write on `writer` that puts k = "new" and then stays open (uncommitted) while the
  // reader reads k from `reader`. Returns what the reader saw, or an error when the read did not
  // finish within 30 s while the write was open (the read waited for the writer).
  absl::StatusOr<std::optional<std::string>> ReadBesideOpenWrite(SqliteStore& writer,
                                                                 SqliteStore& reader) {
    absl::Notification written;
    absl::Notification read_done;
    absl::StatusOr<std::optional<std::string>> seen = absl::UnknownError("no read");
    absl::Status write_status;
    std::thread writing([&] {
      write_status = writer.Run([&](Transaction& txn) -> absl::Status {
        if (absl::Status s = txn.Put("k", "new"); !s.ok()) return s;
        written.Notify();
        read_done.WaitForNotificationWithTimeout(absl::Seconds(30));
        return absl::OkStatus();
      });
    });
    written.WaitForNotification();
    std::thread reading([&] {
      seen = ReadKey(reader, "k");
      read_done.Notify();
    });
    const bool in_time = read_done.WaitForNotificationWithTimeout(absl::Seconds(30));
    writing.join();
    reading.join();
    EXPECT_TRUE(write_status.ok()) << write_status;
    if (!in_time) return absl::DeadlineExceededError("the read waited for the open write");
    return seen;
  }

  std::string path_;
};

TEST_F(SqliteReadTest, AReadDoesNotWaitForTheWriterAndSeesOnlyCommittedData) {
  std::unique_ptr<SqliteStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Run([](Transaction& txn) { return txn.Put("k", "old"); }).ok());
  EXPECT_EQ(ReadBesideOpenWrite(*store, *store).value(), "old");
  // Committed now, and so visible.
  EXPECT_EQ(ReadKey(*store, "k").value(), "new");
}

TEST_F(SqliteReadTest, AReadDoesNotWaitForAnotherConnectionsWriter) {
  std::unique_ptr<SqliteStore> writer = OpenOrDie();
  std::unique_ptr<SqliteStore> reader = OpenOrDie();
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(writer->Run([](Transaction& txn) { return txn.Put("k", "old"); }).ok());
  EXPECT_EQ(ReadBesideOpenWrite(*writer, *reader).value(), "old");
  EXPECT_EQ(ReadKey(*reader, "k").value(), "new");
}

TEST_F(SqliteReadTest, ReadersSeeOneSnapshotAndEveryAcknowledgedWrite) {
  std::unique_ptr<SqliteStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  // The writer keeps a == b == i in every commit; after each Run returns it reads its own write.
  // Readers check that a and b always agree (one snapshot, committed data only) and never go
  // back (each read starts after the previous one ended).
  constexpr int kWrites = 60;  // each one fsynced, while the readers keep the CPUs busy
  constexpr int kReaders = 6;  // more than the pool's connections
  std::atomic<bool> writing{true};
  std::atomic<int> torn{0}, backwards{0}, stale_own_reads{0}, errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      while (writing.load()) {
        std::optional<std::string> a, b;
        absl::Status status = store->Read([&](Transaction& txn) -> absl::Status {
          absl::StatusOr<std::optional<std::string>> got_a = txn.Get("a");
          if (!got_a.ok()) return got_a.status();
          absl::StatusOr<std::optional<std::string>> got_b = txn.Get("b");
          if (!got_b.ok()) return got_b.status();
          a = *got_a;
          b = *got_b;
          return absl::OkStatus();
        });
        if (!status.ok()) {
          ++errors;
          continue;
        }
        if (a != b) ++torn;
        int n = 0;
        if (a.has_value() && absl::SimpleAtoi(*a, &n)) {
          if (n < last) ++backwards;
          last = n;
        }
      }
    });
  }
  for (int i = 1; i <= kWrites; ++i) {
    const std::string v = absl::StrCat(i);
    absl::Status status = store->Run([&](Transaction& txn) -> absl::Status {
      if (absl::Status s = txn.Put("a", v); !s.ok()) return s;
      return txn.Put("b", v);
    });
    ASSERT_TRUE(status.ok()) << status;
    absl::StatusOr<std::optional<std::string>> own = ReadKey(*store, "a");
    if (!own.ok() || *own != v) ++stale_own_reads;
  }
  writing = false;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(stale_own_reads.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

TEST_F(SqliteReadTest, ReadYourWritesFromManyWriters) {
  std::unique_ptr<SqliteStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  // Concurrent writers (so their writes are batched) each read their own write back at once.
  constexpr int kThreads = 8;
  constexpr int kEach = 40;
  std::atomic<int> misses{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string key = absl::StrCat("t", t);
        const std::string value = absl::StrCat(i);
        if (!store->Run([&](Transaction& txn) { return txn.Put(key, value); }).ok() ||
            ReadKey(*store, key).value_or(std::nullopt) != value) {
          ++misses;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_EQ(store->write_stats().writes, static_cast<uint64_t>(kThreads * kEach));
}

TEST_F(SqliteReadTest, AFailedReadLeavesItsConnectionUsable) {
  std::unique_ptr<SqliteStore> store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Run([](Transaction& txn) { return txn.Put("k", "v"); }).ok());
  // More rounds than read connections, so every connection fails at least once.
  for (int i = 0; i < 12; ++i) {
    absl::Status failed = store->Read([](Transaction& txn) -> absl::Status {
      absl::StatusOr<std::vector<std::pair<std::string, std::string>>> rows = txn.Scan("");
      if (!rows.ok()) return rows.status();
      return absl::NotFoundError("the body fails");
    });
    EXPECT_EQ(failed, absl::NotFoundError("the body fails"));
    EXPECT_EQ(ReadKey(*store, "k").value(), "v");
    ASSERT_TRUE(store->Run([&](Transaction& txn) { return txn.Put("k", "v"); }).ok());
  }
}

}  // namespace
}  // namespace tasksentinel
