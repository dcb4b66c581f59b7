// The database under the store's repositories: the connection pool, transactions and the SQL
// dialect (SQLite, the embedded default, or PostgreSQL). Repositories (partners.h, items.h, ...)
// each hold a Database and run their statements through it; a write that spans several tables
// shares one Transaction.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>


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
  // PostgreSQL: an upsert of at least this many items (a bulk import, a backfill) is loaded with
  // COPY into a staging table and stored with one INSERT ... SELECT (see docs/benchmarks.md);
  // 0 picks the default, 1,000.
  std::size_t copy_threshold = 0;
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

// Parses a database URL into a backend and a SOCI connect string (a libpq conninfo for
// PostgreSQL, the file path for SQLite). The password is added to the conninfo, quoted.
struct ConnectTarget {
  Backend backend;
  std::string connect_string;
};
[[nodiscard]] std::expected<ConnectTarget, std::string> parse_database_url(const std::string& url,
                                                                           const std::string& password);

[[nodiscard]] std::string_view to_string(Backend b);

// The connection pool and what every repository shares: the backend, the batch size for item
// upserts, and the last storage fault seen (write_fault).
class Database {
 public:
  // Connects (every pooled connection). Does not migrate.
  [[nodiscard]] static std::expected<std::unique_ptr<Database>, std::string> open(const StoreOptions& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  [[nodiscard]] Backend backend() const { return setup_.backend; }
  [[nodiscard]] const SessionSetup& setup() const { return setup_; }
  // Items per INSERT when upserting a page (StoreOptions::upsert_batch, resolved by backend).
  [[nodiscard]] std::size_t upsert_batch() const { return upsert_batch_; }
  // PostgreSQL: items from which an upsert goes through COPY (StoreOptions::copy_threshold).
  [[nodiscard]] std::size_t copy_threshold() const { return copy_threshold_; }
  [[nodiscard]] soci::connection_pool& pool() { return *pool_; }

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

  // Runs a database step; a driver error becomes a StoreError saying `what` failed, and a storage
  // fault among them is kept for write_fault(). Defined for the store's own translation units.
  template <typename F>
  auto wrap(const char* what, F&& f) -> decltype(f());
  // Keeps a storage fault seen in `message` for write_fault(); a commit clears it.
  void note_failure(const std::string& message);
  void note_commit();

 private:
  explicit Database(int pool_size);
  SessionSetup setup_;
  std::size_t upsert_batch_ = 250;
  std::size_t copy_threshold_ = 1000;
  std::unique_ptr<soci::connection_pool> pool_;
  std::string location_;  // SQLite: the database file
  mutable std::mutex fault_mutex_;
  std::optional<std::string> write_fault_;
};

// A unit of work on one pooled connection. Commits only when commit() is called; otherwise the
// destructor rolls back. Repositories take one to write to several tables atomically.
class Transaction {
 public:
  Transaction(Database& db, Durability durability);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  [[nodiscard]] soci::session& sql() { return *session_; }
  [[nodiscard]] Database& database() { return db_; }
  void commit();

 private:
  Database& db_;
  std::size_t slot_;
  soci::session* session_;
  Durability durability_;
  bool done_ = false;
};

}  // namespace pactwatch::store
