#include "pactwatch/store/store.h"
#include "store_internal.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "migrations.h"
#include "pactwatch/core/digest.h"

#include <nlohmann/json.hpp>

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


}  // namespace


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
          // Version 9 chains the closed statements and audit entries written before it, in the
          // same transaction (SQL alone cannot compute SHA-256 on SQLite).
          if (m.version == 9) chain_existing_rows(sql);
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


std::vector<QueryPlan> Store::explain_hot_queries() {
  return wrap("explain", [&] {
    Lease l(*pool_, setup_);
    const std::string prefix = backend_ == Backend::postgresql ? "EXPLAIN " : "EXPLAIN QUERY PLAN ";
    std::vector<QueryPlan> out;
    // Representative values: a partner, a month, a channel, an outbox position.
    std::string partner = "p00001", source = "zendesk", kind = "tickets", external_id = "1", channel = "ops", contract = "c", period = "2026-10",
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
         soci::use(kind, "kind"), soci::use(external_id, "external_id"));
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
