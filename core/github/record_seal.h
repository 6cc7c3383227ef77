// The seal on every record the sidecar writes: when it was written, a nonce, and — with
// WORKER_SECRET set — an HMAC-SHA256 signature, so that a record cannot be forged, edited by hand,
// moved to another issue or replayed as a new comment without that showing.
//
// A sealed record line is the record's JSON (records.h) with three more fields, in this order at
// the end:
//
//   {...,"at":1700000000000000,"nonce":"9f2c...","sig":"3b7e..."}
//
// `at` is the writer's estimate of GitHub's clock when it wrote the record, `nonce` 128 random
// bits, and `sig` (only with a secret) HMAC-SHA256(secret, "task-sentinel/v1\n" + repository +
// "\n" + issue number + "\n" + record type + "\n" + the JSON up to and without `,"sig":...`).
// The signature therefore binds the exact bytes written to the repository, the issue and the
// kind of record; the nonce and `at` let readers refuse a byte-for-byte copy posted as a new
// comment (trust.h says how).
//
// Why it is safe: the HMAC is OpenSSL's; the comparison is constant-time (CRYPTO_memcmp). The
// secret is never written, logged or put in a message.
//
// Thread safety: immutable after construction; safe for concurrent use.
#ifndef TASK_SENTINEL_CORE_GITHUB_RECORD_SEAL_H_
#define TASK_SENTINEL_CORE_GITHUB_RECORD_SEAL_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "core/github/records.h"

namespace tasksentinel::github {

class RecordSeal {
 public:
  // `secret` empty: records are stamped but not signed. `repository`: "owner/name".
  RecordSeal(std::string secret, std::string repository);

  // Whether records are signed (a secret is set).
  bool signs() const { return !secret_.empty(); }

  // The sealed record line for `record` on issue `issue`, written at `at` (GitHub's clock).
  std::string Line(const Record& record, int64_t issue, absl::Time at) const;

  // A whole sealed comment body: the record's one-line summary, a newline, the sealed line.
  std::string Body(const Record& record, int64_t issue, absl::Time at) const;

  // Whether `parsed` (a record read from issue `issue`) carries a valid signature. Always true
  // without a secret.
  bool Verify(const ParsedBody& parsed, int64_t issue) const;

 private:
  // The signature (hex) of `json` (without `sig`) for a record of type `type` on `issue`.
  std::string Sign(absl::string_view type, int64_t issue, absl::string_view json) const;

  const std::string secret_;
  const std::string repository_;
};

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_CORE_GITHUB_RECORD_SEAL_H_
