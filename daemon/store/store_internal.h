// Private to the store's translation units: the pooled connection lease, the error wrapper, the
// column helpers, and the hot queries' texts (each used by its method and by `db explain`).
#pragma once

#include <soci/soci.h>

#include <optional>
#include <string>

#include "pactwatch/store/store.h"

namespace pactwatch::store {

inline long long ms_or(const std::optional<core::Instant>& t, soci::indicator& ind) {
  ind = t ? soci::i_ok : soci::i_null;
  return t ? core::to_unix_ms(*t) : 0;
}

inline std::optional<core::Instant> opt_instant(long long v, soci::indicator ind) {
  if (ind != soci::i_ok) return std::nullopt;
  return core::from_unix_ms(v);
}

template <typename F>
auto Store::wrap(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception& e) {
    std::string message = std::string(what) + ": " + e.what();
    note_failure(message);
    throw StoreError(std::move(message));
  }
}

// A pooled connection held for the duration of a read.
class Lease {
 public:
  Lease(soci::connection_pool& pool, const SessionSetup& setup) : pool_(pool), slot_(pool.lease()) {
    try {
      setup.revive(pool_.at(slot_));
    } catch (...) {
      pool_.give_back(slot_);
      throw;
    }
  }
  ~Lease() { pool_.give_back(slot_); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  soci::session& sql() { return pool_.at(slot_); }

 private:
  soci::connection_pool& pool_;
  std::size_t slot_;
};

// --- the hot queries -----------------------------------------------------------------------
// Each is used by its method and shown by explain_hot_queries() (`pactwatch db explain`), from
// one text. docs/scaling.md lists the plans they should get.

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
inline constexpr const char* kRuleStatusesOf =
    "SELECT rule, status FROM rule_statuses WHERE contract = :c AND version = :v AND period = :p";
inline constexpr const char* kQueueColumns =
    "SELECT contract, version, period_start, shard, partner, generation, requested_at FROM evaluation_queue ";

// The columns of an item, in the order items.cc binds them.
inline constexpr const char* kItemColumns =
    "SELECT source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, solved_at, "
    "updated_at, amount_minor, currency, payload FROM items ";

// The items that can count in a partner's period, read through the (partner_id, kind, created_at)
// index. Tickets still open at the period's start are found among all of the partner's earlier
// tickets: a second index on solved_at to find them directly halved SQLite's import rate and
// did not measurably speed up evaluation on ten months of data (docs/benchmarks.md).
inline std::string items_for_period_query() {
  return std::string(kItemColumns) +
         "WHERE partner_id = :p AND (kind = 'deals' OR (created_at < :e AND "
         "(created_at >= :s OR (kind = 'tickets' AND (solved_at IS NULL OR solved_at >= :s2))))) ORDER BY source, kind, external_id";
}

// Chains the rows a store had before schema version 9, in that migration's transaction (ledger.cc).
void chain_existing_rows(soci::session& sql);

// A JSON string literal of `v` (event payloads are built in the store, where no JSON library is linked).
std::string json_string(const std::string& v);
// The event's links (event_links) as JSON members to append to its payload: ",\"evidence\":\"/v1/...\"".
std::string links_json(const OutboxEvent& e);
// Writes an event to the outbox in the caller's transaction; the same id twice is one event.
void insert_event(soci::session& sql, const OutboxEvent& e);

}  // namespace pactwatch::store
