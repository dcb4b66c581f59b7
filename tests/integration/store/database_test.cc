// The store conformance suite: opening, transactions, migrations and the hot queries' plans
// (Database, Store), on SQLite and PostgreSQL.
#include "migrations.h"
#include "store_conformance.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

TEST_P(StoreConformance, MigrationsApplyOnceAndReportStatus) {
  EXPECT_EQ(store_->backend(), GetParam());
  auto st = store_->schema_status();
  EXPECT_TRUE(st.up_to_date());
  EXPECT_GE(st.latest, 1);
  ASSERT_FALSE(st.migrations.empty());
  EXPECT_EQ(st.migrations[0].version, 1);
  EXPECT_EQ(st.migrations[0].name, "0001_initial");
  EXPECT_EQ(st.migrations[0].applied_at, "2026-05-28T20:26:40Z");
  ASSERT_GE(st.migrations.size(), 2u);
  EXPECT_EQ(st.migrations[1].name, "0002_evaluations");
  EXPECT_EQ(store_->migrate(t(5)), 0);
  auto again = reopen();
  EXPECT_EQ(again->migrate(t(6)), 0);
  EXPECT_TRUE(again->schema_status().up_to_date());
}

TEST_P(StoreConformance, FreshDatabaseReportsPendingMigrations) {
  testutils::TempDir other;
  std::string url = GetParam() == Backend::sqlite ? "sqlite://" + (other.path() / "fresh.db").string()
                                                  : testutils::shared_postgres().create_database("fresh_status");
  auto fresh = Store::open({url, "", 1});
  ASSERT_TRUE(fresh);
  auto st = (*fresh)->schema_status();
  EXPECT_EQ(st.current, 0);
  EXPECT_FALSE(st.up_to_date());
  EXPECT_FALSE(st.migrations[0].applied_at.has_value());
}

TEST_P(StoreConformance, RefusesASchemaNewerThanTheBinary) {
  {
    Transaction tx(store_->database(), Durability::normal);
    tx.sql() << "INSERT INTO schema_version (version, name, applied_at) VALUES (9999, 'from_the_future', 'x')";
    tx.commit();
  }
  try {
    store_->migrate(t(1));
    FAIL() << "migrate accepted a newer schema";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this pactwatch"), std::string::npos) << e.what();
  }
  EXPECT_EQ(store_->schema_status().current, 9999);
}

// A store created by an earlier pactwatch (schema version 7, items keyed by source and id) keeps
// every row and its meaning when migrated, and then keys items by kind too.
TEST_P(StoreConformance, ItemIdentityMigrationKeepsEveryRow) {
  testutils::TempDir other;
  const std::string url = GetParam() == Backend::sqlite ? "sqlite://" + (other.path() / "v7.db").string()
                                                        : testutils::shared_postgres().create_database("v7_identity");
  auto old = Store::open({url, "", 1});
  ASSERT_TRUE(old);
  const std::filesystem::path dir =
      std::filesystem::path(PACTWATCH_SCHEMA_DIR) / (GetParam() == Backend::sqlite ? "sqlite" : "postgresql");
  {
    Transaction tx((*old)->database(), Durability::normal);
    tx.sql() << "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";
    std::vector<std::filesystem::path> files;
    for (const auto& f : std::filesystem::directory_iterator(dir)) files.push_back(f.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const int version = std::stoi(f.filename().string().substr(0, 4));
      if (version > 7) continue;
      std::ifstream in(f);
      std::stringstream text;
      text << in.rdbuf();
      for (const auto& statement : split_sql(text.str())) tx.sql() << statement;
      tx.sql() << "INSERT INTO schema_version (version, name, applied_at) VALUES (" + std::to_string(version) + ", '" +
                      f.stem().string() + "', 'x')";
    }
    tx.sql() << "INSERT INTO items (source, external_id, kind, partner_id, status, priority, created_at, updated_at, "
                "payload) VALUES ('zendesk', '42', 'tickets', 'northwind', 'open', 'urgent', 1780000000000, 1780000060000, "
                "'{\"tags\":[\"vip\"],\"history\":[]}')";
    tx.commit();
  }
  ASSERT_EQ((*old)->schema_status().current, 7);
  EXPECT_GT((*old)->migrate(t(1)), 0);
  EXPECT_TRUE((*old)->schema_status().up_to_date());
  EXPECT_EQ(*(*old)->items().find("zendesk", "tickets", "42"), ticket("42", 1));
  Item rating = ticket("42", 2);
  rating.kind = "surveys";
  EXPECT_EQ((*old)->items().upsert(std::vector<Item>{rating}).written, 1);
  EXPECT_EQ((*old)->items().count(), 2);
  EXPECT_EQ(*(*old)->items().find("zendesk", "tickets", "42"), ticket("42", 1));
}

