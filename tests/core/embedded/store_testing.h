// Helpers shared by the store tests: a fresh directory for a database file, and one key read
// in a read-only transaction.
#ifndef TASK_SENTINEL_TESTS_CORE_EMBEDDED_STORE_TESTING_H_
#define TASK_SENTINEL_TESTS_CORE_EMBEDDED_STORE_TESTING_H_

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/embedded/store.h"
#include "gtest/gtest.h"

namespace tasksentinel {

// A new empty directory under TEST_TMPDIR, its name starting with `prefix`.
inline std::string FreshDir(const std::string& prefix) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string templ = absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, "_XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << templ << ": " << std::strerror(errno);
  }
  return templ;
}

// The value of `key` in `store` (nullopt: absent), read with Store::Read.
inline absl::StatusOr<std::optional<std::string>> ReadKey(Store& store, const std::string& key) {
  std::optional<std::string> out;
  absl::Status status = store.Read([&](Transaction& txn) -> absl::Status {
    absl::StatusOr<std::optional<std::string>> value = txn.Get(key);
    if (!value.ok()) return value.status();
    out = *std::move(value);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

}  // namespace tasksentinel

#endif  // TASK_SENTINEL_TESTS_CORE_EMBEDDED_STORE_TESTING_H_
