// The audit log: append-only, each entry chained to the one before (docs/compensation.md, "The chain").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"

namespace pactwatch::store {

// The `previous` of the first link of a chain.
inline constexpr std::string_view kGenesisSha256 = "0000000000000000000000000000000000000000000000000000000000000000";

// One line of the audit log: who (token id, or the CLI user) did what to what, and how it ended.
struct AuditEntry {
  std::int64_t seq = 0;  // assigned by the store
  core::Instant at{};
  std::string actor;
  std::string role;
  std::string action;  // "POST /v1/periods/2026-10/close", "token.create"
  std::string target;
  std::string outcome;  // "200", "409 already closed", ...
  // The chain, set by append_audit: the hash of the entry before (kGenesisSha256 for the first)
  // and this entry's own (audit_chain_sha256).
  std::string previous_sha256{};
  std::string sha256{};
};

// An audit entry's chain hash: the SHA-256 of the canonical JSON of action, actor, at,
// outcome, previous_sha256, role, seq and target, every value a string.
[[nodiscard]] std::string audit_chain_sha256(const AuditEntry& e);

class AuditLog {
 public:
  explicit AuditLog(Database& db) : db_(db) {}
  // Appends an entry, chained after the last one (its seq and hashes are set here).
  void append(const AuditEntry& entry);
  // The newest `limit` entries (older than entry `before` when given), newest first.
  [[nodiscard]] std::vector<AuditEntry> newest(std::size_t limit = 100, std::optional<std::int64_t> before = std::nullopt);
  // Entries after `after_seq`, oldest first (for `ledger verify`).
  [[nodiscard]] std::vector<AuditEntry> after(std::int64_t after_seq, std::size_t limit);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