TEST_P(StoreConformance, UncommittedTransactionRollsBack) {
  {
    Transaction tx(store_->database(), Durability::normal);
    tx.sql() << "INSERT INTO source_cursors (source, cursor, updated_at) VALUES ('x', 'y', 0)";
  }
  EXPECT_FALSE(store_->sources().cursor("x"));
}

TEST_P(StoreConformance, FullDurabilityAppliesOnlyToItsTransaction) {
  if (GetParam() == Backend::sqlite) {
    int level = -1;
    {
      Transaction tx(store_->database(), Durability::full);
      tx.sql() << "PRAGMA synchronous", soci::into(level);
      tx.commit();
    }
    EXPECT_EQ(level, 2) << "FULL inside a money/outbox transaction";
    // Every pooled connection is back to NORMAL afterwards.
    for (int i = 0; i < 4; ++i) {
      Transaction tx(store_->database(), Durability::normal);
      tx.sql() << "PRAGMA synchronous", soci::into(level);
      EXPECT_EQ(level, 1);
    }
  } else {
    std::string mode;
    Transaction tx(store_->database(), Durability::full);
    tx.sql() << "SHOW synchronous_commit", soci::into(mode);
    EXPECT_EQ(mode, "on");
  }
}

TEST_P(StoreConformance, PingAnswers) { EXPECT_TRUE(store_->ping()); }

// Migration numbers may have gaps, and a lower number may come after a higher one was applied
// (branches merged): each is applied once, whatever the order, and the store is up to date only
// when every migration the binary knows is applied.
TEST_P(StoreConformance, MigrationsWithGapsAndLateLowerNumbersApplyOnce) {
  const auto st = store_->schema_status();
  ASSERT_TRUE(st.up_to_date());
  std::vector<int> versions;
  for (const auto& m : st.migrations) versions.push_back(m.version);
  EXPECT_TRUE(std::find(versions.begin(), versions.end(), 11) != versions.end()) << "0011_evaluation_intents";
  // Pretend the second-highest migration has not run, as if it arrived after the highest one.
  ASSERT_GE(versions.size(), 2u);
  const int highest = versions.back();
  const int lower = versions[versions.size() - 2];
  std::string name;
  {
    Transaction tx(store_->database(), Durability::normal);
    tx.sql() << "SELECT name FROM schema_version WHERE version = :v", soci::use(lower), soci::into(name);
    tx.sql() << "DELETE FROM schema_version WHERE version = :v", soci::use(lower);
    tx.commit();
  }
  auto pending = store_->schema_status();
  EXPECT_EQ(pending.current, highest);
  EXPECT_FALSE(pending.up_to_date()) << "a lower migration is pending although the highest is applied";
  // The runner applies what is missing, whatever its number. (The migration itself is not
  // idempotent: it is undone here only in its record, so applying it again must be refused by the
  // database, proving that the runner did try it.)
  EXPECT_THROW(store_->migrate(t(9)), StoreError);
  {
    Transaction tx(store_->database(), Durability::normal);
    std::string at = "2026-01-01T00:00:00Z";
    tx.sql() << "INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, :a)", soci::use(lower), soci::use(name),
        soci::use(at);
    tx.commit();
  }
  EXPECT_TRUE(store_->schema_status().up_to_date());
  EXPECT_EQ(store_->migrate(t(10)), 0);
}

