// RS256 JSON Web Tokens for GitHub Apps (see jwt.h).
#include "service/github/jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tasksentinel::github {
namespace {

using Json = nlohmann::json;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

Key ReadKey(absl::string_view pem, bool private_key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  return Key(private_key ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                         : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

absl::StatusOr<std::string> SignAppJwt(const AppJwtClaims& claims,
                                       absl::string_view private_key_pem) {
  Key key = ReadKey(private_key_pem, /*private_key=*/true);
  if (key == nullptr || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError("not a PEM-encoded RSA private key");
  }
  const std::string header = absl::WebSafeBase64Escape(R"({"alg":"RS256","typ":"JWT"})");
  const std::string payload = absl::WebSafeBase64Escape(
      Json{{"iat", absl::ToUnixSeconds(claims.issued_at)},
           {"exp", absl::ToUnixSeconds(claims.expires_at)},
           {"iss", claims.issuer}}
          .dump());
  const std::string signing_input = absl::StrCat(header, ".", payload);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("OpenSSL could not sign the app's JWT");
  }
  std::vector<unsigned char> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("OpenSSL could not sign the app's JWT");
  }
  return absl::StrCat(signing_input, ".",
                      absl::WebSafeBase64Escape(absl::string_view(
                          reinterpret_cast<const char*>(signature.data()), length)));
}

absl::StatusOr<AppJwtClaims> VerifyAppJwt(absl::string_view jwt,
                                          absl::string_view public_key_pem) {
  const std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  std::string header, payload, signature;
  if (parts.size() != 3 || !absl::WebSafeBase64Unescape(parts[0], &header) ||
      !absl::WebSafeBase64Unescape(parts[1], &payload) ||
      !absl::WebSafeBase64Unescape(parts[2], &signature)) {
    return absl::UnauthenticatedError("not a JSON web token");
  }
  const Json h = Json::parse(header, nullptr, /*allow_exceptions=*/false);
  const Json p = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!h.is_object() || h.value("alg", "") != "RS256" || !p.is_object()) {
    return absl::UnauthenticatedError("not an RS256 JSON web token");
  }
  Key key = ReadKey(public_key_pem, /*private_key=*/false);
  if (key == nullptr) return absl::InvalidArgumentError("not a PEM-encoded public key");
  const std::string signed_part = absl::StrCat(parts[0], ".", parts[1]);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) != 1) {
    return absl::UnauthenticatedError("the JSON web token's signature does not hold");
  }
  AppJwtClaims claims;
  auto iss = p.find("iss");
  auto iat = p.find("iat");
  auto exp = p.find("exp");
  if (iss == p.end() || iat == p.end() || exp == p.end() || !iat->is_number_integer() ||
      !exp->is_number_integer()) {
    return absl::UnauthenticatedError("the JSON web token lacks iss, iat or exp");
  }
  claims.issuer = iss->is_string() ? iss->get<std::string>() : iss->dump();
  claims.issued_at = absl::FromUnixSeconds(iat->get<int64_t>());
  claims.expires_at = absl::FromUnixSeconds(exp->get<int64_t>());
  return claims;
}

}  // namespace tasksentinel::github
