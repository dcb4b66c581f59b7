#include "pactwatch/store/store.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <tuple>
#include <unordered_map>

#include "migrations.h"

namespace pactwatch::store {

namespace {

constexpr long long kMigrationLockKey = 0x7061637477617463;  // "pactwatc"

int hex_value(char h) {
  if (h >= '0' && h <= '9') return h - '0';
  if (h >= 'a' && h <= 'f') return h - 'a' + 10;
  if (h >= 'A' && h <= 'F') return h - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string conninfo_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

const std::vector<MigrationFile>& migrations_for(Backend b) {
  return b == Backend::sqlite ? sqlite_migrations() : postgresql_migrations();
}

// A driver message that says the storage, not the statement, failed: SQLite's SQLITE_FULL,
// SQLITE_READONLY, SQLITE_IOERR and SQLITE_CANTOPEN; PostgreSQL's "could not extend/write".
bool storage_fault(std::string_view message) {
  std::string m(message);
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* needle : {"database or disk is full", "readonly database", "read-only file system", "disk i/o error",
                             "unable to open database file", "no space left on device", "could not extend file", "could not write"}) {
    if (m.find(needle) != std::string::npos) return true;
  }
  return false;
}

long long ms_or(const std::optional<core::Instant>& t, soci::indicator& ind) {
  ind = t ? soci::i_ok : soci::i_null;
  return t ? core::to_unix_ms(*t) : 0;
}

std::optional<core::Instant> opt_instant(long long v, soci::indicator ind) {
  if (ind != soci::i_ok) return std::nullopt;
  return core::from_unix_ms(v);
}

}  // namespace

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

void Store::note_failure(const std::string& message) {
  if (!storage_fault(message)) return;
  std::lock_guard lock(fault_mutex_);
  write_fault_ = message;
}

void Store::note_commit() {
  std::lock_guard lock(fault_mutex_);
  write_fault_.reset();
}

std::optional<std::string> Store::write_fault() const {
  std::lock_guard lock(fault_mutex_);
  return write_fault_;
}

namespace {
// A SQLite store that cannot be written, said plainly, with what to check: the usual causes are
// ownership, a read-only mount and a full disk.
std::string sqlite_write_hint(const std::string& path, const std::string& message) {
  return "cannot write the sqlite store " + path + ": " + message +
         " (pactwatch writes the database file and creates its -wal and -shm files beside it: the file and its directory "
         "must be writable by uid " + std::to_string(::geteuid()) + ", on a file system mounted read-write with space left)";
}
}  // namespace

std::string_view to_string(Backend b) { return b == Backend::sqlite ? "sqlite" : "postgresql"; }

std::expected<ConnectTarget, std::string> parse_database_url(const std::string& url, const std::string& password) {
  if (url.starts_with("sqlite://")) {
    std::string path = url.substr(std::string_view("sqlite://").size());
    if (path.empty()) return std::unexpected("sqlite URL needs a file path");
    return ConnectTarget{Backend::sqlite, percent_decode(path)};
  }
  std::string_view rest;
  if (url.starts_with("postgresql://")) rest = std::string_view(url).substr(13);
  else if (url.starts_with("postgres://")) rest = std::string_view(url).substr(11);
  else return std::unexpected("unsupported database URL (expected sqlite:// or postgresql://)");

  std::string query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = std::string(rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  std::string dbname;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    dbname = percent_decode(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
  }
  std::string user;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos) {
      return std::unexpected("the database URL must not contain a password");
    }
    user = percent_decode(userinfo);
    rest = rest.substr(at + 1);
  }
  std::string host;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return std::unexpected("unterminated [IPv6] host in the database URL");
    host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = std::string(rest.substr(close + 2));
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = percent_decode(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  } else {
    host = percent_decode(rest);
  }
  std::string ci;
  auto add = [&](const std::string& k, const std::string& v) {
    if (v.empty()) return;
    if (!ci.empty()) ci += ' ';
    ci += k + "=" + conninfo_quote(v);
  };
  add("host", host);
  add("port", port);
  add("dbname", dbname);
  add("user", user);
  add("password", password);
  std::string_view qs = query;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    auto pair = qs.substr(0, amp);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) return std::unexpected("bad query parameter '" + std::string(pair) + "' in the database URL");
    add(percent_decode(pair.substr(0, eq)), percent_decode(pair.substr(eq + 1)));
    qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
  }
  return ConnectTarget{Backend::postgresql, ci};
}

// --- pool leases ---------------------------------------------------------------------------

Store::Store(Backend backend, int pool_size)
    : backend_(backend), pool_size_(pool_size),
      pool_(std::make_unique<soci::connection_pool>(static_cast<std::size_t>(pool_size))) {}

Store::~Store() = default;

std::size_t Store::lease() { return pool_->lease(); }
void Store::release(std::size_t slot) { pool_->give_back(slot); }
soci::session& Store::at(std::size_t slot) { return pool_->at(slot); }

void SessionSetup::apply(soci::session& s) const {
  if (backend == Backend::sqlite) {
    s << "PRAGMA busy_timeout = 10000";
    s << "PRAGMA journal_mode = WAL";
    s << "PRAGMA synchronous = NORMAL";
    s << "PRAGMA foreign_keys = ON";
    return;
  }
  s << "SET client_min_messages = warning";
  s << "SET statement_timeout = " + std::to_string(statement_timeout.count() * 1000);
}

void SessionSetup::revive(soci::session& s) const {
  if (backend != Backend::postgresql) return;
  // libpq marks a connection bad once a statement has failed on it for want of the server (a
  // restart, a network cut): that unit of work failed, and the next one to draw this connection
  // reconnects here, so the daemon resumes by itself once the server is back.
  auto* be = static_cast<soci::postgresql_session_backend*>(s.get_backend());
  if (be && be->conn_ && PQstatus(be->conn_) == CONNECTION_OK) return;
  try {
    s.reconnect();
    apply(s);
  } catch (const std::exception& e) {
    throw StoreError(std::string("the database is unreachable: ") + e.what());
  }
}

namespace {
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
}  // namespace

std::expected<std::unique_ptr<Store>, std::string> Store::open(const StoreOptions& options) {
  auto target = parse_database_url(options.url, options.password);
  if (!target) return std::unexpected(target.error());
  if (options.pool_size < 1) return std::unexpected("pool size must be at least 1");
  std::unique_ptr<Store> store(new Store(target->backend, options.pool_size));
  store->setup_.backend = target->backend;
  store->setup_.statement_timeout = options.statement_timeout;
  if (target->backend == Backend::sqlite) store->location_ = target->connect_string;
  store->upsert_batch_ = options.upsert_batch ? options.upsert_batch : target->backend == Backend::postgresql ? 250 : 1;
  try {
    if (target->backend == Backend::sqlite) {
      std::filesystem::path file(target->connect_string);
      if (file.has_parent_path()) {
        std::error_code ec;
        std::filesystem::create_directories(file.parent_path(), ec);
        if (ec) return std::unexpected("cannot create " + file.parent_path().string() + ": " + ec.message());
      }
    }
    for (int i = 0; i < options.pool_size; ++i) {
      soci::session& s = store->pool_->at(static_cast<std::size_t>(i));
      if (target->backend == Backend::sqlite) s.open(soci::sqlite3, "db=" + target->connect_string);
      else s.open(soci::postgresql, target->connect_string);
      store->setup_.apply(s);
    }
  } catch (const std::exception& e) {
    std::string msg = e.what();
    // Never echo a password that a driver might include in its message.
    if (!options.password.empty()) {
      for (auto p = msg.find(options.password); p != std::string::npos; p = msg.find(options.password)) {
        msg.replace(p, options.password.size(), "***");
      }
    }
    if (target->backend == Backend::sqlite && storage_fault(msg)) return std::unexpected(sqlite_write_hint(target->connect_string, msg));
    return std::unexpected("cannot open the " + std::string(to_string(target->backend)) + " store: " + msg);
  }
  return store;
}

void Store::check_writable() {
  try {
    Transaction tx(*this, Durability::normal);
    // A write that changes nothing still needs a write transaction: refused on a read-only
    // SQLite file or a PostgreSQL hot standby.
    tx.sql() << "UPDATE schema_version SET name = name WHERE version < 0";
    tx.commit();
  } catch (const std::exception& e) {
    std::string message = e.what();
    note_failure(message);
    if (backend_ == Backend::sqlite && storage_fault(message)) throw StoreError(sqlite_write_hint(location_, message));
    throw StoreError("the store does not take writes: " + message);
  }
}

bool Store::ping() noexcept {
  try {
    Lease l(*pool_, setup_);
    int one = 0;
    l.sql() << "SELECT 1", soci::into(one);
    return one == 1;
  } catch (...) {
    return false;
  }
}

// --- transactions --------------------------------------------------------------------------

Transaction::Transaction(Store& store, Durability durability)
    : store_(store), slot_(store.lease()), session_(&store.at(slot_)), durability_(durability) {
  try {
    store_.setup_.revive(*session_);
    if (store_.backend() == Backend::sqlite) {
      if (durability_ == Durability::full) *session_ << "PRAGMA synchronous = FULL";
      *session_ << "BEGIN IMMEDIATE";
    } else {
      *session_ << "BEGIN";
      // Whatever the server's default, money, period close and the outbox wait for the WAL flush.
      if (durability_ == Durability::full) *session_ << "SET LOCAL synchronous_commit = on";
    }
  } catch (const std::exception& e) {
    store_.release(slot_);
    std::string message = std::string("cannot begin a transaction: ") + e.what();
    store_.note_failure(message);
    throw StoreError(std::move(message));
  }
}

