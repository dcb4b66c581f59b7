// Private to the store's translation units: the error wrapper, the pooled read connection, the
// column helpers, and the writes one repository does inside another's transaction (the shared
// Transaction is how a page, its cursor and its intents, or an evaluation and its events, commit
// together).
#pragma once

#include <soci/soci.h>

#include <atomic>
#include <optional>
#include <span>
#include <string>

#include "pactwatch/store/audit.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/evaluations.h"
#include "pactwatch/store/items.h"
#include "pactwatch/store/leases.h"
#include "pactwatch/store/outbox.h"
#include "pactwatch/store/work_queue.h"

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
auto Database::wrap(const char* what, F&& f) -> decltype(f()) {
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
  explicit Lease(Database& db) : pool_(db.pool()), slot_(pool_.lease()) {
    try {
      db.setup().revive(pool_.at(slot_));
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

// --- writes inside a caller's transaction, by the repository that owns each table -------------

// items.cc: upserts items (batched by the database's upsert_batch). With `abort`, checked
// between rows: throws WriteAbandoned once it turns true.
UpsertCounts upsert_items_in(Transaction& tx, std::span<const Item> items, const std::atomic<bool>* abort = nullptr);
// leases.cc: throws LeaseLost unless `guard` still holds (locking the lease row until the
// transaction ends); `consequence` says what was therefore not done.
void check_lease_in(Transaction& tx, const LeaseGuard& guard, const char* consequence);
// sources.cc
void set_cursor_in(Transaction& tx, const std::string& source, const std::string& cursor, core::Instant now);
// work_queue.cc: records a page's evaluation intents (a repeated one counts up its generation);
// asks for evaluations.
void record_intents_in(Transaction& tx, std::span<const EvaluationIntent> intents, core::Instant now);
void enqueue_in(Transaction& tx, std::span<const QueuedEvaluation> requests, core::Instant now);
// ledger.cc: appends an entry to the audit log's hash chain.
void append_audit_in(Transaction& tx, const AuditEntry& entry);
// Chains the rows a store had before schema version 9, in that migration's transaction.
void chain_existing_rows(soci::session& sql);
// outbox.cc: writes an event; the same id twice is one event.
void insert_event(soci::session& sql, const OutboxEvent& e);
// The same for many, in multi-row statements.
void insert_events(soci::session& sql, std::span<const OutboxEvent> events);
// A JSON string literal of `v` (event payloads are built in the store, where no JSON library is linked).
std::string json_string(const std::string& v);
// The event's links (event_links) as JSON members to append to its payload: ",\"evidence\":\"/v1/...\"".
std::string links_json(const OutboxEvent& e);

}  // namespace pactwatch::store
