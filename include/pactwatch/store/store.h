// The store: partners, items and source cursors over SOCI, on SQLite (embedded default) or
// PostgreSQL. One class, one set of behaviours; the backends differ only in schema dialect and
// connection settings, and one conformance suite runs against both.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "pactwatch/core/item.h"
#include "pactwatch/core/time.h"

namespace soci {
class session;
class connection_pool;
}  // namespace soci

namespace pactwatch::store {

enum class Backend { sqlite, postgresql };

// A database failure (connection lost, constraint broken, disk full). Thrown, not returned: the
// caller's unit of work is abandoned and its transaction rolled back.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StoreOptions {
  std::string url;       // sqlite:///path.db or postgresql://user@host:port/db?param=value
  std::string password;  // PostgreSQL only; read from a secret file by the caller
  int pool_size = 4;
  // Items per INSERT statement when upserting a page; 0 picks by backend: PostgreSQL 250 (one
  // round trip per page, 11x the throughput of one per item), SQLite 1 (in process, one prepared
  // statement reused is as fast as any batch). See docs/benchmarks.md.
  std::size_t upsert_batch = 0;
  // PostgreSQL: statements running longer are cancelled (their unit of work fails and is retried
  // later); 0 = no limit.
  std::chrono::seconds statement_timeout{0};
};

// How every pooled connection is set up, on opening and again on reconnecting.
struct SessionSetup {
  Backend backend = Backend::sqlite;
  std::chrono::seconds statement_timeout{0};
  void apply(soci::session& s) const;
  // Reconnects a PostgreSQL connection that libpq has marked bad; throws StoreError when the
  // server is still unreachable.
  void revive(soci::session& s) const;
};

// How hard a commit is pushed to disk. SQLite runs WAL with synchronous=NORMAL for bulk item
// writes; money, period close and the outbox commit with synchronous=FULL so a power cut cannot
// lose them. PostgreSQL commits synchronously in both cases.
enum class Durability { normal, full };

struct Partner {
  std::string id;
  std::string name;
  std::string kind;
  std::string tier;
  bool active = true;
};

// Items are a core type (pactwatch/core/item.h); the store keeps them.
using Item = core::Item;

struct UpsertCounts {
  std::int64_t written = 0;    // inserted or changed
  std::int64_t unchanged = 0;  // identical to what was stored
};

// A rule's status in an evaluation ("kpi:p1_first_reply", "standard:reopen_loops",
// "obligation:escalation_ack").
struct RuleStatus {
  RuleStatus(std::string r, std::string s, std::string v = "null", std::string t = "")
      : rule(std::move(r)), status(std::move(s)), value(std::move(v)), target(std::move(t)) {}
  std::string rule;
  std::string status;
  std::string value;   // the rule's value as JSON text ("\"93.50%\"", a duration object), for events
  std::string target;  // its target as written (">= 95.00%")
};

struct EvaluationRecord {
  std::string contract;
  int version = 0;
  std::string period;
  std::string partner;
  core::Instant as_of{};
  std::string input_digest;
  std::string document;  // the evaluation JSON
  std::vector<RuleStatus> statuses;
};

struct StatusChange {
  std::string contract;
  int version = 0;
  std::string period;
  std::string partner;
  std::string rule;
  std::optional<std::string> from;  // empty the first time a rule is evaluated
  std::string to;
  core::Instant at{};
  friend bool operator==(const StatusChange&, const StatusChange&) = default;
};

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
  // The chain (set by close_statements, read back with the row): the statement's place in its
  // contract's chain (1, 2, ...), the SHA-256 of `document`, the chain hash of the statement
  // before it (kGenesisSha256 for the first) and its own (statement_chain_sha256).
  std::int64_t chain_seq = 0;
  std::string document_sha256{};
  std::string previous_sha256{};
  std::string chain_sha256{};
};

// The `previous` of the first link of a chain.
inline constexpr std::string_view kGenesisSha256 = "0000000000000000000000000000000000000000000000000000000000000000";

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