// The hot queries use their indexes on a store with realistic proportions (docs/scaling.md): no
// full scan of items, outbox, deliveries, rule statuses or the evaluation queue.
TEST_P(StoreConformance, HotQueriesUseTheirIndexes) {
  std::vector<Item> items;
  for (int i = 0; i < 20000; ++i) {
    Item it = ticket(std::to_string(i), 1);
    char partner[16];
    std::snprintf(partner, sizeof partner, "p%05d", i % 200);
    it.partner_id = partner;
    it.created_at = t(i % 5000);
    items.push_back(it);
  }
  store_->items().upsert(items);
  std::vector<EvaluationRecord> records;
  for (int i = 0; i < 1000; ++i) {
    records.push_back({"c" + std::to_string(i), 1, "2026-10", "p00001", t(0), "d", "{}", {{"kpi:x", "breached"}, {"kpi:y", "met"}}});
  }
  store_->evaluations().save_all(records, t(1));
  auto due = store_->outbox().due("ops", t(2), t(0), 1000);
  ASSERT_EQ(due.size(), 1000u);
  for (std::size_t i = 0; i < due.size(); i += 1) {
    if (i % 100 == 0) continue;
    due[i].status = "delivered";
    store_->outbox().update_delivery(due[i]);
  }
  std::vector<QueuedEvaluation> queued;
  for (int i = 0; i < 2000; ++i) queued.push_back({"c" + std::to_string(i), 1, t(i), i % 64, "p00001", 0, t(0)});
  store_->queue().enqueue(queued, t(3));
  {
    Transaction tx(store_->database(), Durability::normal);
    tx.sql() << "ANALYZE";
    tx.commit();
  }
  const auto plans = store_->explain_hot_queries();
  ASSERT_EQ(plans.size(), 8u);
  for (const auto& q : plans) {
    std::string text;
    for (const auto& line : q.plan) text += line + "\n";
    ASSERT_FALSE(q.plan.empty()) << q.name;
    if (GetParam() == Backend::postgresql) {
      EXPECT_EQ(text.find("Seq Scan"), std::string::npos) << q.name << ":\n" << text;
    } else {
      for (const auto& line : q.plan) EXPECT_FALSE(line.starts_with("SCAN ")) << q.name << ":\n" << text;
    }
  }
}

// --- migrations with gaps in their numbering ---------------------------------------------------

// Applies the embedded migrations numbered `up_to` or below, as an earlier pactwatch did.
void migrate_up_to(Store& store, int up_to) {
  const auto& files = store.backend() == Backend::sqlite ? sqlite_migrations() : postgresql_migrations();
  Transaction tx(store.database(), Durability::normal);
  tx.sql() << "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";
  for (const auto& m : files) {
    if (m.version > up_to) continue;
    for (const auto& statement : split_sql(m.sql)) tx.sql() << statement;
    std::string name = m.name, at = "2026-01-01T00:00:00Z";
    int version = m.version;
    tx.sql() << "INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, :a)", soci::use(version), soci::use(name),
        soci::use(at);
  }
  tx.commit();
}