void Transaction::commit() {
  store_.wrap("commit", [&] { *session_ << "COMMIT"; });
  done_ = true;
  store_.note_commit();
}

Transaction::~Transaction() {
  try {
    if (!done_) *session_ << "ROLLBACK";
  } catch (...) {
    // The connection is broken; the database discards the transaction.
  }
  try {
    if (store_.backend() == Backend::sqlite && durability_ == Durability::full) {
      *session_ << "PRAGMA synchronous = NORMAL";
    }
  } catch (...) {
  }
  store_.release(slot_);
}

// --- migrations ----------------------------------------------------------------------------

namespace {

bool has_version_table(soci::session& sql, Backend b) {
  int n = 0;
  if (b == Backend::sqlite) {
    sql << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", soci::into(n);
  } else {
    sql << "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() "
           "AND table_name = 'schema_version'",
        soci::into(n);
  }
  return n > 0;
}

std::vector<Migration> applied_migrations(soci::session& sql) {
  std::vector<Migration> out;
  soci::rowset<soci::row> rows = (sql.prepare << "SELECT version, name, applied_at FROM schema_version ORDER BY version");
  for (const auto& r : rows) {
    out.push_back({r.get<int>(0), r.get<std::string>(1), r.get<std::string>(2)});
  }
  return out;
}

}  // namespace

SchemaStatus Store::schema_status() {
  return wrap("schema status", [&] {
    SchemaStatus st{backend_, 0, 0, {}};
    Lease l(*pool_, setup_);
    std::vector<Migration> applied;
    if (has_version_table(l.sql(), backend_)) applied = applied_migrations(l.sql());
    for (const auto& m : migrations_for(backend_)) {
      Migration row{m.version, m.name, std::nullopt};
      for (const auto& a : applied) {
        if (a.version == m.version) row.applied_at = a.applied_at;
      }
      st.migrations.push_back(row);
      st.latest = std::max(st.latest, m.version);
    }
    for (const auto& a : applied) {
      st.current = std::max(st.current, a.version);
      if (a.version > st.latest) st.migrations.push_back(a);  // from a newer pactwatch
    }
    return st;
  });
}

int Store::migrate(core::Instant now) {
  return wrap("migration", [&] {
    Lease l(*pool_, setup_);
    soci::session& sql = l.sql();
    if (backend_ == Backend::postgresql) {
      // Several instances may start at once: one migrates, the others wait and find nothing to do.
      sql << "SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")";
    }
    struct Unlock {
      soci::session& sql;
      Backend b;
      ~Unlock() {
        try {
          if (b == Backend::postgresql) sql << "SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")";
        } catch (...) {
        }
      }
    } unlock{sql, backend_};

    sql << "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
           "applied_at TEXT NOT NULL)";
    const auto& files = migrations_for(backend_);
    int latest = files.empty() ? 0 : files.back().version;
    int applied_count = 0;
    for (const auto& m : files) {
      sql << (backend_ == Backend::sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
      try {
        int max_applied = 0;
        soci::indicator ind = soci::i_ok;
        sql << "SELECT max(version) FROM schema_version", soci::into(max_applied, ind);
        if (ind != soci::i_ok) max_applied = 0;
        if (max_applied > latest) {
          throw StoreError("the database schema is at version " + std::to_string(max_applied) +
                           ", newer than this pactwatch knows (" + std::to_string(latest) + "); upgrade pactwatch");
        }
        int exists = 0;
        sql << "SELECT count(*) FROM schema_version WHERE version = :v", soci::use(m.version), soci::into(exists);
        if (exists == 0) {
          for (const auto& statement : split_sql(m.sql)) sql << statement;
          std::string name = m.name;
          std::string at = core::format_rfc3339(now);
          sql << "INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, :a)", soci::use(m.version),
              soci::use(name), soci::use(at);
          ++applied_count;
        }
        sql << "COMMIT";
      } catch (...) {
        try {
          sql << "ROLLBACK";
        } catch (...) {
        }
        throw;
      }
    }
    return applied_count;
  });
}

// --- partners ------------------------------------------------------------------------------

void Store::sync_partners(std::span<const Partner> partners, core::Instant now) {
  wrap("partner sync", [&] {
    Transaction tx(*this, Durability::normal);
    soci::session& sql = tx.sql();
    const long long at = core::to_unix_ms(now);
    sql << "UPDATE partners SET active = 0, updated_at = :at WHERE active = 1", soci::use(at);
    std::string id, name, kind, tier;
    soci::statement st = (sql.prepare << "INSERT INTO partners (id, name, kind, tier, active, updated_at) "
                                         "VALUES (:id, :name, :kind, :tier, 1, :at) "
                                         "ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, "
                                         "tier = excluded.tier, active = 1, updated_at = excluded.updated_at",
                          soci::use(id), soci::use(name), soci::use(kind), soci::use(tier), soci::use(at));
    for (const auto& p : partners) {
      id = p.id;
      name = p.name;
      kind = p.kind;
      tier = p.tier;
      st.execute(true);
    }
    tx.commit();
  });
}

std::vector<Partner> Store::partners() {
  return wrap("partner list", [&] {
    Lease l(*pool_, setup_);
    std::vector<Partner> out;
    soci::rowset<soci::row> rows = (l.sql().prepare << "SELECT id, name, kind, tier, active FROM partners ORDER BY id");
    for (const auto& r : rows) {
      out.push_back({r.get<std::string>(0), r.get<std::string>(1), r.get<std::string>(2), r.get<std::string>(3),
                     r.get<int>(4) != 0});
    }
    return out;
  });
}

// --- the hot queries -----------------------------------------------------------------------
// Each is used by its method and shown by explain_hot_queries() (`pactwatch db explain`), from
// one text. docs/scaling.md lists the plans they should get.

namespace {
constexpr const char* kItemByKeyWhere = "WHERE source = :source AND external_id = :external_id";
constexpr const char* kDeliverySweep =
    "INSERT INTO deliveries (event_id, channel, status, attempts, next_attempt_at) "
    "SELECT o.id, :c, 'pending', 0, :a FROM outbox o WHERE o.created_at >= :s AND NOT EXISTS "
    "(SELECT 1 FROM deliveries d WHERE d.event_id = o.id AND d.channel = :c2) "
    "ON CONFLICT (event_id, channel) DO NOTHING";  // another instance's sweep got there first
constexpr const char* kDueDeliveriesWhere =
    "WHERE channel = :c AND status = 'pending' AND next_attempt_at <= :a ORDER BY next_attempt_at, event_id LIMIT ";
constexpr const char* kOutboxAfterWhere = "WHERE (created_at, id) > (:a, :i) ORDER BY created_at, id LIMIT ";
constexpr const char* kRuleStatus =
    "SELECT status FROM rule_statuses WHERE contract = :c AND version = :v AND period = :p AND rule = :r";
constexpr const char* kRuleStatusesOf =
    "SELECT rule, status FROM rule_statuses WHERE contract = :c AND version = :v AND period = :p";
constexpr const char* kQueueColumns =
    "SELECT contract, version, period_start, shard, partner, generation, requested_at FROM evaluation_queue ";
}  // namespace

// --- items ---------------------------------------------------------------------------------

namespace {

constexpr const char* kUpsertColumns =
    "INSERT INTO items (source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, "
    "solved_at, updated_at, amount_minor, currency, payload) VALUES ";
constexpr int kUpsertColumnCount = 13;
constexpr const char* kUpsertConflict =
    " ON CONFLICT (source, external_id) DO UPDATE SET kind = excluded.kind, partner_id = excluded.partner_id, "
    "status = excluded.status, priority = excluded.priority, created_at = excluded.created_at, "
    "first_reply_at = excluded.first_reply_at, solved_at = excluded.solved_at, updated_at = excluded.updated_at, "
    "amount_minor = excluded.amount_minor, currency = excluded.currency, payload = excluded.payload "
    // An older version of a record (a retried or out-of-order page) never overwrites a newer one,
    // and an identical record writes nothing.
    "WHERE excluded.updated_at >= items.updated_at AND ("
    "items.kind IS DISTINCT FROM excluded.kind OR items.partner_id IS DISTINCT FROM excluded.partner_id OR "
    "items.status IS DISTINCT FROM excluded.status OR items.priority IS DISTINCT FROM excluded.priority OR "
    "items.created_at IS DISTINCT FROM excluded.created_at OR "
    "items.first_reply_at IS DISTINCT FROM excluded.first_reply_at OR "
    "items.solved_at IS DISTINCT FROM excluded.solved_at OR items.updated_at IS DISTINCT FROM excluded.updated_at OR "
    "items.amount_minor IS DISTINCT FROM excluded.amount_minor OR items.currency IS DISTINCT FROM excluded.currency OR "
    "items.payload IS DISTINCT FROM excluded.payload)";

// Rows per INSERT (StoreOptions::upsert_batch): on PostgreSQL one statement and one round trip for
// a whole page; 13 parameters a row stays far below SQLite's 32,766 and PostgreSQL's 65,535.
constexpr std::size_t kMaxUpsertBatch = 2000;

}  // namespace