// A notification event in the outbox (see docs/notifications.md for the types).
struct OutboxEvent {
  std::string id;       // stable: the same cause always gives the same id
  std::string type;     // kpi.breached, kpi.at_risk, kpi.recovered, standard.violated, obligation.breached, statement.closed
  std::string partner;
  std::string contract;
  int version = 0;
  std::string period;
  std::string subject;  // the rule ("kpi:p1_first_reply") or "statement"
  core::Instant created_at{};
  std::string payload;  // the event's data, JSON
};

// An event's delivery to one channel.
struct Delivery {
  std::string event_id;
  std::string channel;
  std::string status;  // pending, delivered, dead
  int attempts = 0;
  core::Instant next_attempt_at{};
  std::string last_error;
  std::optional<core::Instant> delivered_at;
};

// The event a status change causes, if any: breached, at_risk and the recovery from either for
// KPIs; breached for brand standards (violated) and for the brand's obligations.
[[nodiscard]] std::optional<OutboxEvent> event_for(const StatusChange& change);

// Where an event's cause can be seen in the API, as (name, path) pairs; paths are relative to the
// API's base URL and answer any token allowed to see the event's partner (docs/notifications.md):
// "evidence" (the rule's evidence in that contract version and period) and "standing" (the
// partner's KPIs in that period) for a rule's status change; "statements" (the partner's
// statements of that period) for a closed statement. A rolling window has no label the API takes:
// its links name the current window. Events carry them in their data; the dispatcher sets them
// afresh on every delivery, so events stored with older links are sent with working ones.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> event_links(const OutboxEvent& event);

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

// A lease on a piece of work shared by several instances (see Store::claim_lease).
struct LeaseRecord {
  std::string name;    // "source:zendesk", "partner:northwind"
  std::string holder;  // the instance holding it
  core::Instant expires_at{};
  std::int64_t fence = 0;  // grows by one each time the lease changes hands
};

// The lease a writer must still hold for its write to count (store_page checks it in the
// page's own transaction).
struct LeaseGuard {
  std::string name;
  std::string holder;
  std::int64_t fence = 0;
};

// A write refused because the writer's lease has passed to another holder; nothing was stored.
class LeaseLost : public StoreError {
 public:
  using StoreError::StoreError;
};

// A long write abandoned because the daemon is stopping (PageWrite::abort); nothing was stored.
class WriteAbandoned : public StoreError {
 public:
  using StoreError::StoreError;
};

// What a stored page touched: a partner, and an instant at which one of the page's changed items
// counts in a period (core::counting_instants), in its new or its replaced version. Recorded in
// the page's own transaction (PageWrite::intents), so the evaluation a page calls for is as
// durable as the page: whichever instance runs the evaluation queue next asks the partner's owner
// for every period the intents fall in, however old.
struct EvaluationIntent {
  std::string partner;
  core::Instant at{};  // floored to kIntentGrain: many items, few intents
  std::int64_t generation = 0;  // counts up when touched again before it is worked off
  friend bool operator==(const EvaluationIntent&, const EvaluationIntent&) = default;
};
// Intents are kept to the quarter hour: every period boundary (a local midnight in any time zone
// of today) is a whole multiple of it in UTC, so an instant and its quarter hour fall in the same
// period; a large file then records at most one intent per partner and quarter hour.
inline constexpr std::chrono::minutes kIntentGrain{15};

// The intents of a set of changes: each changed item's partner and each replaced version's
// partner, at each of their counting instants (core::counting_instants); without repeats.
[[nodiscard]] std::vector<EvaluationIntent> evaluation_intents_of(std::span<const Item> changed,
                                                                  std::span<const Item> previous);

// What a page's transaction does besides storing the items, the quarantine and the cursor
// (Store::store_page, Store::store_source_page).
struct PageWrite {
  // Stored only while this lease is still the holder's with the same fence (else LeaseLost).
  const LeaseGuard* guard = nullptr;
  // Checked between rows: when it turns true the page is abandoned whole (WriteAbandoned), so a
  // stop never waits for a large page (a dropped file of 300,000 records) to be written.
  const std::atomic<bool>* abort = nullptr;
  // Recorded with the page (evaluation_intents), in the same transaction.
  std::span<const EvaluationIntent> intents;
};

