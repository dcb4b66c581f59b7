// The store: the repositories over one database, its migrations, and the hot queries' plans.
#include "pactwatch/store/store.h"

#include <soci/soci.h>

#include <algorithm>

#include "migrations.h"
#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

namespace {

constexpr long long kMigrationLockKey = 0x7061637477617463;  // "pactwatc"

const std::vector<MigrationFile>& migrations_for(Backend b) {
  return b == Backend::sqlite ? sqlite_migrations() : postgresql_migrations();
}

bool has_version_table(soci::session& sql, Backend b) {
  int n = 0;
  sql << dialect(b).has_version_table, soci::into(n);
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

Store::Store(std::unique_ptr<Database> db)
    : db_(std::move(db)), partners_(*db_), items_(*db_), sources_(*db_), evaluations_(*db_), queue_(*db_),
      statements_(*db_), outbox_(*db_), tokens_(*db_), audit_(*db_), leases_(*db_),
      agreements_(*db_),
      disputes_(*db_) {}

Store::~Store() = default;

std::expected<std::unique_ptr<Store>, std::string> Store::open(const StoreOptions& options) {
  auto db = Database::open(options);
  if (!db) return std::unexpected(db.error());
  return std::unique_ptr<Store>(new Store(std::move(*db)));
}

SchemaStatus Store::schema_status() {
  return db_->wrap("schema status", [&] {
    SchemaStatus st{db_->backend(), 0, 0, {}};
    Lease l(*db_);
    std::vector<Migration> applied;
    if (has_version_table(l.sql(), db_->backend())) applied = applied_migrations(l.sql());
    for (const auto& m : migrations_for(db_->backend())) {
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
  return db_->wrap("migration", [&] {
    Lease l(*db_);
    soci::session& sql = l.sql();
    if (dialect(db_->backend()).advisory_locks) {
      // Several instances may start at once: one migrates, the others wait and find nothing to do.
      sql << "SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")";
    }
    struct Unlock {
      soci::session& sql;
      Backend b;
      ~Unlock() {
        try {
          if (dialect(b).advisory_locks) sql << "SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")";
        } catch (...) {
        }
      }
    } unlock{sql, db_->backend()};

    sql << "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
           "applied_at TEXT NOT NULL)";
    const auto& files = migrations_for(db_->backend());
    int latest = files.empty() ? 0 : files.back().version;
    int applied_count = 0;
    for (const auto& m : files) {
      sql << dialect(db_->backend()).begin_write;
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

std::vector<QueryPlan> Store::explain_hot_queries() {
  return db_->wrap("explain", [&] {
    Lease l(*db_);
    const std::string prefix = dialect(db_->backend()).explain;
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
      if (db_->backend() == Backend::postgresql) prep, soci::into(line);
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
    plan("rule statuses of a batch of evaluations (evaluation save)", rule_statuses_of_batch_query(1, 1),
         soci::use(contract, "c0"), soci::use(period, "p0"));
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
