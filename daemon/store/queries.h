// Private to the store: where its SQL differs by backend (one Dialect per backend, declared
// together), and the hot queries, each used by its repository and shown by
// Store::explain_hot_queries() (`pactwatch db explain`) from one text. docs/scaling.md lists the
// plans they should get. Every other statement is written once for both backends, in the
// repository that owns its table.
#pragma once

#include <string>

#include "pactwatch/store/database.h"

namespace pactwatch::store {

// What the backends spell differently.
struct Dialect {
  const char* begin_write;     // opens a write transaction (SQLite takes the write lock at once)
  const char* lock_read_row;   // appended to a SELECT whose row must stay locked until commit
  const char* explain;         // prefix asking for a query's plan
  const char* has_version_table;  // counts schema_version tables (0 or 1)
  bool advisory_locks;         // pg_advisory_(xact_)lock serializes chains and migrations
};

inline constexpr Dialect kSqliteDialect{
    "BEGIN IMMEDIATE", "", "EXPLAIN QUERY PLAN ",
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", false};
inline constexpr Dialect kPostgresqlDialect{
    "BEGIN", " FOR UPDATE", "EXPLAIN ",
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_version'",
    true};

inline const Dialect& dialect(Backend b) { return b == Backend::sqlite ? kSqliteDialect : kPostgresqlDialect; }

// --- the hot queries -----------------------------------------------------------------------

inline constexpr const char* kItemByKeyWhere = "WHERE source = :source AND kind = :kind AND external_id = :external_id";
inline constexpr const char* kDeliverySweep =
    "INSERT INTO deliveries (event_id, channel, status, attempts, next_attempt_at) "
    "SELECT o.id, :c, 'pending', 0, :a FROM outbox o WHERE o.created_at >= :s AND NOT EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.event_id = o.id AND d.channel = :c2) "
    "ON CONFLICT (event_id, channel) DO NOTHING";  // another instance's sweep got there first
inline constexpr const char* kDueDeliveriesWhere =
    "WHERE channel = :c AND status = 'pending' AND next_attempt_at <= :a ORDER BY next_attempt_at, event_id LIMIT ";
inline constexpr const char* kOutboxAfterWhere = "WHERE (created_at, id) > (:a, :i) ORDER BY created_at, id LIMIT ";
inline constexpr const char* kRuleStatus =
    "SELECT status FROM rule_statuses WHERE contract = :c AND version = :v AND period = :p AND rule = :r";
// The stored statuses of a batch of evaluations, by their contracts and periods (the caller
// sorts out the versions): one statement per few hundred evaluations saved.
// `anonymous`: `?` placeholders (SQLite, which looks each name up among those before it).
inline std::string rule_statuses_of_batch_query(std::size_t contracts, std::size_t periods, bool anonymous = false) {
  auto list = [&](std::size_t n, const char* name) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += (i ? "," : "") + (anonymous ? std::string("?") : name + std::to_string(i));
    return out;
  };
  return "SELECT contract, version, period, rule, status FROM rule_statuses WHERE contract IN (" + list(contracts, ":c") +
         ") AND period IN (" + list(periods, ":p") + ")";
}
inline constexpr const char* kQueueColumns =
    "SELECT contract, version, period_start, shard, partner, generation, requested_at FROM evaluation_queue ";

// The columns of an item, in the order items.cc binds them.
inline constexpr const char* kItemColumns =
    "SELECT source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, solved_at, "
    "updated_at, amount_minor, currency, payload FROM items ";

// The items that can count in a partner's period, read through the (partner_id, kind,
// created_at, solved_at) index: tickets still open at the period's start are found among the
// partner's earlier tickets from the index entries alone (schema 0015), and only the rows that
// can count are fetched. Unordered: every reader keys the items (engine::PeriodState), so the
// database need not sort them.
inline std::string items_for_period_query() {
  return std::string(kItemColumns) +
         "WHERE partner_id = :p AND (kind = 'deals' OR (created_at < :e AND "
         "(created_at >= :s OR (kind = 'tickets' AND (solved_at IS NULL OR solved_at >= :s2)))))";
}

}  // namespace pactwatch::store
