#include "pactwatch/core/digest.h"

#include <openssl/evp.h>

#include <array>

namespace pactwatch::core {

Sha256 sha256(std::string_view data) {
  Sha256 digest{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr);
  return digest;
}

void append_hex(std::string& out, const Sha256& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
}

std::string hex_of(const Sha256& digest) {
  std::string out;
  out.reserve(64);
  append_hex(out, digest);
  return out;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

}  // namespace pactwatch::core
