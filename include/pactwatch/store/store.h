// The store: partners, items, sources, evaluations, the cluster's work, closed statements, the
// outbox, tokens, the audit log and leases, over SOCI on SQLite (the embedded default) or
// PostgreSQL. One Database (pool, transactions, dialect) and one repository per concern, each
// with its statements in one place (daemon/store/queries.h for those shared or explained); the
// backends differ only in dialect and connection settings, and one conformance suite runs every
// repository against both.
#pragma once

#include <memory>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/agreements.h"
#include "pactwatch/store/disputes.h"
#include "pactwatch/store/audit.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/evaluations.h"
#include "pactwatch/store/items.h"
#include "pactwatch/store/leases.h"
#include "pactwatch/store/outbox.h"
#include "pactwatch/store/partners.h"
#include "pactwatch/store/sources.h"
#include "pactwatch/store/statements.h"
#include "pactwatch/store/tokens.h"
#include "pactwatch/store/work_queue.h"

namespace pactwatch::store {

// The plan the database chooses for one of the store's hot queries (`pactwatch db explain`).
struct QueryPlan {
  std::string name;
  std::string sql;
  std::vector<std::string> plan;  // EXPLAIN (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) lines
};

struct Migration {
  int version;
  std::string name;
  std::optional<std::string> applied_at;  // RFC 3339 when applied
};

struct SchemaStatus {
  Backend backend;
  int current = 0;  // highest applied version, 0 for an empty database
  int latest = 0;   // highest version this binary knows
  std::vector<Migration> migrations;
  // Every migration this binary knows is applied, and none newer. Versions may have gaps (a
  // number left for another branch's migration), and a migration numbered below the highest
  // applied one may still be pending (it came with a later release): `current` alone cannot say.
  [[nodiscard]] bool up_to_date() const {
    if (current != latest) return false;
    for (const auto& m : migrations) {
      if (!m.applied_at) return false;
    }
    return true;
  }
};

class Store {
 public:
  // Connects (every pooled connection). Does not migrate.
  [[nodiscard]] static std::expected<std::unique_ptr<Store>, std::string> open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  [[nodiscard]] Backend backend() const { return db_->backend(); }
  [[nodiscard]] Database& database() { return *db_; }

  [[nodiscard]] SchemaStatus schema_status();
  // Applies every pending migration, each in its own transaction; returns how many ran.
  // Refuses a database whose schema is newer than this binary.
  int migrate(core::Instant now);
  [[nodiscard]] bool ping() noexcept { return db_->ping(); }
  void check_writable() { db_->check_writable(); }
  [[nodiscard]] std::optional<std::string> write_fault() const { return db_->write_fault(); }
  // The plans of the queries that run most often or over the most rows, with representative
  // values (docs/scaling.md says what each should use). Run ANALYZE first for realistic plans.
  [[nodiscard]] std::vector<QueryPlan> explain_hot_queries();

  [[nodiscard]] Partners& partners() { return partners_; }
  [[nodiscard]] Items& items() { return items_; }
  [[nodiscard]] Sources& sources() { return sources_; }
  [[nodiscard]] Evaluations& evaluations() { return evaluations_; }
  [[nodiscard]] WorkQueue& queue() { return queue_; }
  [[nodiscard]] ClosedStatements& statements() { return statements_; }
  [[nodiscard]] Outbox& outbox() { return outbox_; }
  [[nodiscard]] Tokens& tokens() { return tokens_; }
  [[nodiscard]] AuditLog& audit() { return audit_; }
  [[nodiscard]] Leases& leases() { return leases_; }
  [[nodiscard]] Agreements& agreements() { return agreements_; }
  [[nodiscard]] Disputes& disputes() { return disputes_; }

 private:
  explicit Store(std::unique_ptr<Database> db);
  std::unique_ptr<Database> db_;
  Partners partners_;
  Items items_;
  Sources sources_;
  Evaluations evaluations_;
  WorkQueue queue_;
  ClosedStatements statements_;
  Outbox outbox_;
  Tokens tokens_;
  AuditLog audit_;
  Leases leases_;
  Agreements agreements_;
  Disputes disputes_;
};

}  // namespace pactwatch::store
