// API bearer tokens: issued once, stored as a SHA-256, recognisable when leaked.
//
// A token reads "pw_" + 32 base62 characters of randomness (190 bits) + 6 base62 characters of a
// CRC-32 over the rest. The prefix lets secret scanners find leaked tokens; the checksum lets the
// server (and scanners) reject a mistyped or invented token without a database lookup.
#pragma once

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "pactwatch/core/time.h"
#include "pactwatch/store/store.h"

namespace pactwatch::api {

inline constexpr std::string_view kTokenPrefix = "pw_";
inline constexpr std::size_t kTokenLength = 3 + 32 + 6;

// The roles a token can have (see docs/api.md for what each may do).
inline constexpr std::array<std::string_view, 5> kRoles{"admin", "approver", "finance", "viewer", "partner"};
[[nodiscard]] bool known_role(std::string_view role);

struct IssuedToken {
  std::string text;  // shown once, never stored
  store::ApiToken record;
};

// A new token. Partner tokens name their partner; the other roles name none.
[[nodiscard]] IssuedToken issue_token(const std::string& role, const std::optional<std::string>& partner,
                                      const std::string& name, std::optional<core::Instant> expires, core::Instant now);

// True when `text` has the prefix, length, alphabet and a matching checksum.
[[nodiscard]] bool well_formed(std::string_view text);

// Hex SHA-256 of a token's text: what the store keeps and looks up.
[[nodiscard]] std::string token_hash(std::string_view text);

// `bytes` random bytes as lower-case hex (token ids, the sign-in form's CSRF value).
[[nodiscard]] std::string random_hex(std::size_t bytes);

// Compares two equal-length strings in time independent of where they differ.
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);

// "90d", "12h", "30m": a lifetime for --expires.
[[nodiscard]] std::optional<std::chrono::seconds> parse_lifetime(std::string_view text);

}  // namespace pactwatch::api