// Migration numbers may skip (0010 lands before 0008 and 0009 exist): a fresh store and a store at
// version 7 both end with every known migration applied and report it truly.
TEST_P(StoreConformance, MigrationsWithAGapInTheirNumbersApplyOnFreshAndOlderStores) {
  const auto& files = GetParam() == Backend::sqlite ? sqlite_migrations() : postgresql_migrations();
  int known_after_7 = 0;
  bool has_quarantine = false;
  for (const auto& m : files) {
    known_after_7 += m.version > 7 ? 1 : 0;
    has_quarantine |= m.version == 10 && std::string(m.name) == "0010_source_quarantine";
  }
  ASSERT_TRUE(has_quarantine);
  // Fresh (SetUp migrated it): every known migration applied, 0010 among them.
  auto fresh = store_->schema_status();
  EXPECT_TRUE(fresh.up_to_date());
  EXPECT_EQ(fresh.current, fresh.latest);
  EXPECT_EQ(fresh.migrations.size(), files.size());

  // A store migrated by a pactwatch that knew 1-7 only.
  testutils::TempDir other;
  const std::string url = GetParam() == Backend::sqlite ? "sqlite://" + (other.path() / "v7.db").string()
                                                        : testutils::shared_postgres().create_database("at_version_7");
  auto old = Store::open({url, "", 2});
  ASSERT_TRUE(old) << old.error();
  migrate_up_to(**old, 7);
  auto before = (*old)->schema_status();
  EXPECT_EQ(before.current, 7);
  EXPECT_FALSE(before.up_to_date());
  EXPECT_EQ((*old)->migrate(t(1)), known_after_7);
  auto after = (*old)->schema_status();
  EXPECT_TRUE(after.up_to_date());
  for (const auto& m : after.migrations) EXPECT_TRUE(m.applied_at) << m.name;
  EXPECT_EQ((*old)->migrate(t(2)), 0);
  // The quarantine works there.
  QuarantinedRecord q{"desk", "deals", "1", "why", "{}", {}, {}, 1};
  (*old)->sources().store_page({"desk", {}, std::span(&q, 1), std::string("c")}, t(3));
  EXPECT_EQ((*old)->sources().quarantined().size(), 1u);

  // A migration numbered below the highest applied one, still pending (it came with a later
  // release than the one that applied the higher number): reported as pending, then applied.
  {
    Transaction tx((*old)->database(), Durability::normal);
    tx.sql() << "DROP TABLE leases";
    tx.sql() << "DELETE FROM schema_version WHERE version = 6";
    tx.commit();
  }
  auto gap = (*old)->schema_status();
  EXPECT_EQ(gap.current, gap.latest);
  EXPECT_FALSE(gap.up_to_date()) << "version 6 is not applied";
  EXPECT_EQ((*old)->migrate(t(4)), 1);
  EXPECT_TRUE((*old)->schema_status().up_to_date());
  EXPECT_TRUE((*old)->leases().claim("source:desk", "a", t(5), std::chrono::milliseconds(1000)));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(to_string(param_info.param)); });

TEST(StoreOpen, ReportsUnreachableDatabases) {
  const int port = testutils::free_port();
  auto s = Store::open({"postgresql://nobody@127.0.0.1:" + std::to_string(port) + "/none?connect_timeout=2",
                        "topsecret", 1});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("cannot open the postgresql store"), std::string::npos) << s.error();
  EXPECT_EQ(s.error().find("topsecret"), std::string::npos) << "a password must never reach an error message";
  auto bad = Store::open({"sqlite:///proc/definitely/not/here.db", "", 1});
  EXPECT_FALSE(bad);
}

TEST(StorePostgres, TheSameStoreResumesAfterAServerRestart) {
  auto& pg = testutils::shared_postgres();
  const std::string url = pg.create_database("restart_probe");
  auto s = Store::open({url, "", 2, 0, std::chrono::seconds(5)});
  ASSERT_TRUE(s);
  Store& db = **s;
  db.migrate(t(0));
  Item a = ticket("a", 1);
  db.sources().store_page("desk", std::vector{a}, "c1", t(1));
  pg.stop();
  EXPECT_FALSE(db.ping());
  // A unit of work while the server is down fails whole, with a clear error, and stores nothing.
  Item b = ticket("b", 2);
  try {
    db.sources().store_page("desk", std::vector{b}, "c2", t(2));
    ADD_FAILURE() << "stored a page with the server down";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
  }
  pg.start();
  // Every pooled connection was cut; each reconnects the next time it is drawn.
  bool back = false;
  for (int i = 0; i < 5 && !back; ++i) back = db.ping();
  EXPECT_TRUE(back);
  db.sources().store_page("desk", std::vector{b}, "c2", t(2));
  EXPECT_EQ(db.sources().cursor("desk"), "c2");
  EXPECT_EQ(db.items().count(), 2);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(db.ping()) << "every connection of the pool works again";
}

TEST(StorePostgres, LongStatementsAreCancelledAtTheTimeout) {
  auto s = Store::open({testutils::shared_postgres().create_database("timeout_probe"), "", 1, 0, std::chrono::seconds(1)});
  ASSERT_TRUE(s);
  const auto started = std::chrono::steady_clock::now();
  try {
    Transaction tx((*s)->database(), Durability::normal);
    tx.sql() << "SELECT pg_sleep(5)";
    ADD_FAILURE() << "a 5 s statement ran past a 1 s timeout";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("statement timeout"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
  EXPECT_TRUE((*s)->ping()) << "the connection stays usable";
}

}  // namespace
}  // namespace pactwatch::store
