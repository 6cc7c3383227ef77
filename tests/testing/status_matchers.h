// Status assertions for tests.
#ifndef TASK_SENTINEL_TESTS_TESTING_STATUS_MATCHERS_H_
#define TASK_SENTINEL_TESTS_TESTING_STATUS_MATCHERS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace tasksentinel::testing {
inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace tasksentinel::testing

#define TS_ASSERT_OK(expr) ASSERT_TRUE(::tasksentinel::testing::GetStatus(expr).ok()) \
    << ::tasksentinel::testing::GetStatus(expr)
#define TS_EXPECT_OK(expr) EXPECT_TRUE(::tasksentinel::testing::GetStatus(expr).ok()) \
    << ::tasksentinel::testing::GetStatus(expr)
#define TS_EXPECT_CODE(expr, code_) \
  EXPECT_EQ(::tasksentinel::testing::GetStatus(expr).code(), absl::StatusCode::code_) \
      << ::tasksentinel::testing::GetStatus(expr)

#endif  // TASK_SENTINEL_TESTS_TESTING_STATUS_MATCHERS_H_