// A request to evaluate one period of a contract version, left for the instance that owns the
// partner's shard (see docs/scaling.md).
struct QueuedEvaluation {
  std::string contract;
  int version = 0;
  core::Instant period_start{};
  int shard = 0;
  std::string partner;
  std::int64_t generation = 0;  // counts up each time the request is made again before it is done
  core::Instant requested_at{};
  friend bool operator==(const QueuedEvaluation&, const QueuedEvaluation&) = default;
};

// Evaluation work stored under a lease: who, under which fence, from when to when.
struct WorkEntry {
  std::string lease;
  std::string holder;
  std::int64_t fence = 0;
  core::Instant started_at{};
  core::Instant finished_at{};
  std::int64_t periods = 0;
};

// What must hold, and what else is written, when evaluations are saved by one owner among
// several instances: the lease still the holder's with the same fence (else LeaseLost, nothing
// stored), the queue requests the results answer (deleted unless asked again meanwhile), and the
// work log entry.
struct SaveContext {
  std::optional<LeaseGuard> guard;
  std::vector<QueuedEvaluation> answered;
  std::optional<WorkEntry> work;
};

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

// A record a source could not map into an item, kept aside with the reason (docs/connectors.md,
// "Quarantine") so that it never blocks the records after it. Keyed like items, by (source, kind,
// external id).
struct QuarantinedRecord {
  std::string source;       // the source's name
  std::string kind;         // the item kind it was to become
  std::string external_id;  // its id at the source
  std::string reason;       // why it could not be mapped
  std::string record;       // the record as read, JSON
  core::Instant first_seen{};
  core::Instant last_seen{};
  std::int64_t seen = 1;  // how many times it was read
  friend bool operator==(const QuarantinedRecord&, const QuarantinedRecord&) = default;
};

// One page of a source to store in one transaction: its items, the records it set aside, and the
// cursor after it (none for a backfill, which never moves the cursor).
struct SourcePage {
  std::string cursor_key;  // NAME or NAME#STREAM
  std::span<const Item> items;
  std::span<const QuarantinedRecord> quarantined;
  std::optional<std::string> cursor;
};

struct SourcePageCounts {
  std::int64_t written = 0;      // items inserted or changed
  std::int64_t unchanged = 0;    // items identical to what was stored (a re-read)
  std::int64_t quarantined = 0;  // records newly set aside, or set aside again for another reason
  std::int64_t requarantined = 0;  // records read again exactly as they were set aside
  std::int64_t released = 0;     // set-aside records that mapped this time (now items)
};

class Store;

// A unit of work on one pooled connection. Commits only when commit() is called; otherwise the
// destructor rolls back.
class Transaction {
 public:
  Transaction(Store& store, Durability durability);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  [[nodiscard]] soci::session& sql() { return *session_; }
  void commit();

 private:
  Store& store_;
  std::size_t slot_;
  soci::session* session_;
  Durability durability_;
  bool done_ = false;
};

class Store {
 public:
  // Connects (every pooled connection). Does not migrate.
  [[nodiscard]] static std::expected<std::unique_ptr<Store>, std::string> open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  [[nodiscard]] Backend backend() const { return backend_; }

  [[nodiscard]] SchemaStatus schema_status();
  // Applies every pending migration, each in its own transaction; returns how many ran.
  // Refuses a database whose schema is newer than this binary.
  int migrate(core::Instant now);
  // True when the database answers a trivial query.
  [[nodiscard]] bool ping() noexcept;
  // Commits a write that changes nothing; throws StoreError saying what to fix when the store
  // cannot be written (a read-only SQLite file or directory, a full disk, a PostgreSQL standby).
  void check_writable();
  // Why the store cannot be written, when the last write failed for want of storage (the disk
  // full, the file or its file system read-only, an I/O error); nullopt again once a commit
  // succeeds (the cluster heartbeat commits every third of the lease time, so a store that takes
  // writes again is seen within that). Reads may still work: /readyz reports it as not ready. A
  // no-op write cannot tell: on a full disk it often succeeds where real writes fail.
  [[nodiscard]] std::optional<std::string> write_fault() const;