namespace {

// Between rows of a long write: a stop abandons it whole (its transaction rolls back).
void check_abort(const std::atomic<bool>* abort, std::size_t row) {
  if (abort && row % 256 == 0 && abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
}

}  // namespace

UpsertCounts Store::upsert_items_in(soci::session& sql, std::span<const Item> items, const std::atomic<bool>* abort) {
  UpsertCounts counts;
  if (items.empty()) return counts;
  // One row per key in a statement (PostgreSQL refuses to update a row twice in one): the version
  // that applying them one by one would leave, the newest, the later of equals. The others count
  // as unchanged.
  std::vector<const Item*> batch;
  batch.reserve(items.size());
  std::unordered_map<std::string, std::size_t> slot;
  for (const auto& item : items) {
    auto [it, fresh] = slot.try_emplace(item.source + '\x1f' + item.external_id, batch.size());
    if (fresh) {
      batch.push_back(&item);
      continue;
    }
    ++counts.unchanged;
    if (item.updated_at >= batch[it->second]->updated_at) batch[it->second] = &item;
  }
  const std::size_t rows = std::clamp<std::size_t>(upsert_batch_, 1, kMaxUpsertBatch);
  if (rows == 1) {
    // One statement, prepared once, executed per item.
    Item row;
    long long created = 0, first_reply = 0, solved = 0, updated = 0, amount = 0;
    std::string partner;
    soci::indicator partner_ind = soci::i_ok, created_ind = soci::i_ok, first_reply_ind = soci::i_ok,
                    solved_ind = soci::i_ok, amount_ind = soci::i_ok;
    std::string query = kUpsertColumns;
    query += "(:p0,:p1,:p2,:p3,:p4,:p5,:p6,:p7,:p8,:p9,:p10,:p11,:p12)";
    query += kUpsertConflict;
    soci::statement st =
        (sql.prepare << query, soci::use(row.source), soci::use(row.external_id), soci::use(row.kind),
         soci::use(partner, partner_ind), soci::use(row.status), soci::use(row.priority), soci::use(created, created_ind),
         soci::use(first_reply, first_reply_ind), soci::use(solved, solved_ind), soci::use(updated),
         soci::use(amount, amount_ind), soci::use(row.currency), soci::use(row.payload));
    std::size_t done = 0;
    for (const Item* item : batch) {
      check_abort(abort, done++);
      row = *item;
      partner = item->partner_id.value_or("");
      partner_ind = item->partner_id ? soci::i_ok : soci::i_null;
      created = ms_or(item->created_at, created_ind);
      first_reply = ms_or(item->first_reply_at, first_reply_ind);
      solved = ms_or(item->solved_at, solved_ind);
      updated = core::to_unix_ms(item->updated_at);
      amount = item->amount_minor.value_or(0);
      amount_ind = item->amount_minor ? soci::i_ok : soci::i_null;
      st.execute(true);
      if (st.get_affected_rows() > 0) ++counts.written;
      else ++counts.unchanged;
    }
    return counts;
  }
  for (std::size_t offset = 0; offset < batch.size(); offset += rows) {
    check_abort(abort, 0);
    const std::size_t n = std::min(rows, batch.size() - offset);
    // Bound values must stay put until the statement ran: one slot per row and column.
    std::vector<std::string> text(n * 8);  // source, external_id, kind, partner, status, priority, currency, payload
    std::vector<long long> number(n * 5);  // created, first reply, solved, updated, amount
    std::vector<soci::indicator> ind(n * kUpsertColumnCount, soci::i_ok);
    std::string query = kUpsertColumns;
    soci::statement st(sql);
    int param = 0;
    for (std::size_t r = 0; r < n; ++r) {
      const Item& item = *batch[offset + r];
      std::string* t = &text[r * 8];
      long long* v = &number[r * 5];
      soci::indicator* in = &ind[r * kUpsertColumnCount];
      t[0] = item.source;
      t[1] = item.external_id;
      t[2] = item.kind;
      t[3] = item.partner_id.value_or("");
      in[3] = item.partner_id ? soci::i_ok : soci::i_null;
      t[4] = item.status;
      t[5] = item.priority;
      v[0] = ms_or(item.created_at, in[6]);
      v[1] = ms_or(item.first_reply_at, in[7]);
      v[2] = ms_or(item.solved_at, in[8]);
      v[3] = core::to_unix_ms(item.updated_at);
      v[4] = item.amount_minor.value_or(0);
      in[10] = item.amount_minor ? soci::i_ok : soci::i_null;
      t[6] = item.currency;
      t[7] = item.payload;
      query += r ? ",(" : "(";
      for (int c = 0; c < kUpsertColumnCount; ++c) query += (c ? ",:p" : ":p") + std::to_string(param++);
      query += ')';
      // In column order (positional binding).
      st.exchange(soci::use(t[0], in[0]));
      st.exchange(soci::use(t[1], in[1]));
      st.exchange(soci::use(t[2], in[2]));
      st.exchange(soci::use(t[3], in[3]));
      st.exchange(soci::use(t[4], in[4]));
      st.exchange(soci::use(t[5], in[5]));
      st.exchange(soci::use(v[0], in[6]));
      st.exchange(soci::use(v[1], in[7]));
      st.exchange(soci::use(v[2], in[8]));
      st.exchange(soci::use(v[3], in[9]));
      st.exchange(soci::use(v[4], in[10]));
      st.exchange(soci::use(t[6], in[11]));
      st.exchange(soci::use(t[7], in[12]));
    }
    query += kUpsertConflict;
    st.alloc();
    st.prepare(query);
    st.define_and_bind();
    st.execute(true);
    const auto written = static_cast<std::int64_t>(st.get_affected_rows());
    counts.written += written;
    counts.unchanged += static_cast<std::int64_t>(n) - written;
  }
  return counts;
}

UpsertCounts Store::upsert_items(std::span<const Item> items) {
  return wrap("item upsert", [&] {
    Transaction tx(*this, Durability::normal);
    auto counts = upsert_items_in(tx.sql(), items);
    tx.commit();
    return counts;
  });
}

void Store::check_lease_in(soci::session& sql, const LeaseGuard& guard, const char* consequence) {
  // SQLite's transaction holds the write lock already (BEGIN IMMEDIATE); PostgreSQL locks the
  // lease row, so a takeover waits for this transaction to commit.
  std::string holder;
  long long fence = 0;
  sql << std::string("SELECT holder, fence FROM leases WHERE name = :n") + (backend_ == Backend::postgresql ? " FOR UPDATE" : ""),
      soci::use(guard.name, "n"), soci::into(holder), soci::into(fence);
  if (!sql.got_data() || holder != guard.holder || fence != guard.fence) {
    throw LeaseLost("lease " + guard.name + " has passed to " + (holder.empty() ? std::string("nobody") : holder) + "; " +
                    consequence);
  }
}

UpsertCounts Store::store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                               core::Instant now, const LeaseGuard* guard) {
  PageWrite write;
  write.guard = guard;
  return store_page(source, items, cursor, now, write);
}

UpsertCounts Store::store_page(const std::string& source, std::span<const Item> items, const std::string& cursor,
                               core::Instant now, const PageWrite& write) {
  return wrap("page store", [&] {
    Transaction tx(*this, Durability::normal);
    if (write.guard) check_lease_in(tx.sql(), *write.guard, "the page was not stored");
    auto counts = upsert_items_in(tx.sql(), items, write.abort);
    set_cursor_in(tx.sql(), source, cursor, now);
    for (const auto& i : write.intents) {
      std::string partner = i.partner;
      long long at = core::to_unix_ms(i.at), recorded = core::to_unix_ms(now);
      tx.sql() << "INSERT INTO evaluation_intents (partner, at, generation, recorded_at) VALUES (:p, :a, 1, :r) "
                  "ON CONFLICT (partner, at) DO UPDATE SET generation = evaluation_intents.generation + 1",
          soci::use(partner), soci::use(at), soci::use(recorded);
    }
    if (write.abort && write.abort->load()) throw WriteAbandoned("abandoned, nothing of it stored: the daemon is stopping");
    tx.commit();
    return counts;
  });
}

std::optional<Item> Store::find_item(const std::string& source, const std::string& external_id) {
  return wrap("item lookup", [&]() -> std::optional<Item> {
    Lease l(*pool_, setup_);
    Item item;
    long long created = 0, first_reply = 0, solved = 0, updated = 0, amount = 0;
    soci::indicator partner_ind = soci::i_ok, created_ind = soci::i_ok, first_reply_ind = soci::i_ok,
                    solved_ind = soci::i_ok, amount_ind = soci::i_ok;
    std::string partner_id;
    l.sql() << std::string("SELECT source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, "
                           "solved_at, updated_at, amount_minor, currency, payload FROM items ") + kItemByKeyWhere,
        soci::into(item.source), soci::into(item.external_id), soci::into(item.kind), soci::into(partner_id, partner_ind),
        soci::into(item.status), soci::into(item.priority), soci::into(created, created_ind),
        soci::into(first_reply, first_reply_ind), soci::into(solved, solved_ind), soci::into(updated),
        soci::into(amount, amount_ind), soci::into(item.currency), soci::into(item.payload), soci::use(source),
        soci::use(external_id);
    if (!l.sql().got_data()) return std::nullopt;
    if (partner_ind == soci::i_ok) item.partner_id = partner_id;
    item.created_at = opt_instant(created, created_ind);
    item.first_reply_at = opt_instant(first_reply, first_reply_ind);
    item.solved_at = opt_instant(solved, solved_ind);
    item.updated_at = core::from_unix_ms(updated);
    if (amount_ind == soci::i_ok) item.amount_minor = amount;
    return item;
  });
}

