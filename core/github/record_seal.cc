// The seal on records (see record_seal.h).
#include "core/github/record_seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tasksentinel::github {
namespace {

constexpr absl::string_view kMarker = "<!-- task-sentinel ";
constexpr absl::string_view kMarkerEnd = " -->";
constexpr absl::string_view kSigField = ",\"sig\":\"";
constexpr size_t kSigHexLength = 64;  // SHA-256

// 128 random bits as hex.
std::string NewNonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // OpenSSL's generator failed (it does not on a working system); fall back to the address
    // space's entropy so that a write never fails for want of a nonce. Uniqueness, not secrecy,
    // is what the nonce needs.
    absl::BitGen gen;
    for (unsigned char& b : bytes) b = absl::Uniform<unsigned char>(gen);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace

RecordSeal::RecordSeal(std::string secret, std::string repository)
    : secret_(std::move(secret)), repository_(std::move(repository)) {}

std::string RecordSeal::Sign(absl::string_view type, int64_t issue,
                             absl::string_view json) const {
  const std::string message =
      absl::StrCat("task-sentinel/v1\n", repository_, "\n", issue, "\n", type, "\n", json);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string RecordSeal::Line(const Record& record, int64_t issue, absl::Time at) const {
  const std::string line = RecordLine(record);
  absl::string_view json = line;
  absl::ConsumePrefix(&json, kMarker);
  absl::ConsumeSuffix(&json, kMarkerEnd);
  absl::ConsumeSuffix(&json, "}");
  std::string sealed = absl::StrCat(json, ",\"at\":", absl::ToUnixMicros(at), ",\"nonce\":\"",
                                    NewNonce(), "\"}");
  if (signs()) {
    const std::string sig = Sign(RecordTypeName(record), issue, sealed);
    sealed.pop_back();
    absl::StrAppend(&sealed, kSigField, sig, "\"}");
  }
  return absl::StrCat(kMarker, sealed, kMarkerEnd);
}

std::string RecordSeal::Body(const Record& record, int64_t issue, absl::Time at) const {
  return absl::StrCat(Summary(record), "\n", Line(record, issue, at));
}

bool RecordSeal::Verify(const ParsedBody& parsed, int64_t issue) const {
  if (!signs()) return true;
  if (!parsed.record.has_value() || parsed.sig.size() != kSigHexLength) return false;
  // The signed bytes: the JSON as written, without the trailing `,"sig":"..."}` but with `}`.
  const std::string suffix = absl::StrCat(kSigField, parsed.sig, "\"}");
  absl::string_view json = parsed.json;
  if (!absl::ConsumeSuffix(&json, suffix)) return false;
  const std::string expected =
      Sign(RecordTypeName(*parsed.record), issue, absl::StrCat(json, "}"));
  return expected.size() == parsed.sig.size() &&
         CRYPTO_memcmp(expected.data(), parsed.sig.data(), expected.size()) == 0;
}

}  // namespace tasksentinel::github
