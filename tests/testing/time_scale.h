// TEST_TIME_SCALE: how much slower than a normal build the code under test runs. Tests that run
// real clocks against short leases and time-outs multiply those timings by it, so that a slow
// build (--config=tsan sets TEST_TIME_SCALE=3 with --test_env; .bazelrc) keeps the margins the
// timings were chosen with, instead of losing leases to the sanitizer's speed. Unset, empty or
// malformed means 1; values are clamped to [1, 20].
#ifndef TASK_SENTINEL_TESTS_TESTING_TIME_SCALE_H_
#define TASK_SENTINEL_TESTS_TESTING_TIME_SCALE_H_

#include <algorithm>
#include <cstdlib>

#include "absl/time/time.h"

namespace tasksentinel::testing {

inline double TimeScale() {
  static const double scale = [] {
    const char* s = std::getenv("TEST_TIME_SCALE");
    if (s == nullptr || *s == '\0') return 1.0;
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || *end != '\0') return 1.0;
    return std::clamp(v, 1.0, 20.0);
  }();
  return scale;
}

// `d` stretched by TimeScale().
inline absl::Duration Scaled(absl::Duration d) { return d * TimeScale(); }

}  // namespace tasksentinel::testing

#endif  // TASK_SENTINEL_TESTS_TESTING_TIME_SCALE_H_
