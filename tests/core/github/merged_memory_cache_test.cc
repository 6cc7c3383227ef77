// The merged-memory cache: a view is reused only under the stamp it was computed from; at most
// max_entries entries are kept, least recently used namespaces dropped first; a namespace larger
// than the bound is not kept.
#include "core/github/merged_memory_cache.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace tasksentinel::github {
namespace {

std::shared_ptr<const MergedNamespace> View(int entries, const std::string& writer = "w") {
  auto v = std::make_shared<MergedNamespace>();
  for (int i = 0; i < entries; ++i) {
    MergedEntry e;
    e.item.value = "v" + std::to_string(i);
    e.writer = writer;
    (*v)["k" + std::to_string(i)] = e;
  }
  return v;
}

TEST(MergedMemoryCacheTest, AViewIsReusedOnlyUnderItsStamp) {
  MergedMemoryCache cache(10);
  const auto view = View(2);
  cache.Put("swarm", {7, 1}, view);
  EXPECT_EQ(cache.Find("swarm", {7, 1}), view);
  EXPECT_EQ(cache.Find("swarm", {8, 1}), nullptr) << "the comments changed";
  EXPECT_EQ(cache.Find("swarm", {7, 2}), nullptr) << "the own entries changed";
  EXPECT_EQ(cache.Find("tasks", {7, 1}), nullptr) << "another namespace";
  // A newer view replaces the older one.
  const auto newer = View(3);
  cache.Put("swarm", {8, 1}, newer);
  EXPECT_EQ(cache.Find("swarm", {8, 1}), newer);
  EXPECT_EQ(cache.Find("swarm", {7, 1}), nullptr);
  EXPECT_EQ(cache.entries(), 3u);
  EXPECT_EQ(cache.namespaces(), 1u);
}

TEST(MergedMemoryCacheTest, KeepsAtMostMaxEntriesDroppingTheLeastRecentlyUsed) {
  MergedMemoryCache cache(5);
  cache.Put("a", {1, 0}, View(2));
  cache.Put("b", {1, 0}, View(2));
  EXPECT_EQ(cache.entries(), 4u);
  ASSERT_NE(cache.Find("a", {1, 0}), nullptr);  // a is now more recent than b
  cache.Put("c", {1, 0}, View(2));              // 6 > 5: b goes
  EXPECT_EQ(cache.entries(), 4u);
  EXPECT_EQ(cache.Find("b", {1, 0}), nullptr);
  EXPECT_NE(cache.Find("a", {1, 0}), nullptr);
  EXPECT_NE(cache.Find("c", {1, 0}), nullptr);
  // A view that fills the cache alone drops every other one.
  cache.Put("d", {1, 0}, View(5));
  EXPECT_EQ(cache.entries(), 5u);
  EXPECT_EQ(cache.namespaces(), 1u);
  EXPECT_NE(cache.Find("d", {1, 0}), nullptr);
}

TEST(MergedMemoryCacheTest, ANamespaceLargerThanTheBoundIsNotKept) {
  MergedMemoryCache cache(3);
  cache.Put("small", {1, 0}, View(1));
  cache.Put("huge", {1, 0}, View(4));
  EXPECT_EQ(cache.Find("huge", {1, 0}), nullptr);
  EXPECT_NE(cache.Find("small", {1, 0}), nullptr);
  EXPECT_EQ(cache.entries(), 1u);
  // Growing past the bound drops the namespace's older, smaller view too.
  cache.Put("small", {2, 0}, View(9));
  EXPECT_EQ(cache.Find("small", {1, 0}), nullptr);
  EXPECT_EQ(cache.entries(), 0u);
}

}  // namespace
}  // namespace tasksentinel::github
