// JSON Web Tokens signed with RS256, as GitHub Apps use them to authenticate as the app
// ("Generating a JSON Web Token (JWT) for a GitHub App"): a header {"alg":"RS256","typ":"JWT"},
// claims {"iat", "exp", "iss"}, each part base64url without padding, signed with the app's RSA
// private key (OpenSSL EVP_DigestSign, SHA-256).
//
// Thread safety: pure functions.
#ifndef TASK_SENTINEL_SERVICE_GITHUB_JWT_H_
#define TASK_SENTINEL_SERVICE_GITHUB_JWT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tasksentinel::github {

// The claims of an app's JWT.
struct AppJwtClaims {
  std::string issuer;  // the app id (or client id)
  absl::Time issued_at;
  absl::Time expires_at;
};

// A JWT for `claims`, signed with the PEM-encoded RSA private key `private_key_pem`.
// INVALID_ARGUMENT when the key cannot be read (the message never quotes the key).
absl::StatusOr<std::string> SignAppJwt(const AppJwtClaims& claims,
                                       absl::string_view private_key_pem);

// The claims of `jwt` if its RS256 signature holds for the PEM-encoded public key
// `public_key_pem`; UNAUTHENTICATED otherwise (bad format, other algorithm, bad signature).
// Times are not judged here.
absl::StatusOr<AppJwtClaims> VerifyAppJwt(absl::string_view jwt, absl::string_view public_key_pem);

}  // namespace tasksentinel::github

#endif  // TASK_SENTINEL_SERVICE_GITHUB_JWT_H_
