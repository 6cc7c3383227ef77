// DecodeCache (core/embedded/decode_cache.h) and the record decoders that use it: a hit is the
// same record a parse gives, any change of the bytes is parsed afresh, failures and large records
// are never kept, and concurrent use answers every caller correctly.
#include "core/embedded/decode_cache.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/embedded/records.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tasksentinel {
namespace {

// A decoder that counts its calls: the number, or INVALID_ARGUMENT for text that is not one.
struct CountingDecode {
  std::atomic<int>* calls;
  absl::StatusOr<int> operator()(absl::string_view data) const {
    ++*calls;
    int v = 0;
    if (!absl::SimpleAtoi(data, &v)) return absl::InvalidArgumentError("not a number");
    return v;
  }
};

TEST(DecodeCacheTest, SameBytesAreDecodedOnce) {
  DecodeCache<int> cache(16, 64);
  std::atomic<int> calls{0};
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<int> v = cache.Get("42", CountingDecode{&calls});
    TS_ASSERT_OK(v);
    EXPECT_EQ(*v, 42);
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(cache.hits(), 4u);
}

TEST(DecodeCacheTest, ChangedBytesAreDecodedAgain) {
  DecodeCache<int> cache(16, 64);
  std::atomic<int> calls{0};
  ASSERT_EQ(*cache.Get("41", CountingDecode{&calls}), 41);
  ASSERT_EQ(*cache.Get("42", CountingDecode{&calls}), 42);
  ASSERT_EQ(*cache.Get("41", CountingDecode{&calls}), 41);
  EXPECT_GE(calls.load(), 2);
  // A prefix or an extension of remembered bytes is a different record.
  ASSERT_EQ(*cache.Get("4", CountingDecode{&calls}), 4);
  ASSERT_EQ(*cache.Get("410", CountingDecode{&calls}), 410);
}

TEST(DecodeCacheTest, OneSlotEvictsButAnswersRight) {
  DecodeCache<int> cache(1, 64);
  std::atomic<int> calls{0};
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(*cache.Get("1", CountingDecode{&calls}), 1);
    EXPECT_EQ(*cache.Get("2", CountingDecode{&calls}), 2);
  }
  EXPECT_EQ(calls.load(), 6);  // each evicts the other
  EXPECT_EQ(cache.hits(), 0u);
}

TEST(DecodeCacheTest, FailuresAreNotKept) {
  DecodeCache<int> cache(16, 64);
  std::atomic<int> calls{0};
  TS_EXPECT_CODE(cache.Get("x", CountingDecode{&calls}), kInvalidArgument);
  TS_EXPECT_CODE(cache.Get("x", CountingDecode{&calls}), kInvalidArgument);
  EXPECT_EQ(calls.load(), 2);
}

TEST(DecodeCacheTest, LargeRecordsAreNotKept) {
  DecodeCache<int> cache(16, 4);
  std::atomic<int> calls{0};
  EXPECT_EQ(*cache.Get("12345", CountingDecode{&calls}), 12345);
  EXPECT_EQ(*cache.Get("12345", CountingDecode{&calls}), 12345);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(*cache.Get("1234", CountingDecode{&calls}), 1234);
  EXPECT_EQ(*cache.Get("1234", CountingDecode{&calls}), 1234);
  EXPECT_EQ(calls.load(), 3);
}

TEST(DecodeCacheTest, ConcurrentCallersEachGetTheirRecord) {
  DecodeCache<int> cache(4, 64);  // few slots: hits, misses and evictions all happen
  std::atomic<int> calls{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int want = (i * 7 + t) % 10;
        absl::StatusOr<int> got = cache.Get(absl::StrCat(want), CountingDecode{&calls});
        if (!got.ok() || *got != want) ++wrong;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(cache.hits(), 0u);
}

TEST(RecordDecodersTest, AnUnchangedRecordDecodesTheSameEveryTime) {
  WorkerRecord w;
  w.id = "decode-cache-worker";
  w.hostname = "host";
  w.epoch = 7;
  w.lease_expires_at = absl::FromUnixMicros(1'700'000'000'000'000);
  w.type_history = {{"build", 3}};
  const std::string bytes = Encode(w);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<WorkerRecord> got = DecodeWorker(bytes);
    TS_ASSERT_OK(got);
    EXPECT_EQ(got->id, w.id);
    EXPECT_EQ(got->epoch, 7u);
    EXPECT_EQ(got->lease_expires_at, w.lease_expires_at);
    EXPECT_EQ(got->type_history.at("build"), 3u);
  }
  // One field changed: the new bytes give the new record, not the remembered one.
  w.epoch = 8;
  absl::StatusOr<WorkerRecord> changed = DecodeWorker(Encode(w));
  TS_ASSERT_OK(changed);
  EXPECT_EQ(changed->epoch, 8u);
}

TEST(RecordDecodersTest, ADamagedRecordFailsEveryTime) {
  for (int i = 0; i < 3; ++i) {
    TS_EXPECT_CODE(DecodeTask("{\"id\": \"t1\""), kDataLoss);
    TS_EXPECT_CODE(DecodeLock("not json"), kDataLoss);
  }
}

}  // namespace
}  // namespace tasksentinel