namespace {

// One row of `items`, bound through explicit long long variables (SOCI's dynamic rows type SQLite
// INTEGER columns as int).
struct ItemRow {
  Item item;
  std::string partner;
  long long created = 0, first_reply = 0, solved = 0, updated = 0, amount = 0;
  soci::indicator partner_ind = soci::i_ok, created_ind = soci::i_ok, first_reply_ind = soci::i_ok,
                  solved_ind = soci::i_ok, amount_ind = soci::i_ok;

  static constexpr const char* kColumns =
      "SELECT source, external_id, kind, partner_id, status, priority, created_at, first_reply_at, solved_at, "
      "updated_at, amount_minor, currency, payload FROM items ";

  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(item.source), soci::into(item.external_id), soci::into(item.kind), soci::into(partner, partner_ind),
        soci::into(item.status), soci::into(item.priority), soci::into(created, created_ind),
        soci::into(first_reply, first_reply_ind), soci::into(solved, solved_ind), soci::into(updated),
        soci::into(amount, amount_ind), soci::into(item.currency), soci::into(item.payload);
  }

  [[nodiscard]] Item get() const {
    Item row = item;
    row.partner_id = partner_ind == soci::i_ok ? std::optional<std::string>(partner) : std::nullopt;
    row.created_at = opt_instant(created, created_ind);
    row.first_reply_at = opt_instant(first_reply, first_reply_ind);
    row.solved_at = opt_instant(solved, solved_ind);
    row.updated_at = core::from_unix_ms(updated);
    row.amount_minor = amount_ind == soci::i_ok ? std::optional<std::int64_t>(amount) : std::nullopt;
    return row;
  }
};

std::vector<Item> fetch_all(soci::statement& st, const ItemRow& row) {
  std::vector<Item> out;
  st.execute();
  while (st.fetch()) out.push_back(row.get());
  return out;
}

}  // namespace

std::vector<Item> Store::items_of_partner(const std::string& partner_id) {
  return wrap("item query", [&] {
    Lease l(*pool_, setup_);
    ItemRow row;
    auto prep = (l.sql().prepare << std::string(ItemRow::kColumns) + "WHERE partner_id = :p ORDER BY source, external_id");
    row.bind(prep);
    prep, soci::use(partner_id, "p");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

namespace {
// The items that can count in a partner's period, read through the (partner_id, kind, created_at)
// index. Tickets still open at the period's start are found among all of the partner's earlier
// tickets: a second index on solved_at to find them directly halved SQLite's import rate and
// did not measurably speed up evaluation on ten months of data (docs/benchmarks.md).
std::string items_for_period_query() {
  return std::string(ItemRow::kColumns) +
         "WHERE partner_id = :p AND (kind = 'deals' OR (created_at < :e AND "
         "(created_at >= :s OR (kind = 'tickets' AND (solved_at IS NULL OR solved_at >= :s2))))) ORDER BY source, external_id";
}
}  // namespace

std::vector<Item> Store::items_for_period(const std::string& partner_id, core::Instant start, core::Instant end) {
  return wrap("item query", [&] {
    Lease l(*pool_, setup_);
    ItemRow row;
    const long long s = core::to_unix_ms(start), e = core::to_unix_ms(end);
    auto prep = (l.sql().prepare << items_for_period_query());
    row.bind(prep);
    prep, soci::use(partner_id, "p"), soci::use(e, "e"), soci::use(s, "s"), soci::use(s, "s2");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::vector<Item> Store::items_of_kind(const std::string& partner_id, const std::string& kind) {
  return wrap("item query", [&] {
    Lease l(*pool_, setup_);
    ItemRow row;
    auto prep = (l.sql().prepare << std::string(ItemRow::kColumns) +
                                        "WHERE partner_id = :p AND kind = :k ORDER BY source, external_id");
    row.bind(prep);
    prep, soci::use(partner_id, "p"), soci::use(kind, "k");
    soci::statement st(prep);
    return fetch_all(st, row);
  });
}

std::int64_t Store::count_items(const std::optional<std::string>& source) {
  return wrap("item count", [&] {
    Lease l(*pool_, setup_);
    long long n = 0;
    if (source) {
      l.sql() << "SELECT count(*) FROM items WHERE source = :s", soci::use(*source), soci::into(n);
    } else {
      l.sql() << "SELECT count(*) FROM items", soci::into(n);
    }
    return static_cast<std::int64_t>(n);
  });
}

// --- cursors -------------------------------------------------------------------------------

void Store::set_cursor_in(soci::session& sql, const std::string& source, const std::string& cursor,
                          core::Instant now) {
  const long long at = core::to_unix_ms(now);
  sql << "INSERT INTO source_cursors (source, cursor, updated_at) VALUES (:s, :c, :at) "
         "ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
      soci::use(source), soci::use(cursor), soci::use(at);
}

void Store::set_cursor(const std::string& source, const std::string& cursor, core::Instant now) {
  wrap("cursor update", [&] {
    Transaction tx(*this, Durability::normal);
    set_cursor_in(tx.sql(), source, cursor, now);
    tx.commit();
  });
}

std::optional<std::string> Store::cursor(const std::string& source) {
  return wrap("cursor lookup", [&]() -> std::optional<std::string> {
    Lease l(*pool_, setup_);
    std::string c;
    l.sql() << "SELECT cursor FROM source_cursors WHERE source = :s", soci::use(source), soci::into(c);
    if (!l.sql().got_data()) return std::nullopt;
    return c;
  });
}

// --- outbox ----------------------------------------------------------------------------------

namespace {

// A JSON string literal of `v` (event payloads are built here, where no JSON library is linked).
std::string json_string(const std::string& v) {
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) continue;
    out += ch;
  }
  return out + "\"";
}

// ",\"evidence\":\"/v1/...\",..." for an event's payload.
std::string links_json(const OutboxEvent& e) {
  std::string out;
  for (const auto& [name, path] : event_links(e)) out += "," + json_string(name) + ":" + json_string(path);
  return out;
}

void insert_event(soci::session& sql, const OutboxEvent& e) {
  std::string id = e.id, type = e.type, partner = e.partner, contract = e.contract, period = e.period, subject = e.subject,
              payload = e.payload;
  int version = e.version;
  long long at = core::to_unix_ms(e.created_at);
  // The same cause twice (a retried run) is one event.
  sql << "INSERT INTO outbox (id, type, partner, contract, version, period, subject, created_at, payload) "
         "VALUES (:i, :t, :pa, :c, :v, :p, :s, :a, :pl) ON CONFLICT (id) DO NOTHING",
      soci::use(id), soci::use(type), soci::use(partner), soci::use(contract), soci::use(version), soci::use(period),
      soci::use(subject), soci::use(at), soci::use(payload);
}

}  // namespace

// --- evaluations ---------------------------------------------------------------------------

std::vector<StatusChange> Store::save_evaluation(const EvaluationRecord& r, core::Instant now) {
  return save_evaluations(std::span<const EvaluationRecord>(&r, 1), now);
}

std::vector<StatusChange> Store::save_evaluations(std::span<const EvaluationRecord> records, core::Instant now,
                                                  const SaveContext* context) {
  return wrap("evaluation save", [&] {
    Transaction tx(*this, Durability::full);
    if (context && context->guard) check_lease_in(tx.sql(), *context->guard, "the evaluations were not stored");
    std::vector<StatusChange> changes;
    for (const auto& r : records) save_evaluation_in(tx.sql(), r, now, changes);
    if (context) {
      for (const auto& q : context->answered) {
        // Asked again meanwhile (a newer generation): the request stays for the next round.
        std::string contract = q.contract;
        int version = q.version;
        long long start = core::to_unix_ms(q.period_start), generation = q.generation;
        tx.sql() << "DELETE FROM evaluation_queue WHERE contract = :c AND version = :v AND period_start = :s AND generation = :g",
            soci::use(contract), soci::use(version), soci::use(start), soci::use(generation);
      }
      if (const auto& w = context->work) {
        std::string lease = w->lease, holder = w->holder;
        long long fence = w->fence, started = core::to_unix_ms(w->started_at), finished = core::to_unix_ms(w->finished_at),
                  periods = w->periods, cutoff = core::to_unix_ms(now - std::chrono::days(7));
        tx.sql() << "INSERT INTO work_log (lease, holder, fence, started_at, finished_at, periods) VALUES (:l, :h, :f, :s, :e, :p)",
            soci::use(lease), soci::use(holder), soci::use(fence), soci::use(started), soci::use(finished), soci::use(periods);
        tx.sql() << "DELETE FROM work_log WHERE started_at < :c", soci::use(cutoff);
      }
    }
    tx.commit();
    return changes;
  });
}

void Store::enqueue_in(soci::session& sql, std::span<const QueuedEvaluation> requests, core::Instant now) {
  for (const auto& q : requests) {
    std::string contract = q.contract, partner = q.partner;
    int version = q.version, shard = q.shard;
    long long start = core::to_unix_ms(q.period_start), at = core::to_unix_ms(now);
    sql << "INSERT INTO evaluation_queue (contract, version, period_start, shard, partner, generation, requested_at) "
           "VALUES (:c, :v, :s, :sh, :p, 1, :a) ON CONFLICT (contract, version, period_start) DO UPDATE SET "
           "generation = evaluation_queue.generation + 1, requested_at = excluded.requested_at",
        soci::use(contract), soci::use(version), soci::use(start), soci::use(shard), soci::use(partner), soci::use(at);
  }
}

void Store::enqueue_evaluations(std::span<const QueuedEvaluation> requests, core::Instant now) {
  if (requests.empty()) return;
  wrap("evaluation request", [&] {
    Transaction tx(*this, Durability::full);
    enqueue_in(tx.sql(), requests, now);
    tx.commit();
    return 0;
  });
}

// --- evaluation intents ----------------------------------------------------------------------

std::vector<core::Instant> counting_instants(const Item& item) {
  std::vector<core::Instant> out;
  if (item.created_at) out.push_back(*item.created_at);
  if (item.solved_at) out.push_back(*item.solved_at);
  if (item.kind == "deals") {
    const auto p = nlohmann::json::parse(item.payload, nullptr, false);
    for (const char* key : {"closed_at", "registered_at"}) {
      if (p.is_object() && p.contains(key) && p[key].is_string()) {
        if (auto t = core::parse_rfc3339(p[key].get<std::string>())) out.push_back(*t);
      }
    }
  }
  return out;
}

std::vector<EvaluationIntent> evaluation_intents_of(std::span<const Item> changed, std::span<const Item> previous) {
  std::vector<EvaluationIntent> out;
  auto add = [&](const Item& item) {
    if (!item.partner_id) return;
    using Grain = std::chrono::duration<std::int64_t, std::ratio<kIntentGrain.count() * 60>>;
    for (const auto& t : counting_instants(item)) out.push_back({*item.partner_id, std::chrono::floor<Grain>(t), 0});
  };
  for (const auto& i : changed) add(i);
  for (const auto& i : previous) add(i);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.partner, a.at) < std::tie(b.partner, b.at); });
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.partner == b.partner && a.at == b.at; }),
            out.end());
  return out;
}

