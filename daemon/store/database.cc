// The database under the repositories: URLs, connection set-up, the pool, transactions and
// storage faults.
#include "pactwatch/store/database.h"
#include "queries.h"
#include "store_internal.h"

#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace pactwatch::store {

namespace {

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

// --- the pool ------------------------------------------------------------------------------

Database::Database(int pool_size) : pool_(std::make_unique<soci::connection_pool>(static_cast<std::size_t>(pool_size))) {}

Database::~Database() = default;

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

// --- transactions --------------------------------------------------------------------------

Transaction::Transaction(Database& db, Durability durability)
    : db_(db), slot_(db.pool().lease()), session_(&db.pool().at(slot_)), durability_(durability) {
  try {
    db_.setup().revive(*session_);
    if (db_.backend() == Backend::sqlite && durability_ == Durability::full) *session_ << "PRAGMA synchronous = FULL";
    *session_ << dialect(db_.backend()).begin_write;
    // Whatever the server's default, money, period close and the outbox wait for the WAL flush.
    if (db_.backend() == Backend::postgresql && durability_ == Durability::full) *session_ << "SET LOCAL synchronous_commit = on";
  } catch (const std::exception& e) {
    db_.pool().give_back(slot_);
    std::string message = std::string("cannot begin a transaction: ") + e.what();
    db_.note_failure(message);
    throw StoreError(std::move(message));
  }
}

void Transaction::commit() {
  db_.wrap("commit", [&] { *session_ << "COMMIT"; });
  done_ = true;
  db_.note_commit();
}

Transaction::~Transaction() {
  try {
    if (!done_) *session_ << "ROLLBACK";
  } catch (...) {
    // The connection is broken; the database discards the transaction.
  }
  try {
    if (db_.backend() == Backend::sqlite && durability_ == Durability::full) {
      *session_ << "PRAGMA synchronous = NORMAL";
    }
  } catch (...) {
  }
  db_.pool().give_back(slot_);
}

// --- storage faults, opening, writability ---------------------------------------------------

void Database::note_failure(const std::string& message) {
  if (!storage_fault(message)) return;
  std::lock_guard lock(fault_mutex_);
  write_fault_ = message;
}

void Database::note_commit() {
  std::lock_guard lock(fault_mutex_);
  write_fault_.reset();
}

std::optional<std::string> Database::write_fault() const {
  std::lock_guard lock(fault_mutex_);
  return write_fault_;
}

std::expected<std::unique_ptr<Database>, std::string> Database::open(const StoreOptions& options) {
  auto target = parse_database_url(options.url, options.password);
  if (!target) return std::unexpected(target.error());
  if (options.pool_size < 1) return std::unexpected("pool size must be at least 1");
  std::unique_ptr<Database> db(new Database(options.pool_size));
  db->setup_.backend = target->backend;
  db->setup_.statement_timeout = options.statement_timeout;
  if (target->backend == Backend::sqlite) db->location_ = target->connect_string;
  db->upsert_batch_ = options.upsert_batch ? options.upsert_batch : target->backend == Backend::postgresql ? 250 : 1;
  if (options.copy_threshold) db->copy_threshold_ = options.copy_threshold;
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
      soci::session& s = db->pool_->at(static_cast<std::size_t>(i));
      if (target->backend == Backend::sqlite) s.open(soci::sqlite3, "db=" + target->connect_string);
      else s.open(soci::postgresql, target->connect_string);
      db->setup_.apply(s);
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
  return db;
}

void Database::check_writable() {
  try {
    Transaction tx(*this, Durability::normal);
    // A write that changes nothing still needs a write transaction: refused on a read-only
    // SQLite file or a PostgreSQL hot standby.
    tx.sql() << "UPDATE schema_version SET name = name WHERE version < 0";
    tx.commit();
  } catch (const std::exception& e) {
    std::string message = e.what();
    note_failure(message);
    if (backend() == Backend::sqlite && storage_fault(message)) throw StoreError(sqlite_write_hint(location_, message));
    throw StoreError("the store does not take writes: " + message);
  }
}

bool Database::ping() noexcept {
  try {
    Lease l(*this);
    int one = 0;
    l.sql() << "SELECT 1", soci::into(one);
    return one == 1;
  } catch (...) {
    return false;
  }
}

}  // namespace pactwatch::store
