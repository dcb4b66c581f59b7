#include "pactwatch/api/tokens.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

#include "pactwatch/core/digest.h"

namespace pactwatch::api {

namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

std::string base62(std::uint64_t v, std::size_t width) {
  std::string out(width, '0');
  for (std::size_t i = width; i-- > 0;) {
    out[i] = kAlphabet[v % 62];
    v /= 62;
  }
  return out;
}

// CRC-32 (IEEE 802.3, reflected, as zlib computes it), bit by bit: tokens are short.
std::uint32_t checksum(std::string_view body) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (char c : body) {
    crc ^= static_cast<unsigned char>(c);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// 32 base62 characters, each from a random byte below 248 (= 4 * 62) so that none is more likely.
std::string random_base62(std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::array<unsigned char, 64> buf{};
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) throw std::runtime_error("no randomness (RAND_bytes failed)");
    for (unsigned char b : buf) {
      if (b < 248 && out.size() < n) out.push_back(kAlphabet[b % 62]);
    }
  }
  return out;
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("no randomness (RAND_bytes failed)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool known_role(std::string_view role) {
  return std::find(kRoles.begin(), kRoles.end(), role) != kRoles.end();
}

IssuedToken issue_token(const std::string& role, const std::optional<std::string>& partner, const std::string& name,
                        std::optional<core::Instant> expires, core::Instant now) {
  std::string body = std::string(kTokenPrefix) + random_base62(32);
  std::string text = body + base62(checksum(body), 6);
  store::ApiToken rec;
  rec.id = "tok_" + random_hex(4);
  rec.sha256 = token_hash(text);
  rec.name = name;
  rec.role = role;
  rec.partner = partner;
  rec.created_at = now;
  rec.expires_at = expires;
  return {std::move(text), std::move(rec)};
}

bool well_formed(std::string_view text) {
  if (text.size() != kTokenLength || !text.starts_with(kTokenPrefix)) return false;
  for (char c : text.substr(kTokenPrefix.size())) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  const auto body = text.substr(0, kTokenLength - 6);
  return constant_time_equal(base62(checksum(body), 6), text.substr(kTokenLength - 6));
}

std::string token_hash(std::string_view text) { return core::sha256_hex(text); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::chrono::seconds> parse_lifetime(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  if (ec != std::errc() || ptr != text.data() + text.size() - 1 || n <= 0 || n > 100000) return std::nullopt;
  switch (text.back()) {
    case 'd': return std::chrono::seconds(n * 86400);
    case 'h': return std::chrono::seconds(n * 3600);
    case 'm': return std::chrono::seconds(n * 60);
    default: return std::nullopt;
  }
}

}  // namespace pactwatch::api
