// RSA key pairs for tests of GitHub App identities (OpenSSL, generated on the spot).
#ifndef TASK_SENTINEL_TESTS_TESTING_RSA_KEYS_H_
#define TASK_SENTINEL_TESTS_TESTING_RSA_KEYS_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <string>

namespace tasksentinel::testing {

// A PEM-encoded RSA key pair.
struct RsaKeyPair {
  std::string private_pem;
  std::string public_pem;
};

// A fresh 2048-bit RSA key pair.
inline RsaKeyPair NewRsaKeyPair() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  RsaKeyPair pair;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(priv, &data);
  pair.private_pem.assign(data, n);
  n = BIO_get_mem_data(pub, &data);
  pair.public_pem.assign(data, n);
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(key);
  return pair;
}

}  // namespace tasksentinel::testing

#endif  // TASK_SENTINEL_TESTS_TESTING_RSA_KEYS_H_