std::vector<EvaluationIntent> Store::evaluation_intents(std::size_t limit) {
  return wrap("evaluation intents", [&] {
    Lease l(*pool_, setup_);
    EvaluationIntent i;
    long long at = 0, generation = 0;
    soci::statement st = (l.sql().prepare << "SELECT partner, at, generation FROM evaluation_intents ORDER BY recorded_at, partner, at LIMIT " +
                                                 std::to_string(limit),
                          soci::into(i.partner), soci::into(at), soci::into(generation));
    st.execute();
    std::vector<EvaluationIntent> out;
    while (st.fetch()) {
      i.at = core::from_unix_ms(at);
      i.generation = generation;
      out.push_back(i);
    }
    return out;
  });
}

void Store::queue_intents(std::span<const QueuedEvaluation> requests, std::span<const EvaluationIntent> worked_off, core::Instant now) {
  if (requests.empty() && worked_off.empty()) return;
  wrap("evaluation intents", [&] {
    Transaction tx(*this, Durability::full);
    enqueue_in(tx.sql(), requests, now);
    for (const auto& i : worked_off) {
      std::string partner = i.partner;
      long long at = core::to_unix_ms(i.at), generation = i.generation;
      tx.sql() << "DELETE FROM evaluation_intents WHERE partner = :p AND at = :a AND generation = :g", soci::use(partner),
          soci::use(at), soci::use(generation);
    }
    tx.commit();
    return 0;
  });
}

std::vector<QueuedEvaluation> Store::queued_evaluations(std::span<const int> shards, std::size_t limit) {
  if (shards.empty()) return {};
  return wrap("evaluation queue", [&] {
    std::string in;
    for (int sh : shards) in += (in.empty() ? "" : ", ") + std::to_string(sh);  // integers only
    Lease l(*pool_, setup_);
    QueuedEvaluation q;
    long long start = 0, generation = 0, at = 0;
    soci::statement st = (l.sql().prepare << std::string(kQueueColumns) + "WHERE shard IN (" + in +
                                             ") ORDER BY requested_at, contract, version, period_start LIMIT " + std::to_string(limit),
                          soci::into(q.contract), soci::into(q.version), soci::into(start), soci::into(q.shard),
                          soci::into(q.partner), soci::into(generation), soci::into(at));
    st.execute();
    std::vector<QueuedEvaluation> out;
    while (st.fetch()) {
      q.period_start = core::from_unix_ms(start);
      q.generation = generation;
      q.requested_at = core::from_unix_ms(at);
      out.push_back(q);
    }
    return out;
  });
}

std::vector<WorkEntry> Store::work_log(const std::optional<std::string>& lease) {
  return wrap("work log", [&] {
    Lease l(*pool_, setup_);
    std::string name = lease.value_or("");
    WorkEntry w;
    long long fence = 0, started = 0, finished = 0, periods = 0;
    // Every lease when none is given ('' is no lease's name).
    soci::statement st = (l.sql().prepare << "SELECT lease, holder, fence, started_at, finished_at, periods FROM work_log "
                                             "WHERE lease = :l OR :a = '' ORDER BY seq",
                          soci::use(name, "l"), soci::use(name, "a"), soci::into(w.lease), soci::into(w.holder),
                          soci::into(fence), soci::into(started), soci::into(finished), soci::into(periods));
    st.execute();
    std::vector<WorkEntry> out;
    while (st.fetch()) {
      w.fence = fence;
      w.started_at = core::from_unix_ms(started);
      w.finished_at = core::from_unix_ms(finished);
      w.periods = periods;
      out.push_back(w);
    }
    return out;
  });
}

void Store::save_evaluation_in(soci::session& sql, const EvaluationRecord& r, core::Instant now,
                               std::vector<StatusChange>& changes) {
  {
    const long long at = core::to_unix_ms(now);
    const long long as_of = core::to_unix_ms(r.as_of);
    int version = r.version;
    std::string contract = r.contract, period = r.period, partner = r.partner, digest = r.input_digest, doc = r.document;
    sql << "INSERT INTO evaluations (contract, version, period, partner, as_of, evaluated_at, input_digest, document) "
           "VALUES (:c, :v, :p, :pa, :a, :e, :d, :doc) ON CONFLICT (contract, version, period) DO UPDATE SET "
           "partner = excluded.partner, as_of = excluded.as_of, evaluated_at = excluded.evaluated_at, "
           "input_digest = excluded.input_digest, document = excluded.document",
        soci::use(contract), soci::use(version), soci::use(period), soci::use(partner), soci::use(as_of), soci::use(at),
        soci::use(digest), soci::use(doc);
    // The stored statuses of every rule of this evaluation, in one round trip: usually none has
    // changed and nothing more is written.
    std::map<std::string, std::string> stored;
    {
      std::string rule_name, rule_status;
      soci::statement st = (sql.prepare << kRuleStatusesOf, soci::use(contract, "c"), soci::use(version, "v"),
                            soci::use(period, "p"), soci::into(rule_name), soci::into(rule_status));
      st.execute();
      while (st.fetch()) stored[rule_name] = rule_status;
    }
    for (const auto& s : r.statuses) {
      std::string rule = s.rule, status = s.status, previous;
      const auto found = stored.find(rule);
      const bool known = found != stored.end();
      if (known) previous = found->second;
      if (known && previous == status) continue;
      if (known) {
        sql << "UPDATE rule_statuses SET status = :s, since = :a WHERE contract = :c AND version = :v AND period = :p "
               "AND rule = :r",
            soci::use(status), soci::use(at), soci::use(contract), soci::use(version), soci::use(period), soci::use(rule);
      } else {
        sql << "INSERT INTO rule_statuses (contract, version, period, rule, status, since) VALUES (:c, :v, :p, :r, :s, :a)",
            soci::use(contract), soci::use(version), soci::use(period), soci::use(rule), soci::use(status), soci::use(at);
      }
      soci::indicator from_ind = known ? soci::i_ok : soci::i_null;
      sql << "INSERT INTO status_changes (contract, version, period, partner, rule, from_status, to_status, at) "
             "VALUES (:c, :v, :p, :pa, :r, :f, :t, :a)",
          soci::use(contract), soci::use(version), soci::use(period), soci::use(partner), soci::use(rule),
          soci::use(previous, from_ind), soci::use(status), soci::use(at);
      changes.push_back({contract, version, period, partner, rule,
                         known ? std::optional<std::string>(previous) : std::nullopt, status, now});
      if (auto event = event_for(changes.back())) {
        // The numbers behind the change travel with it.
        event->payload.insert(event->payload.size() - 1, ",\"value\":" + (s.value.empty() ? std::string("null") : s.value) +
                                                             ",\"target\":" + json_string(s.target));
        insert_event(sql, *event);  // same transaction as its cause
      }
    }
  }
}

std::optional<std::string> Store::evaluation_document(const std::string& contract, int version, const std::string& period) {
  return wrap("evaluation lookup", [&]() -> std::optional<std::string> {
    Lease l(*pool_, setup_);
    std::string doc;
    l.sql() << "SELECT document FROM evaluations WHERE contract = :c AND version = :v AND period = :p", soci::use(contract),
        soci::use(version), soci::use(period), soci::into(doc);
    if (!l.sql().got_data()) return std::nullopt;
    return doc;
  });
}

std::vector<StatusChange> Store::status_changes(const std::optional<std::string>& contract) {
  return wrap("status change list", [&] {
    Lease l(*pool_, setup_);
    std::vector<StatusChange> out;
    StatusChange c;
    std::string from;
    soci::indicator from_ind = soci::i_ok;
    long long at = 0;
    const std::string filter = contract.value_or("");
    soci::statement st = (l.sql().prepare << "SELECT contract, version, period, partner, rule, from_status, to_status, at "
                                             "FROM status_changes WHERE :f = '' OR contract = :f2 ORDER BY id",
                          soci::into(c.contract), soci::into(c.version), soci::into(c.period), soci::into(c.partner),
                          soci::into(c.rule), soci::into(from, from_ind), soci::into(c.to), soci::into(at),
                          soci::use(filter, "f"), soci::use(filter, "f2"));
    st.execute();
    while (st.fetch()) {
      StatusChange row = c;
      row.from = from_ind == soci::i_ok ? std::optional<std::string>(from) : std::nullopt;
      row.at = core::from_unix_ms(at);
      out.push_back(std::move(row));
    }
    return out;
  });
}

