// Closed statements: written once at period close, chained per contract, never changed.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/audit.h"
#include "pactwatch/store/database.h"

namespace pactwatch::store {

// A closed statement: written once at period close, never changed (the database refuses updates).
struct StatementRecord {
  std::string contract;
  int version = 0;
  std::string period;
  std::string partner;
  core::Instant period_start{};
  std::string currency;
  std::int64_t own_minor = 0;        // the period's own lines
  std::int64_t total_minor = 0;      // payable
  std::int64_t carry_out_minor = 0;  // carried to the next period
  std::string contract_sha256;
  std::string input_digest;
  std::string engine_version;
  core::Instant as_of{};
  core::Instant closed_at{};
  std::string closed_by;
  std::string document;  // the statement JSON
  // What the contract version was at the close: its canonical form (rules::canonical_contract)
  // and its approvals as a JSON array. Empty for statements closed before schema version 9.
  std::string contract_canonical{};
  std::string approvals{};
  // The chain (set by ClosedStatements::close, read back with the row): the statement's place in its
  // contract's chain (1, 2, ...), the SHA-256 of `document`, the chain hash of the statement
  // before it (kGenesisSha256 for the first) and its own (statement_chain_sha256).
  std::int64_t chain_seq = 0;
  std::string document_sha256{};
  std::string previous_sha256{};
  std::string chain_sha256{};
};

// A closed statement's chain hash: the SHA-256 of the canonical JSON (keys sorted, no spaces,
// UTF-8) of its chain fields, every value a string (docs/compensation.md, "The chain"):
// approvals_sha256, closed_at, closed_by, contract, contract_canonical_sha256, document_sha256,
// period, previous_sha256, seq, version. Pure: the offline bundle check uses it too.
[[nodiscard]] std::string statement_chain_sha256(const StatementRecord& r);
// The canonical JSON text that hash is taken over.
[[nodiscard]] std::string statement_chain_text(const StatementRecord& r);

// Closing a period that is already closed.
class AlreadyClosed : public StoreError {
 public:
  using StoreError::StoreError;
};

class ClosedStatements {
 public:
  explicit ClosedStatements(Database& db) : db_(db) {}
  // Stores closed statements in one durable transaction: all of them or none. Throws
  // AlreadyClosed, storing nothing, when any of them is closed already. Each is chained after the
  // last closed statement of its contract (in the order given); the chain fields of the records
  // passed in are ignored and computed here.
  void close(std::span<const StatementRecord> statements);
  [[nodiscard]] std::optional<StatementRecord> find(const std::string& contract, int version, const std::string& period);
  // Every closed statement of a contract (all versions), in period order.
  [[nodiscard]] std::vector<StatementRecord> of_contract(const std::string& contract);
  // Every closed statement, by contract and place in its chain (for `ledger verify`).
  [[nodiscard]] std::vector<StatementRecord> all();

 private:
  Database& db_;
};

}  // namespace pactwatch::store