  // Partners: upserts the given set and marks partners no longer listed inactive (their items stay).
  void sync_partners(std::span<const Partner> partners, core::Instant now);
  [[nodiscard]] std::vector<Partner> partners();

  // Upserts items in one transaction.
  UpsertCounts upsert_items(std::span<const Item> items);
  // Stores a page of a source and advances its cursor in the same transaction: the cursor can
  // never run ahead of stored data.
  // With `guard`, the page is stored only while the guard's lease is still the holder's with the
  // same fence (checked in the same transaction, the lease row locked); otherwise LeaseLost.
  UpsertCounts store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                          core::Instant now, const LeaseGuard* guard = nullptr);
  // The same, with what else the page's transaction must do (PageWrite).
  UpsertCounts store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                          core::Instant now, const PageWrite& write);
  [[nodiscard]] std::optional<Item> find_item(const std::string& source, const std::string& kind,
                                              const std::string& external_id);
  // The stored versions of many items of one source and kind at once, in the order of
  // `external_ids` (nothing where none is stored; an id given twice is answered twice): what
  // find_item answers for each, read with one statement per 500 ids instead of one per id.
  [[nodiscard]] std::vector<std::optional<Item>> find_items(const std::string& source, const std::string& kind,
                                                            std::span<const std::string> external_ids);
  [[nodiscard]] std::int64_t count_items(const std::optional<std::string>& source = std::nullopt);
  // Every item attributed to a partner, ordered by source and external id.
  [[nodiscard]] std::vector<Item> items_of_partner(const std::string& partner_id);
  // The partner's items that can count in [start, end): tickets created in it, solved in it or
  // still open from before it; surveys and events of it; every deal (deals count by instants in
  // their payload). A superset the evaluator narrows; ordered by source and external id.
  [[nodiscard]] std::vector<Item> items_for_period(const std::string& partner_id, core::Instant start, core::Instant end);

  // The partner's items of one kind (deals for commission and clawback), ordered by source and id.
  [[nodiscard]] std::vector<Item> items_of_kind(const std::string& partner_id, const std::string& kind);
  [[nodiscard]] std::optional<std::string> cursor(const std::string& source);

  // Stores the latest evaluation of a contract version and period and, in the same durable
  // transaction, a change for every rule whose status differs from the stored one. Returns them.
  std::vector<StatusChange> save_evaluation(const EvaluationRecord& record, core::Instant now);
  // Several at once, in one durable transaction: a run's results and status changes are stored
  // together or not at all.
  std::vector<StatusChange> save_evaluations(std::span<const EvaluationRecord> records, core::Instant now,
                                             const SaveContext* context = nullptr);
  // Asks the owner of each request's shard to evaluate that period (a request already waiting
  // counts up its generation).
  void enqueue_evaluations(std::span<const QueuedEvaluation> requests, core::Instant now);
  // Waiting requests of the given shards, oldest first.
  [[nodiscard]] std::vector<QueuedEvaluation> queued_evaluations(std::span<const int> shards, std::size_t limit = 1000);
  // The intents stored pages recorded and nobody has worked off yet, oldest first.
  [[nodiscard]] std::vector<EvaluationIntent> evaluation_intents(std::size_t limit = 5000);
  // In one transaction: asks for the evaluations the intents come to, and deletes the intents
  // (each only when its generation is still the one read: one touched again meanwhile stays).
  void queue_intents(std::span<const QueuedEvaluation> requests, std::span<const EvaluationIntent> worked_off, core::Instant now);
  // The work log, oldest first (of one lease when given).
  [[nodiscard]] std::vector<WorkEntry> work_log(const std::optional<std::string>& lease = std::nullopt);
  [[nodiscard]] std::optional<std::string> evaluation_document(const std::string& contract, int version,
                                                               const std::string& period);
  // Stores closed statements in one durable transaction: all of them or none. Throws
  // AlreadyClosed, storing nothing, when any of them is closed already. Each is chained after the
  // last closed statement of its contract (in the order given); the chain fields of the records
  // passed in are ignored and computed here.
  void close_statements(std::span<const StatementRecord> statements);
  [[nodiscard]] std::optional<StatementRecord> closed_statement(const std::string& contract, int version,
                                                                const std::string& period);
  // Every closed statement of a contract (all versions), in period order.
  [[nodiscard]] std::vector<StatementRecord> closed_statements(const std::string& contract);
  // Every closed statement, by contract and place in its chain (for `ledger verify`).
  [[nodiscard]] std::vector<StatementRecord> all_closed_statements();
  // The outbox. Events are written by save_evaluation(s) and close_statements in their own
  // transactions; these read them and track deliveries.
  [[nodiscard]] std::vector<OutboxEvent> outbox_events(std::size_t limit = 1000);
  [[nodiscard]] std::optional<OutboxEvent> outbox_event(const std::string& id);
  // Deliveries due for `channel` at `now`: pending ones whose time has come, after creating a
  // pending delivery for every event the channel has not seen (events created before
  // `channel_since` are not sent to a channel added later).
  [[nodiscard]] std::vector<Delivery> due_deliveries(const std::string& channel, core::Instant now, core::Instant channel_since,
                                                     std::size_t limit = 100);
  void update_delivery(const Delivery& d);
  [[nodiscard]] std::vector<Delivery> deliveries(const std::optional<std::string>& status = std::nullopt);
  // The current status of a rule of an evaluation, if it was evaluated.
  [[nodiscard]] std::optional<std::string> rule_status(const std::string& contract, int version, const std::string& period,
                                                       const std::string& rule);
  // Reminder events for KPIs and obligations still breached (or at risk) `interval` after their
  // status began, one per whole interval elapsed (ids end in /reminder/N, so each is written once).
  // Returns how many new ones were written.
  int write_reminders(core::Instant now, std::chrono::seconds interval);
  // How many deliveries are in each state (for /metrics: the outbox depth is "pending").
  [[nodiscard]] std::map<std::string, std::int64_t> delivery_counts();
  // Puts dead deliveries of an event (or all of them, with "all") back in the queue; returns how many.
  int retry_deliveries(const std::string& event_id, core::Instant now);
  // Status changes in the order they were recorded (optionally of one contract).
  [[nodiscard]] std::vector<StatusChange> status_changes(const std::optional<std::string>& contract = std::nullopt);
  void set_cursor(const std::string& source, const std::string& cursor, core::Instant now);

  // Outbox events after (created_at, id) in that order, for keyset paging.
  [[nodiscard]] std::vector<OutboxEvent> outbox_events_after(core::Instant at, const std::string& id, std::size_t limit);
  // The deliveries of one event, by channel.
  [[nodiscard]] std::vector<Delivery> deliveries_of(const std::string& event_id);

  // Leases, for several instances sharing one database. claim_lease takes the lease `name` for
  // `holder` until now + ttl when it is free, expired, or already the holder's (a renewal), in
  // one atomic statement; it returns the fence (which grows each time the lease changes hands),
  // or nothing when another holder's lease is still running.
  [[nodiscard]] std::optional<std::int64_t> claim_lease(const std::string& name, const std::string& holder, core::Instant now,
                                                        std::chrono::milliseconds ttl);
  // Gives the lease up at once (only its holder can); false when `holder` did not hold it.
  bool release_lease(const std::string& name, const std::string& holder);
  [[nodiscard]] std::vector<LeaseRecord> leases();

  // The plans of the queries that run most often or over the most rows, with representative
  // values (docs/scaling.md says what each should use). Run ANALYZE first for realistic plans.
  [[nodiscard]] std::vector<QueryPlan> explain_hot_queries();

  // API tokens. A partner token is refused (TokenLimit, nothing stored) when the partner already
  // holds `max_live_per_partner` live tokens: two allow rotation without a gap.
  void create_token(const ApiToken& token, int max_live_per_partner, core::Instant now);
  [[nodiscard]] std::optional<ApiToken> token_by_hash(const std::string& sha256);
  [[nodiscard]] std::vector<ApiToken> tokens();
  // Revokes a live token; false when there is no such token or it was revoked already.
  bool revoke_token(const std::string& id, core::Instant now);
  // Appends an entry, chained after the last one (its seq and hashes are set here).
  void append_audit(const AuditEntry& entry);
  // Entries after `after_seq`, oldest first (for `ledger verify`).
  [[nodiscard]] std::vector<AuditEntry> audit_entries_after(std::int64_t after_seq, std::size_t limit);

  // --- sources: pages with their quarantine, and deliberate cursor moves ---
  // Stores a page in one transaction: upserts its items, sets its quarantined records aside
  // (first_seen kept, seen counted up), takes records that now map out of the quarantine, and
  // sets the cursor when the page has one. With `guard`, only while the lease is the holder's
  // (else LeaseLost, nothing stored).
  SourcePageCounts store_source_page(const SourcePage& page, core::Instant now, const LeaseGuard* guard = nullptr);
  // The same, with what else the page's transaction must do (PageWrite).
  SourcePageCounts store_source_page(const SourcePage& page, core::Instant now, const PageWrite& write);
  // The records set aside, of one source or all, the most recently seen first.
  [[nodiscard]] std::vector<QuarantinedRecord> quarantined(const std::optional<std::string>& source = std::nullopt,
                                                           std::size_t limit = 1000);
  // Moves a cursor on an operator's explicit command and writes the audit entry in the same
  // durable transaction (with `guard`, only while the source's lease is the holder's).
  void move_cursor(const std::string& cursor_key, const std::string& cursor, core::Instant now, const AuditEntry& audit,
                   const LeaseGuard* guard = nullptr);
  // The newest `limit` entries (older than entry `before` when given), newest first.
  [[nodiscard]] std::vector<AuditEntry> audit_log(std::size_t limit = 100, std::optional<std::int64_t> before = std::nullopt);

 private:
  Store(Backend backend, int pool_size);
  // Runs a database step; a driver error becomes a StoreError saying `what` failed, and a storage
  // fault among them is kept for write_fault().
  template <typename F>
  auto wrap(const char* what, F&& f) -> decltype(f());
  void note_failure(const std::string& message);
  void note_commit();
  std::size_t upsert_batch_ = 250;
  std::size_t lease();
  void release(std::size_t slot);
  soci::session& at(std::size_t slot);
  // With `abort`, checked between rows: throws WriteAbandoned once it turns true.
  UpsertCounts upsert_items_in(soci::session& sql, std::span<const Item> items, const std::atomic<bool>* abort = nullptr);
  // Records a page's evaluation intents in the page's transaction (a repeated one counts up its generation).
  void record_intents_in(soci::session& sql, std::span<const EvaluationIntent> intents, core::Instant now);
  // Throws LeaseLost unless `guard` still holds (locking the lease row until the transaction ends).
  void check_lease_in(soci::session& sql, const LeaseGuard& guard, const char* consequence);
  void set_cursor_in(soci::session& sql, const std::string& source, const std::string& cursor, core::Instant now);
  // Appends an entry to the audit log's hash chain inside the caller's transaction.
  void append_audit_in(soci::session& sql, const AuditEntry& entry);
  void enqueue_in(soci::session& sql, std::span<const QueuedEvaluation> requests, core::Instant now);
  void save_evaluation_in(soci::session& sql, const EvaluationRecord& r, core::Instant now,
                          std::vector<StatusChange>& changes);

  // How far before the newest event already swept into a channel's deliveries the next sweep
  // looks again (see due_deliveries).
  static constexpr std::chrono::minutes kSweepLookback{10};
  std::mutex sweep_mutex_;
  std::map<std::string, core::Instant> swept_;  // channel -> newest event created_at swept
  Backend backend_;
  SessionSetup setup_;
  int pool_size_;
  std::unique_ptr<soci::connection_pool> pool_;
  std::string location_;  // SQLite: the database file
  mutable std::mutex fault_mutex_;
  std::optional<std::string> write_fault_;
  friend class Transaction;
};

// Parses a database URL into a backend and a SOCI connect string (a libpq conninfo for
// PostgreSQL, the file path for SQLite). The password is added to the conninfo, quoted.
struct ConnectTarget {
  Backend backend;
  std::string connect_string;
};
[[nodiscard]] std::expected<ConnectTarget, std::string> parse_database_url(const std::string& url,
                                                                           const std::string& password);

[[nodiscard]] std::string_view to_string(Backend b);

}  // namespace pactwatch::store