// --- statements ----------------------------------------------------------------------------

namespace {

struct StatementRow {
  StatementRecord r;
  long long start = 0, own = 0, total = 0, carry = 0, as_of = 0, closed = 0;
  static constexpr const char* kColumns =
      "SELECT contract, version, period, partner, period_start, currency, own_minor, total_minor, carry_out_minor, "
      "contract_sha256, input_digest, engine_version, as_of, closed_at, closed_by, document FROM statements ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(r.contract), soci::into(r.version), soci::into(r.period), soci::into(r.partner), soci::into(start),
        soci::into(r.currency), soci::into(own), soci::into(total), soci::into(carry), soci::into(r.contract_sha256),
        soci::into(r.input_digest), soci::into(r.engine_version), soci::into(as_of), soci::into(closed),
        soci::into(r.closed_by), soci::into(r.document);
  }
  [[nodiscard]] StatementRecord get() const {
    StatementRecord out = r;
    out.period_start = core::from_unix_ms(start);
    out.own_minor = own;
    out.total_minor = total;
    out.carry_out_minor = carry;
    out.as_of = core::from_unix_ms(as_of);
    out.closed_at = core::from_unix_ms(closed);
    return out;
  }
};

}  // namespace

void Store::close_statements(std::span<const StatementRecord> statements) {
  wrap("period close", [&] {
    Transaction tx(*this, Durability::full);
    for (const auto& s : statements) {
      long long n = 0;
      std::string contract = s.contract, period = s.period;
      int version = s.version;
      tx.sql() << "SELECT count(*) FROM statements WHERE contract = :c AND version = :v AND period = :p", soci::use(contract),
          soci::use(version), soci::use(period), soci::into(n);
      if (n > 0) {
        throw AlreadyClosed(contract + " v" + std::to_string(version) + " " + period + " is already closed");
      }
      std::string partner = s.partner, currency = s.currency, sha = s.contract_sha256, digest = s.input_digest,
                  engine = s.engine_version, by = s.closed_by, doc = s.document;
      long long start = core::to_unix_ms(s.period_start), own = s.own_minor, total = s.total_minor,
                carry = s.carry_out_minor, as_of = core::to_unix_ms(s.as_of), closed = core::to_unix_ms(s.closed_at);
      OutboxEvent event{"statement.closed/" + contract + "/" + std::to_string(version) + "/" + period,
                        "statement.closed", partner, contract, version, period, "statement", s.closed_at, ""};
      event.payload = "{\"total\":\"" + std::to_string(total) + "\",\"currency\":" + json_string(currency) +
                      ",\"closed_by\":" + json_string(by) + links_json(event) + "}";
      insert_event(tx.sql(), event);
      tx.sql() << "INSERT INTO statements (contract, version, period, partner, period_start, currency, own_minor, "
                  "total_minor, carry_out_minor, contract_sha256, input_digest, engine_version, as_of, closed_at, "
                  "closed_by, document) VALUES (:c, :v, :p, :pa, :s, :cu, :o, :t, :ca, :h, :d, :e, :a, :cl, :b, :doc)",
          soci::use(contract), soci::use(version), soci::use(period), soci::use(partner), soci::use(start),
          soci::use(currency), soci::use(own), soci::use(total), soci::use(carry), soci::use(sha), soci::use(digest),
          soci::use(engine), soci::use(as_of), soci::use(closed), soci::use(by), soci::use(doc);
    }
    tx.commit();
    return 0;
  });
}

std::optional<StatementRecord> Store::closed_statement(const std::string& contract, int version, const std::string& period) {
  return wrap("statement lookup", [&]() -> std::optional<StatementRecord> {
    Lease l(*pool_, setup_);
    StatementRow row;
    auto prep = (l.sql().prepare << std::string(StatementRow::kColumns) +
                                        "WHERE contract = :c AND version = :v AND period = :p");
    row.bind(prep);
    prep, soci::use(contract, "c"), soci::use(version, "v"), soci::use(period, "p");
    soci::statement st(prep);
    st.execute();
    if (!st.fetch()) return std::nullopt;
    return row.get();
  });
}

