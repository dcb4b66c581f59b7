// API bearer tokens, stored by hash.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"

namespace pactwatch::store {

// An API bearer token. Only the SHA-256 of the token text is stored; the text is shown once.
struct ApiToken {
  std::string id;      // public handle for list and revoke ("tok_3f9a61c2")
  std::string sha256;  // hex of SHA-256 over the whole token text
  std::string name;
  std::string role;  // admin, finance, viewer, partner
  std::optional<std::string> partner;  // partner tokens only
  core::Instant created_at{};
  std::optional<core::Instant> expires_at;
  std::optional<core::Instant> revoked_at;
  [[nodiscard]] bool live_at(core::Instant now) const {
    return !revoked_at && (!expires_at || now < *expires_at);
  }
};

// Creating a token past the number a partner may hold live at once.
class TokenLimit : public StoreError {
 public:
  using StoreError::StoreError;
};

class Tokens {
 public:
  explicit Tokens(Database& db) : db_(db) {}
  // A partner token is refused (TokenLimit, nothing stored) when the partner already holds
  // `max_live_per_partner` live tokens: two allow rotation without a gap.
  void create(const ApiToken& token, int max_live_per_partner, core::Instant now);
  [[nodiscard]] std::optional<ApiToken> by_hash(const std::string& sha256);
  [[nodiscard]] std::vector<ApiToken> all();
  // Revokes a live token; false when there is no such token or it was revoked already.
  bool revoke(const std::string& id, core::Instant now);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
