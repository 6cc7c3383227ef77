// RequestIds: keys map to their issue (the lower number when two raced), an unresolved key is
// told apart and resolved by a later note, keys age out after the window and the oldest go
// first past the capacity.
#include "core/github/request_ids.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tasksentinel::github {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(RequestIdsTest, NotesResolvesAndKeepsTheLowerNumber) {
  RequestIds ids(10, absl::Hours(24));
  EXPECT_FALSE(ids.Find("a", kStart).has_value());
  ids.NoteUnresolved("a", kStart);
  ASSERT_TRUE(ids.Find("a", kStart).has_value());
  EXPECT_EQ(ids.Find("a", kStart)->number, 0);
  ids.Note("a", 7, kStart);
  EXPECT_EQ(ids.Find("a", kStart)->number, 7);
  ids.Note("a", 5, kStart);   // two sidecars raced: the first issue answers
  ids.Note("a", 9, kStart);
  ids.NoteUnresolved("a", kStart);  // a resolved key stays resolved
  EXPECT_EQ(ids.Find("a", kStart)->number, 5);
  ids.Note("", 3, kStart);  // no key: nothing
  ids.Note("b", 0, kStart);
  EXPECT_EQ(ids.size(), 1u);
  ids.Forget("a");
  EXPECT_FALSE(ids.Find("a", kStart).has_value());
}

TEST(RequestIdsTest, KeysAgeOutAfterTheWindowAndTheOldestGoPastTheCapacity) {
  RequestIds ids(3, absl::Hours(24));
  ids.Note("a", 1, kStart);
  ids.Note("b", 2, kStart + absl::Hours(1));
  EXPECT_TRUE(ids.Find("a", kStart + absl::Hours(23)).has_value());
  EXPECT_FALSE(ids.Find("a", kStart + absl::Hours(24)).has_value());
  EXPECT_TRUE(ids.Find("b", kStart + absl::Hours(24)).has_value());
  for (int i = 0; i < 5; ++i) ids.Note(absl::StrCat("k", i), 10 + i, kStart + absl::Hours(24));
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_FALSE(ids.Find("b", kStart + absl::Hours(24)).has_value());
  EXPECT_FALSE(ids.Find("k1", kStart + absl::Hours(24)).has_value());
  EXPECT_EQ(ids.Find("k4", kStart + absl::Hours(24))->number, 14);
}

}  // namespace
}  // namespace tasksentinel::github