std::vector<StatementRecord> Store::closed_statements(const std::string& contract) {
  return wrap("statement list", [&] {
    Lease l(*pool_, setup_);
    StatementRow row;
    auto prep = (l.sql().prepare << std::string(StatementRow::kColumns) +
                                        "WHERE contract = :c ORDER BY period_start, version");
    row.bind(prep);
    prep, soci::use(contract, "c");
    soci::statement st(prep);
    st.execute();
    std::vector<StatementRecord> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::optional<OutboxEvent> event_for(const StatusChange& c) {
  const auto colon = c.rule.find(':');
  const std::string kind = c.rule.substr(0, colon);
  const std::string from = c.from.value_or("");
  std::string type;
  if (kind == "kpi") {
    if (c.to == "breached") type = "kpi.breached";
    else if (c.to == "at_risk") type = "kpi.at_risk";
    else if ((c.to == "met" || c.to == "warning") && (from == "breached" || from == "at_risk")) type = "kpi.recovered";
  } else if (kind == "standard" && c.to == "breached") {
    type = "standard.violated";
  } else if (kind == "obligation" && c.to == "breached") {
    type = "obligation.breached";
  }
  if (type.empty()) return std::nullopt;
  OutboxEvent e;
  e.type = type;
  e.partner = c.partner;
  e.contract = c.contract;
  e.version = c.version;
  e.period = c.period;
  e.subject = c.rule;
  e.created_at = c.at;
  e.id = type + "/" + c.contract + "/" + std::to_string(c.version) + "/" + c.period + "/" + c.rule + "/" +
         std::to_string(core::to_unix_ms(c.at));
  e.payload = "{\"rule\":" + json_string(c.rule) + ",\"from\":" + (c.from ? json_string(*c.from) : std::string("null")) +
              ",\"to\":" + json_string(c.to) + links_json(e) + "}";
  return e;
}

namespace {

// Percent-encodes everything but RFC 3986's unreserved characters (for path segments and query values).
std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> event_links(const OutboxEvent& e) {
  const std::string partner = "/v1/partners/" + url_encode(e.partner);
  // A rolling window's label ("rolling 30d to ...") names no period the API takes.
  const std::string period = e.period.starts_with("rolling ") ? "" : "period=" + url_encode(e.period);
  const auto query = [](std::string q) { return q.empty() ? q : "?" + q; };
  if (e.type == "statement.closed") return {{"statements", partner + "/statements" + query(period)}};
  const auto colon = e.subject.find(':');
  const std::string rule = colon == std::string::npos ? e.subject : e.subject.substr(colon + 1);
  return {{"evidence", partner + "/kpis/" + url_encode(rule) + "/evidence?" + (period.empty() ? "" : period + "&") +
                           "contract=" + url_encode(e.contract) + "&version=" + std::to_string(e.version)},
          {"standing", partner + "/kpis" + query(period)}};
}

namespace {

struct EventRow {
  OutboxEvent e;
  long long at = 0;
  static constexpr const char* kColumns = "SELECT id, type, partner, contract, version, period, subject, created_at, payload FROM outbox ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(e.id), soci::into(e.type), soci::into(e.partner), soci::into(e.contract), soci::into(e.version),
        soci::into(e.period), soci::into(e.subject), soci::into(at), soci::into(e.payload);
  }
  [[nodiscard]] OutboxEvent get() const {
    OutboxEvent out = e;
    out.created_at = core::from_unix_ms(at);
    return out;
  }
};

struct DeliveryRow {
  Delivery d;
  long long next = 0, delivered = 0;
  soci::indicator error_ind = soci::i_ok, delivered_ind = soci::i_ok;
  static constexpr const char* kColumns =
      "SELECT event_id, channel, status, attempts, next_attempt_at, last_error, delivered_at FROM deliveries ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(d.event_id), soci::into(d.channel), soci::into(d.status), soci::into(d.attempts), soci::into(next),
        soci::into(d.last_error, error_ind), soci::into(delivered, delivered_ind);
  }
  [[nodiscard]] Delivery get() const {
    Delivery out = d;
    out.next_attempt_at = core::from_unix_ms(next);
    if (error_ind != soci::i_ok) out.last_error.clear();
    out.delivered_at = delivered_ind == soci::i_ok ? std::optional(core::from_unix_ms(delivered)) : std::nullopt;
    return out;
  }
};

}  // namespace

std::vector<OutboxEvent> Store::outbox_events(std::size_t limit) {
  return wrap("outbox list", [&] {
    Lease l(*pool_, setup_);
    EventRow row;
    auto prep = (l.sql().prepare << std::string(EventRow::kColumns) + "ORDER BY created_at, id LIMIT " + std::to_string(limit));
    row.bind(prep);
    soci::statement st(prep);
    st.execute();
    std::vector<OutboxEvent> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::optional<OutboxEvent> Store::outbox_event(const std::string& id) {
  return wrap("outbox lookup", [&]() -> std::optional<OutboxEvent> {
    Lease l(*pool_, setup_);
    EventRow row;
    auto prep = (l.sql().prepare << std::string(EventRow::kColumns) + "WHERE id = :i");
    row.bind(prep);
    prep, soci::use(id, "i");
    soci::statement st(prep);
    st.execute();
    if (!st.fetch()) return std::nullopt;
    return row.get();
  });
}

std::vector<Delivery> Store::due_deliveries(const std::string& channel, core::Instant now, core::Instant channel_since,
                                            std::size_t limit) {
  return wrap("outbox deliveries", [&] {
    Transaction tx(*this, Durability::normal);
    // The sweep for events the channel has not seen starts where the last one (of this process)
    // reached, less a lookback for events that committed late or were stamped by an instance with
    // a slower clock: the outbox is read by its created_at index, not in full, every second.
    long long from = core::to_unix_ms(channel_since);
    {
      std::lock_guard lock(sweep_mutex_);
      if (const auto it = swept_.find(channel); it != swept_.end()) {
        from = std::max<long long>(from, core::to_unix_ms(it->second - kSweepLookback));
      }
    }
    const long long at = core::to_unix_ms(now), since = from;
    std::string ch = channel;
    tx.sql() << kDeliverySweep,
        soci::use(ch, "c"), soci::use(at, "a"), soci::use(since, "s"), soci::use(ch, "c2");
    DeliveryRow row;
    auto prep = (tx.sql().prepare << std::string(DeliveryRow::kColumns) + kDueDeliveriesWhere + std::to_string(limit));
    row.bind(prep);
    prep, soci::use(ch, "c"), soci::use(at, "a");
    soci::statement st(prep);
    st.execute();
    std::vector<Delivery> out;
    while (st.fetch()) out.push_back(row.get());
    long long newest = 0;
    soci::indicator ind = soci::i_null;
    tx.sql() << "SELECT max(created_at) FROM outbox WHERE created_at >= :s", soci::use(since), soci::into(newest, ind);
    tx.commit();
    if (ind == soci::i_ok) {
      std::lock_guard lock(sweep_mutex_);
      auto& mark = swept_[channel];
      mark = std::max(mark, core::from_unix_ms(newest));
    }
    return out;
  });
}

void Store::update_delivery(const Delivery& d) {
  wrap("delivery update", [&] {
    Transaction tx(*this, Durability::full);
    std::string status = d.status, error = d.last_error, id = d.event_id, ch = d.channel;
    int attempts = d.attempts;
    long long next = core::to_unix_ms(d.next_attempt_at);
    long long delivered = d.delivered_at ? core::to_unix_ms(*d.delivered_at) : 0;
    soci::indicator di = d.delivered_at ? soci::i_ok : soci::i_null;
    tx.sql() << "UPDATE deliveries SET status = :s, attempts = :n, next_attempt_at = :t, last_error = :e, delivered_at = :d "
                "WHERE event_id = :i AND channel = :c",
        soci::use(status), soci::use(attempts), soci::use(next), soci::use(error), soci::use(delivered, di), soci::use(id),
        soci::use(ch);
    tx.commit();
    return 0;
  });
}

std::vector<Delivery> Store::deliveries(const std::optional<std::string>& status) {
  return wrap("delivery list", [&] {
    Lease l(*pool_, setup_);
    DeliveryRow row;
    const std::string filter = status.value_or("");
    auto prep = (l.sql().prepare << std::string(DeliveryRow::kColumns) +
                                        "WHERE :f = '' OR status = :f2 ORDER BY next_attempt_at, event_id, channel");
    row.bind(prep);
    prep, soci::use(filter, "f"), soci::use(filter, "f2");
    soci::statement st(prep);
    st.execute();
    std::vector<Delivery> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

int Store::retry_deliveries(const std::string& event_id, core::Instant now) {
  return wrap("delivery retry", [&] {
    Transaction tx(*this, Durability::full);
    long long at = core::to_unix_ms(now);
    std::string id = event_id;
    soci::statement st = (tx.sql().prepare << "UPDATE deliveries SET status = 'pending', next_attempt_at = :a, attempts = 0 "
                                              "WHERE status = 'dead' AND (:i = 'all' OR event_id = :i2)",
                          soci::use(at, "a"), soci::use(id, "i"), soci::use(id, "i2"));
    st.execute(true);
    const auto n = static_cast<int>(st.get_affected_rows());
    tx.commit();
    return n;
  });
}

std::map<std::string, std::int64_t> Store::delivery_counts() {
  return wrap("delivery counts", [&] {
    Lease l(*pool_, setup_);
    std::map<std::string, std::int64_t> out;
    std::string status;
    long long n = 0;
    soci::statement st = (l.sql().prepare << "SELECT status, count(*) FROM deliveries GROUP BY status", soci::into(status), soci::into(n));
    st.execute();
    while (st.fetch()) out[status] = n;
    return out;
  });
}

std::optional<std::string> Store::rule_status(const std::string& contract, int version, const std::string& period,
                                             const std::string& rule) {
  return wrap("rule status", [&]() -> std::optional<std::string> {
    Lease l(*pool_, setup_);
    std::string status;
    l.sql() << kRuleStatus, soci::use(contract), soci::use(version), soci::use(period), soci::use(rule), soci::into(status);
    if (!l.sql().got_data()) return std::nullopt;
    return status;
  });
}

int Store::write_reminders(core::Instant now, std::chrono::seconds interval) {
  return wrap("reminders", [&] {
    Transaction tx(*this, Durability::full);
    struct Row {
      std::string contract, period, partner, rule, status;
      int version = 0;
      long long since = 0;
    };
    std::vector<Row> rows;
    Row r;
    soci::statement st = (tx.sql().prepare << "SELECT s.contract, s.version, s.period, e.partner, s.rule, s.status, s.since "
                                              "FROM rule_statuses s JOIN evaluations e ON e.contract = s.contract AND "
                                              "e.version = s.version AND e.period = s.period "
                                              "WHERE s.status IN ('breached', 'at_risk') AND (s.rule LIKE 'kpi:%' OR s.rule LIKE 'obligation:%')",
                          soci::into(r.contract), soci::into(r.version), soci::into(r.period), soci::into(r.partner),
                          soci::into(r.rule), soci::into(r.status), soci::into(r.since));
    st.execute();
    while (st.fetch()) rows.push_back(r);
    int written = 0;
    const long long step = static_cast<long long>(interval.count()) * 1000;
    for (const auto& row : rows) {
      const long long n = (core::to_unix_ms(now) - row.since) / step;
      if (n < 1) continue;
      StatusChange c{row.contract, row.version, row.period, row.partner, row.rule, std::nullopt, row.status, core::from_unix_ms(row.since)};
      auto e = event_for(c);
      if (!e) continue;
      e->id += "/reminder/" + std::to_string(n);
      e->created_at = core::from_unix_ms(row.since + n * step);
      e->payload.insert(e->payload.size() - 1, ",\"reminder\":" + std::to_string(n));
      long long before = 0;
      std::string id = e->id;
      tx.sql() << "SELECT count(*) FROM outbox WHERE id = :i", soci::use(id), soci::into(before);
      if (before > 0) continue;
      insert_event(tx.sql(), *e);
      ++written;
    }
    tx.commit();
    return written;
  });
}

namespace {

struct TokenRow {
  ApiToken t;
  long long created = 0, expires = 0, revoked = 0;
  soci::indicator partner_ind = soci::i_ok, expires_ind = soci::i_ok, revoked_ind = soci::i_ok;
  static constexpr const char* kColumns =
      "SELECT id, sha256, name, role, partner, created_at, expires_at, revoked_at FROM api_tokens ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(t.id), soci::into(t.sha256), soci::into(t.name), soci::into(t.role), soci::into(partner, partner_ind),
        soci::into(created), soci::into(expires, expires_ind), soci::into(revoked, revoked_ind);
  }
  std::string partner;
  [[nodiscard]] ApiToken get() const {
    ApiToken out = t;
    out.partner = partner_ind == soci::i_ok ? std::optional(partner) : std::nullopt;
    out.created_at = core::from_unix_ms(created);
    out.expires_at = opt_instant(expires, expires_ind);
    out.revoked_at = opt_instant(revoked, revoked_ind);
    return out;
  }
};

}  // namespace

std::vector<OutboxEvent> Store::outbox_events_after(core::Instant at, const std::string& id, std::size_t limit) {
  return wrap("outbox page", [&] {
    Lease l(*pool_, setup_);
    EventRow row;
    const long long ms = core::to_unix_ms(at);
    auto prep = (l.sql().prepare << std::string(EventRow::kColumns) + kOutboxAfterWhere + std::to_string(limit));
    row.bind(prep);
    prep, soci::use(ms, "a"), soci::use(id, "i");
    soci::statement st(prep);
    st.execute();
    std::vector<OutboxEvent> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::vector<Delivery> Store::deliveries_of(const std::string& event_id) {
  return wrap("event deliveries", [&] {
    Lease l(*pool_, setup_);
    DeliveryRow row;
    auto prep = (l.sql().prepare << std::string(DeliveryRow::kColumns) + "WHERE event_id = :e ORDER BY channel");
    row.bind(prep);
    prep, soci::use(event_id, "e");
    soci::statement st(prep);
    st.execute();
    std::vector<Delivery> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

void Store::create_token(const ApiToken& token, int max_live_per_partner, core::Instant now) {
  wrap("token create", [&] {
    Transaction tx(*this, Durability::full);
    if (token.partner) {
      // Taken under the write lock of the insert's transaction: SQLite serializes writers; on
      // PostgreSQL the partner's rows are locked first so two creations cannot both pass.
      const long long at = core::to_unix_ms(now);
      std::string pid = *token.partner;
      if (backend_ == Backend::postgresql) {
        tx.sql() << "SELECT pg_advisory_xact_lock(hashtext('api_tokens:' || :p))", soci::use(pid, "p");
      }
      long long live = 0;
      tx.sql() << "SELECT count(*) FROM api_tokens WHERE partner = :p AND revoked_at IS NULL AND "
                  "(expires_at IS NULL OR expires_at > :a)",
          soci::use(pid, "p"), soci::use(at, "a"), soci::into(live);
      if (live >= max_live_per_partner) {
        throw TokenLimit("partner '" + pid + "' already holds " + std::to_string(live) +
                         " live token(s), the most allowed; revoke one first ('pactwatch token revoke ID')");
      }
    }
    soci::indicator partner_ind = soci::i_ok, expires_ind = soci::i_ok;
    std::string partner = token.partner.value_or("");
    partner_ind = token.partner ? soci::i_ok : soci::i_null;
    const long long created = core::to_unix_ms(token.created_at);
    const long long expires = ms_or(token.expires_at, expires_ind);
    tx.sql() << "INSERT INTO api_tokens (id, sha256, name, role, partner, created_at, expires_at) "
                "VALUES (:i, :h, :n, :r, :p, :c, :e)",
        soci::use(token.id, "i"), soci::use(token.sha256, "h"), soci::use(token.name, "n"), soci::use(token.role, "r"),
        soci::use(partner, partner_ind, "p"), soci::use(created, "c"), soci::use(expires, expires_ind, "e");
    tx.commit();
  });
}

std::optional<ApiToken> Store::token_by_hash(const std::string& sha256) {
  return wrap("token lookup", [&]() -> std::optional<ApiToken> {
    Lease l(*pool_, setup_);
    TokenRow row;
    auto prep = (l.sql().prepare << std::string(TokenRow::kColumns) + "WHERE sha256 = :h");
    row.bind(prep);
    prep, soci::use(sha256, "h");
    soci::statement st(prep);
    st.execute();
    if (!st.fetch()) return std::nullopt;
    return row.get();
  });
}

std::vector<ApiToken> Store::tokens() {
  return wrap("token list", [&] {
    Lease l(*pool_, setup_);
    TokenRow row;
    auto prep = (l.sql().prepare << std::string(TokenRow::kColumns) + "ORDER BY created_at, id");
    row.bind(prep);
    soci::statement st(prep);
    st.execute();
    std::vector<ApiToken> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

bool Store::revoke_token(const std::string& id, core::Instant now) {
  return wrap("token revoke", [&] {
    Transaction tx(*this, Durability::full);
    const long long at = core::to_unix_ms(now);
    soci::statement st = (tx.sql().prepare << "UPDATE api_tokens SET revoked_at = :a WHERE id = :i AND revoked_at IS NULL",
                          soci::use(at, "a"), soci::use(id, "i"));
    st.execute(true);
    const bool changed = st.get_affected_rows() > 0;
    tx.commit();
    return changed;
  });
}

void Store::append_audit(const AuditEntry& e) {
  wrap("audit append", [&] {
    Transaction tx(*this, Durability::full);
    const long long at = core::to_unix_ms(e.at);
    tx.sql() << "INSERT INTO audit_log (at, actor, role, action, target, outcome) VALUES (:a, :w, :r, :x, :t, :o)",
        soci::use(at, "a"), soci::use(e.actor, "w"), soci::use(e.role, "r"), soci::use(e.action, "x"),
        soci::use(e.target, "t"), soci::use(e.outcome, "o");
    tx.commit();
  });
}

std::vector<AuditEntry> Store::audit_log(std::size_t limit, std::optional<std::int64_t> before) {
  return wrap("audit list", [&] {
    Lease l(*pool_, setup_);
    AuditEntry e;
    long long seq = 0, at = 0;
    const long long below = before ? static_cast<long long>(*before) : std::numeric_limits<long long>::max();
    soci::statement st = (l.sql().prepare << "SELECT seq, at, actor, role, action, target, outcome FROM audit_log "
                                             "WHERE seq < :b ORDER BY seq DESC LIMIT " + std::to_string(limit),
                          soci::use(below, "b"), soci::into(seq), soci::into(at), soci::into(e.actor), soci::into(e.role),
                          soci::into(e.action), soci::into(e.target), soci::into(e.outcome));
    st.execute();
    std::vector<AuditEntry> out;
    while (st.fetch()) {
      e.seq = seq;
      e.at = core::from_unix_ms(at);
      out.push_back(e);
    }
    return out;
  });
}

std::optional<std::int64_t> Store::claim_lease(const std::string& name, const std::string& holder, core::Instant now,
                                               std::chrono::milliseconds ttl) {
  return wrap("lease claim", [&]() -> std::optional<std::int64_t> {
    Transaction tx(*this, Durability::normal);
    const long long at = core::to_unix_ms(now), until = core::to_unix_ms(now + ttl);
    long long fence = 0;
    soci::indicator ind = soci::i_null;
    // One statement: insert a new lease, or take over an expired one (a new fence), or renew
    // one's own (the same fence); a running lease of another holder is left as it is and
    // nothing is returned.
    tx.sql() << "INSERT INTO leases (name, holder, expires_at, fence) VALUES (:n, :h, :u, 1) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
                "fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= :a RETURNING fence",
        soci::use(name, "n"), soci::use(holder, "h"), soci::use(until, "u"), soci::use(at, "a"), soci::into(fence, ind);
    const bool held = tx.sql().got_data() && ind == soci::i_ok;  // read before COMMIT resets it
    tx.commit();
    if (!held) return std::nullopt;
    return static_cast<std::int64_t>(fence);
  });
}

bool Store::release_lease(const std::string& name, const std::string& holder) {
  return wrap("lease release", [&] {
    Transaction tx(*this, Durability::normal);
    soci::statement st = (tx.sql().prepare << "UPDATE leases SET expires_at = 0 WHERE name = :n AND holder = :h",
                          soci::use(name, "n"), soci::use(holder, "h"));
    st.execute(true);
    const bool released = st.get_affected_rows() > 0;
    tx.commit();
    return released;
  });
}

std::vector<LeaseRecord> Store::leases() {
  return wrap("lease list", [&] {
    Lease l(*pool_, setup_);
    LeaseRecord r;
    long long until = 0, fence = 0;
    soci::statement st = (l.sql().prepare << "SELECT name, holder, expires_at, fence FROM leases ORDER BY name", soci::into(r.name),
                          soci::into(r.holder), soci::into(until), soci::into(fence));
    st.execute();
    std::vector<LeaseRecord> out;
    while (st.fetch()) {
      r.expires_at = core::from_unix_ms(until);
      r.fence = fence;
      out.push_back(r);
    }
    return out;
  });
}

std::vector<QueryPlan> Store::explain_hot_queries() {
  return wrap("explain", [&] {
    Lease l(*pool_, setup_);
    const std::string prefix = backend_ == Backend::postgresql ? "EXPLAIN " : "EXPLAIN QUERY PLAN ";
    std::vector<QueryPlan> out;
    // Representative values: a partner, a month, a channel, an outbox position.
    std::string partner = "p00001", source = "zendesk", external_id = "1", channel = "ops", contract = "c", period = "2026-10",
                rule = "kpi:x", id = "";
    long long start = 1'790'000'000'000LL, end = start + 2'592'000'000LL;
    int version = 1;
    auto plan = [&](std::string name, std::string query, auto&&... uses) {
      std::vector<std::string> lines;
      std::string line;
      int a = 0, b = 0, c = 0;
      auto prep = (l.sql().prepare << prefix + query);
      (void)(prep, ..., uses);
      if (backend_ == Backend::postgresql) prep, soci::into(line);
      else prep, soci::into(a), soci::into(b), soci::into(c), soci::into(line);  // id, parent, unused, detail
      soci::statement st(prep);
      st.execute();
      while (st.fetch()) lines.push_back(line);
      out.push_back({std::move(name), std::move(query), std::move(lines)});
    };
    plan("item by key (upserts, lookups)", std::string("SELECT * FROM items ") + kItemByKeyWhere, soci::use(source, "source"),
         soci::use(external_id, "external_id"));
    plan("items of a partner-period (evaluation)", items_for_period_query(), soci::use(partner, "p"), soci::use(end, "e"),
         soci::use(start, "s"), soci::use(start, "s2"));
    plan("rule statuses of an evaluation (evaluation save)", kRuleStatusesOf, soci::use(contract, "c"), soci::use(version, "v"),
         soci::use(period, "p"));
    plan("rule status (notification damping)", kRuleStatus, soci::use(contract, "c"), soci::use(version, "v"),
         soci::use(period, "p"), soci::use(rule, "r"));
    plan("delivery sweep (notifications)", kDeliverySweep, soci::use(channel, "c"), soci::use(start, "a"),
         soci::use(start, "s"), soci::use(channel, "c2"));
    plan("due deliveries (notifications)", std::string("SELECT * FROM deliveries ") + kDueDeliveriesWhere + "100",
         soci::use(channel, "c"), soci::use(start, "a"));
    plan("outbox page (API)", std::string("SELECT * FROM outbox ") + kOutboxAfterWhere + "50", soci::use(start, "a"),
         soci::use(id, "i"));
    plan("evaluation queue (cluster)", std::string(kQueueColumns) + "WHERE shard IN (1, 2, 3) ORDER BY requested_at LIMIT 1000");
    return out;
  });
}

}  // namespace pactwatch::store
