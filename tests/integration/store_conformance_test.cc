// One conformance suite for every store backend: the same test bodies run on SQLite and on a real
// PostgreSQL server started for this test process.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <atomic>
#include <random>
#include <thread>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "migrations.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::store {
namespace {

using namespace std::chrono;
using core::Instant;

Instant t(int minute) { return Instant(milliseconds(1'780'000'000'000LL)) + minutes(minute); }

Item ticket(const std::string& id, int updated_minute) {
  Item i;
  i.source = "zendesk";
  i.external_id = id;
  i.kind = "tickets";
  i.partner_id = "northwind";
  i.status = "open";
  i.priority = "urgent";
  i.created_at = t(0);
  i.updated_at = t(updated_minute);
  i.payload = R"({"tags":["vip"],"history":[]})";
  return i;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::sqlite) {
      url_ = "sqlite://" + (dir_.path() / "store.db").string();
    } else {
      static std::atomic<int> counter{0};
      url_ = testutils::shared_postgres().create_database("conformance_" + std::to_string(++counter));
    }
    store_ = reopen();
    ASSERT_GT(store_->migrate(t(0)), 0);
  }

  std::unique_ptr<Store> reopen() {
    auto s = Store::open({url_, "", 4});
    if (!s) throw std::runtime_error(s.error());
    return std::move(*s);
  }

  testutils::TempDir dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

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
    Transaction tx(*store_, Durability::normal);
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

TEST_P(StoreConformance, UpsertIsIdempotent) {
  std::vector<Item> page{ticket("1", 1), ticket("2", 1)};
  auto first = store_->upsert_items(page);
  EXPECT_EQ(first.written, 2);
  EXPECT_EQ(first.unchanged, 0);
  auto second = store_->upsert_items(page);
  EXPECT_EQ(second.written, 0);
  EXPECT_EQ(second.unchanged, 2);
  EXPECT_EQ(store_->count_items(), 2);
  EXPECT_EQ(store_->count_items("zendesk"), 2);
  EXPECT_EQ(store_->count_items("jira"), 0);
}

TEST_P(StoreConformance, NewerVersionsReplaceOlderOnesNever) {
  store_->upsert_items(std::vector<Item>{ticket("1", 10)});
  Item newer = ticket("1", 20);
  newer.status = "solved";
  newer.solved_at = t(20);
  EXPECT_EQ(store_->upsert_items(std::vector<Item>{newer}).written, 1);
  Item stale = ticket("1", 15);
  stale.status = "pending";
  auto counts = store_->upsert_items(std::vector<Item>{stale});
  EXPECT_EQ(counts.written, 0) << "an out-of-order page must not overwrite newer data";
  auto stored = store_->find_item("zendesk", "tickets", "1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, newer);
}

TEST_P(StoreConformance, ATicketAndARatingWithTheSameIdAreTwoItems) {
  Item rating = ticket("42", 1);
  rating.kind = "surveys";
  rating.status = "";
  rating.priority = "";
  rating.payload = R"({"score":"good","ticket_id":"42"})";
  EXPECT_EQ(store_->upsert_items(std::vector<Item>{ticket("42", 1), rating}).written, 2);
  EXPECT_EQ(store_->count_items(), 2);
  EXPECT_EQ(*store_->find_item("zendesk", "tickets", "42"), ticket("42", 1));
  EXPECT_EQ(*store_->find_item("zendesk", "surveys", "42"), rating);
  // A newer rating changes the rating only.
  rating.updated_at = t(5);
  rating.payload = R"({"score":"bad","ticket_id":"42"})";
  EXPECT_EQ(store_->upsert_items(std::vector<Item>{rating}).written, 1);
  EXPECT_EQ(*store_->find_item("zendesk", "tickets", "42"), ticket("42", 1));
  EXPECT_EQ(store_->find_item("zendesk", "surveys", "42")->payload, rating.payload);
  EXPECT_FALSE(store_->find_item("zendesk", "deals", "42"));
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
    Transaction tx(**old, Durability::normal);
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
  EXPECT_EQ(*(*old)->find_item("zendesk", "tickets", "42"), ticket("42", 1));
  Item rating = ticket("42", 2);
  rating.kind = "surveys";
  EXPECT_EQ((*old)->upsert_items(std::vector<Item>{rating}).written, 1);
  EXPECT_EQ((*old)->count_items(), 2);
  EXPECT_EQ(*(*old)->find_item("zendesk", "tickets", "42"), ticket("42", 1));
}

TEST_P(StoreConformance, RoundTripsEveryField) {
  Item deal;
  deal.source = "salesforce";
  deal.external_id = "006Dn000004ABCDIA4";
  deal.kind = "deals";
  deal.partner_id = std::nullopt;  // unattributed
  deal.status = "Closed Won";
  deal.updated_at = t(3);
  deal.amount_minor = std::numeric_limits<std::int64_t>::max();
  deal.currency = "EUR";
  deal.payload = R"({"name":"Café Ünïcode ✓","quote":"it's \"fine\""})";
  Item bare = ticket("bare", 1);
  bare.created_at.reset();
  bare.first_reply_at = t(2);
  bare.payload = "{}";
  store_->upsert_items(std::vector<Item>{deal, bare});
  EXPECT_EQ(*store_->find_item("salesforce", "deals", "006Dn000004ABCDIA4"), deal);
  EXPECT_EQ(*store_->find_item("zendesk", "tickets", "bare"), bare);
  EXPECT_FALSE(store_->find_item("zendesk", "tickets", "absent"));
  EXPECT_FALSE(store_->find_item("salesforce", "deals", "bare"));
}

// The batched lookup answers exactly what find_item answers, id by id: every field, absent ids,
// other kinds and sources with the same id, ids given twice, odd characters, and more ids than
// one statement takes (several statements).
TEST_P(StoreConformance, FindItemsAnswersAsFindItemDoes) {
  std::vector<Item> items;
  for (int k = 0; k < 1203; k += 2) {
    Item i = ticket("T" + std::to_string(k), k % 50);
    if (k % 3 == 0) i.partner_id.reset();
    if (k % 5 == 0) i.created_at.reset();
    if (k % 7 == 0) i.solved_at = t(k % 90);
    if (k % 11 == 0) i.amount_minor = -k;
    items.push_back(i);
  }
  Item odd = ticket("it's \"odd\" ✓ ,:i1", 3);
  items.push_back(odd);
  Item survey = ticket("T2", 4);
  survey.kind = "surveys";
  items.push_back(survey);
  Item other = ticket("T4", 5);
  other.source = "freshdesk";
  items.push_back(other);
  store_->upsert_items(items);

  std::vector<std::string> ids;
  for (int k = 1204; k >= 0; --k) ids.push_back("T" + std::to_string(k));  // the even ones stored
  ids.push_back(odd.external_id);
  ids.push_back("T10");  // twice
  ids.push_back("absent");
  ids.push_back("");
  const auto found = store_->find_items("zendesk", "tickets", ids);
  ASSERT_EQ(found.size(), ids.size());
  int present = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(found[i], store_->find_item("zendesk", "tickets", ids[i])) << ids[i];
    present += found[i] ? 1 : 0;
  }
  EXPECT_EQ(present, 602 + 1 + 1);
  EXPECT_EQ(*found[ids.size() - 4], odd);
  EXPECT_EQ(store_->find_items("zendesk", "surveys", std::vector<std::string>{"T2", "T4"}),
            (std::vector<std::optional<Item>>{survey, std::nullopt}));
  EXPECT_EQ(store_->find_items("freshdesk", "tickets", std::vector<std::string>{"T2", "T4"}),
            (std::vector<std::optional<Item>>{std::nullopt, other}));
  EXPECT_TRUE(store_->find_items("zendesk", "tickets", std::vector<std::string>{}).empty());
}

TEST_P(StoreConformance, PageAndCursorCommitTogether) {
  EXPECT_FALSE(store_->cursor("zendesk"));
  auto counts = store_->store_page("zendesk", std::vector<Item>{ticket("1", 1), ticket("2", 1)}, "cursor-1", t(1));
  EXPECT_EQ(counts.written, 2);
  EXPECT_EQ(store_->cursor("zendesk"), "cursor-1");

  // A page with a record the database rejects stores nothing and leaves the cursor where it was.
  Item broken = ticket("3", 2);
  broken.kind = "not-a-kind";
  EXPECT_THROW(store_->store_page("zendesk", std::vector<Item>{ticket("4", 2), broken}, "cursor-2", t(2)), StoreError);
  EXPECT_EQ(store_->cursor("zendesk"), "cursor-1");
  EXPECT_FALSE(store_->find_item("zendesk", "tickets", "4"));
  EXPECT_EQ(store_->count_items(), 2);

  store_->set_cursor("zendesk", "cursor-3", t(3));
  EXPECT_EQ(store_->cursor("zendesk"), "cursor-3");
  EXPECT_FALSE(store_->cursor("jira"));
}

TEST_P(StoreConformance, PartnersSyncKeepsRemovedOnesInactive) {
  store_->sync_partners(std::vector<Partner>{{"northwind", "Northwind", "outsourcer", "gold", true},
                                             {"contoso", "Contoso", "reseller", "", true}},
                        t(1));
  auto ps = store_->partners();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].id, "contoso");
  EXPECT_TRUE(ps[0].active);
  store_->sync_partners(std::vector<Partner>{{"northwind", "Northwind Ltd", "outsourcer", "platinum", true}}, t(2));
  ps = store_->partners();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_FALSE(ps[0].active);
  EXPECT_TRUE(ps[1].active);
  EXPECT_EQ(ps[1].name, "Northwind Ltd");
  EXPECT_EQ(ps[1].tier, "platinum");
}

TEST_P(StoreConformance, UncommittedTransactionRollsBack) {
  {
    Transaction tx(*store_, Durability::normal);
    tx.sql() << "INSERT INTO source_cursors (source, cursor, updated_at) VALUES ('x', 'y', 0)";
  }
  EXPECT_FALSE(store_->cursor("x"));
}

TEST_P(StoreConformance, FullDurabilityAppliesOnlyToItsTransaction) {
  if (GetParam() == Backend::sqlite) {
    int level = -1;
    {
      Transaction tx(*store_, Durability::full);
      tx.sql() << "PRAGMA synchronous", soci::into(level);
      tx.commit();
    }
    EXPECT_EQ(level, 2) << "FULL inside a money/outbox transaction";
    // Every pooled connection is back to NORMAL afterwards.
    for (int i = 0; i < 4; ++i) {
      Transaction tx(*store_, Durability::normal);
      tx.sql() << "PRAGMA synchronous", soci::into(level);
      EXPECT_EQ(level, 1);
    }
  } else {
    std::string mode;
    Transaction tx(*store_, Durability::full);
    tx.sql() << "SHOW synchronous_commit", soci::into(mode);
    EXPECT_EQ(mode, "on");
  }
}

TEST_P(StoreConformance, ConcurrentWritersDoNotLoseRecords) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          store_->upsert_items(std::vector<Item>{ticket(std::to_string(w) + "-" + std::to_string(i), 1)});
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->count_items(), kThreads * kPerThread);
}

TEST_P(StoreConformance, PingAnswers) { EXPECT_TRUE(store_->ping()); }

TEST_P(StoreConformance, ItemsOfAPartnerRoundTripInOrder) {
  Item other = ticket("9", 1);
  other.partner_id = "contoso";
  Item unattributed = ticket("8", 1);
  unattributed.partner_id.reset();
  Item deal;
  deal.source = "hubspot";
  deal.external_id = "1";
  deal.kind = "deals";
  deal.partner_id = "northwind";
  deal.updated_at = t(2);
  deal.amount_minor = -12345;
  deal.currency = "JPY";
  store_->upsert_items(std::vector<Item>{ticket("2", 1), other, deal, ticket("1", 1), unattributed});
  auto mine = store_->items_of_partner("northwind");
  ASSERT_EQ(mine.size(), 3u);
  EXPECT_EQ(mine[0], deal);  // hubspot sorts before zendesk
  EXPECT_EQ(mine[1], ticket("1", 1));
  EXPECT_EQ(mine[2], ticket("2", 1));
  EXPECT_TRUE(store_->items_of_partner("nobody").empty());
}

TEST_P(StoreConformance, ItemsForAPeriodAreThoseThatCanCountInIt) {
  auto make = [](const std::string& id, const std::string& kind, int created, std::optional<int> solved) {
    Item i = ticket(id, created);
    i.kind = kind;
    i.created_at = t(created);
    i.solved_at = solved ? std::optional<core::Instant>(t(*solved)) : std::nullopt;
    return i;
  };
  // Period [t(100), t(200)).
  store_->upsert_items(std::vector<Item>{
      make("created-inside", "tickets", 150, 300), make("solved-inside", "tickets", 50, 150),
      make("open-from-before", "tickets", 50, std::nullopt), make("done-before", "tickets", 10, 90),
      make("created-after", "tickets", 250, std::nullopt), make("survey-inside", "surveys", 120, std::nullopt),
      make("survey-before", "surveys", 20, std::nullopt), make("deal-any-time", "deals", 10, std::nullopt)});
  std::vector<std::string> ids;
  for (const auto& i : store_->items_for_period("northwind", t(100), t(200))) ids.push_back(i.external_id);
  // In (source, kind, id) order.
  EXPECT_EQ(ids, (std::vector<std::string>{"deal-any-time", "survey-inside", "created-inside", "open-from-before",
                                           "solved-inside"}));
}

TEST_P(StoreConformance, EvaluationsKeepTheLatestAndRecordStatusChanges) {
  EvaluationRecord r{"support", 3, "2026-10", "northwind", t(0), "digest-1", R"({"a":1})",
                     {{"kpi:p1", "met"}, {"standard:reopen", "met"}}};
  auto first = store_->save_evaluation(r, t(1));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_FALSE(first[0].from);
  EXPECT_EQ(first[0].to, "met");
  // The same statuses again: nothing changes.
  EXPECT_TRUE(store_->save_evaluation(r, t(2)).empty());
  r.document = R"({"a":2})";
  r.statuses[0].status = "breached";
  auto second = store_->save_evaluation(r, t(3));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].rule, "kpi:p1");
  EXPECT_EQ(second[0].from, "met");
  EXPECT_EQ(second[0].to, "breached");
  EXPECT_EQ(store_->evaluation_document("support", 3, "2026-10"), R"({"a":2})");
  EXPECT_FALSE(store_->evaluation_document("support", 3, "2026-11"));
  auto history = store_->status_changes();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2], second[0]);
  EXPECT_EQ(store_->status_changes("support").size(), 3u);
  EXPECT_TRUE(store_->status_changes("other").empty());
}

TEST_P(StoreConformance, ClosedStatementsAreWrittenOnceAndNeverChanged) {
  StatementRecord a{"support", 3, "2026-10", "northwind", t(10), "EUR", 150000, 149999, 0, "sha", "digest", "1",
                    t(20), t(21), "finance@brand.example", R"({"total":"1499.99"})"};
  StatementRecord b = a;
  b.period = "2026-11";
  b.period_start = t(30);
  b.total_minor = -500;  // a partner can owe money
  StatementRecord jpy = a;
  jpy.contract = "tokyo";
  jpy.currency = "JPY";
  jpy.total_minor = 1234567;
  store_->close_statements(std::vector<StatementRecord>{b, a, jpy});
  auto back = store_->closed_statement("support", 3, "2026-10");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->total_minor, 149999);
  EXPECT_EQ(back->own_minor, 150000);
  EXPECT_EQ(back->closed_by, "finance@brand.example");
  EXPECT_EQ(back->as_of, t(20));
  EXPECT_EQ(back->document, R"({"total":"1499.99"})");
  EXPECT_EQ(store_->closed_statement("tokyo", 3, "2026-10")->total_minor, 1234567);
  EXPECT_FALSE(store_->closed_statement("support", 3, "2026-12"));
  // In period order, whatever the order they were closed in.
  auto all = store_->closed_statements("support");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].period, "2026-10");
  EXPECT_EQ(all[1].total_minor, -500);

  // Closing again is refused, and a batch with one closed statement stores none of the others.
  StatementRecord c = a;
  c.period = "2026-12";
  c.period_start = t(40);
  EXPECT_THROW(store_->close_statements(std::vector<StatementRecord>{c, a}), AlreadyClosed);
  EXPECT_FALSE(store_->closed_statement("support", 3, "2026-12"));
  // The database itself refuses to change or delete a closed statement.
  Transaction tx(*store_, Durability::normal);
  EXPECT_ANY_THROW(tx.sql() << "UPDATE statements SET total_minor = 0");
}

// Pages of random versions of 300 records (duplicates within a page, older versions, identical
// ones) stored with one INSERT per item and with batched INSERTs end in the same rows, and the
// batched counts add up: every item of a page is either written or unchanged.
TEST_P(StoreConformance, BatchedUpsertsEndWhereOneByOneDoes) {
  auto one = Store::open({url_, "", 2, 1});
  ASSERT_TRUE(one);
  std::string url2 = url_;
  if (GetParam() == Backend::sqlite) {
    url2 = "sqlite://" + (dir_.path() / "batched.db").string();
  } else {
    static std::atomic<int> counter{0};
    url2 = testutils::shared_postgres().create_database("batched_" + std::to_string(++counter));
  }
  auto batched = Store::open({url2, "", 2, 7});  // small batches: pages span several INSERTs
  ASSERT_TRUE(batched);
  (*batched)->migrate(t(0));
  std::mt19937 rng(42);
  std::int64_t written_one = 0, written_batched = 0;
  for (int page = 0; page < 40; ++page) {
    std::vector<Item> items;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int k = 0; k < n; ++k) {
      Item i = ticket("T" + std::to_string(rng() % 300), static_cast<int>(rng() % 50));
      i.status = (rng() % 3) ? "open" : "solved";
      items.push_back(i);
    }
    const auto a = (*one)->store_page("src", items, "c" + std::to_string(page), t(1));
    const auto b = (*batched)->store_page("src", items, "c" + std::to_string(page), t(1));
    EXPECT_EQ(b.written + b.unchanged, n);
    EXPECT_EQ(a.written + a.unchanged, n);
    written_one += a.written;
    written_batched += b.written;
  }
  EXPECT_LE(written_batched, written_one) << "a duplicate within a page is written once";
  EXPECT_GT(written_batched, 300);
  int seen = 0;
  for (int k = 0; k < 300; ++k) {
    const auto id = "T" + std::to_string(k);
    const auto x = (*one)->find_item("zendesk", "tickets", id);
    EXPECT_EQ(x, (*batched)->find_item("zendesk", "tickets", id)) << id;
    seen += x ? 1 : 0;
  }
  EXPECT_GT(seen, 250);
  EXPECT_EQ((*batched)->cursor("src"), "c39");
}

TEST_P(StoreConformance, LeasesAreHeldByOneHolderUntilTheyExpire) {
  const auto ttl = std::chrono::milliseconds(60'000);
  // a takes the lease; b cannot while it runs; a renews it (same fence).
  EXPECT_EQ(store_->claim_lease("source:zendesk", "a", t(0), ttl), 1);
  EXPECT_FALSE(store_->claim_lease("source:zendesk", "b", t(0), ttl));
  EXPECT_EQ(store_->claim_lease("source:zendesk", "a", t(0) + std::chrono::seconds(30), ttl), 1);
  EXPECT_FALSE(store_->claim_lease("source:zendesk", "b", t(1) + std::chrono::seconds(29), ttl)) << "renewed until t(1)+30s";
  // a stops renewing: b takes over once it expired, with a new fence; a cannot renew any more.
  EXPECT_EQ(store_->claim_lease("source:zendesk", "b", t(2), ttl), 2);
  EXPECT_FALSE(store_->claim_lease("source:zendesk", "a", t(2), ttl));
  // Released by its holder only; then anyone may take it at once.
  EXPECT_FALSE(store_->release_lease("source:zendesk", "a"));
  EXPECT_TRUE(store_->release_lease("source:zendesk", "b"));
  EXPECT_EQ(store_->claim_lease("source:zendesk", "c", t(2), ttl), 3);
  EXPECT_EQ(store_->claim_lease("partner:northwind", "a", t(2), ttl), 1) << "leases are independent";
  const auto all = store_->leases();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].name, "source:zendesk");
  EXPECT_EQ(all[1].holder, "c");
  EXPECT_EQ(all[1].expires_at, t(3));
}

// A page is stored only while the writer's lease is its own: after a takeover, the former
// holder's page and cursor are refused, and nothing of them is stored.
TEST_P(StoreConformance, PagesAreStoredOnlyUnderTheWritersLease) {
  const auto ttl = std::chrono::milliseconds(60'000);
  const auto fence = store_->claim_lease("source:desk", "a", t(0), ttl);
  ASSERT_TRUE(fence);
  const LeaseGuard mine{"source:desk", "a", *fence};
  std::vector<Item> page{ticket("A1", 1)};
  EXPECT_EQ(store_->store_page("desk", page, "c1", t(1), &mine).written, 1);
  ASSERT_EQ(store_->claim_lease("source:desk", "b", t(2), ttl), 2);  // a's lease ran out; b took it
  std::vector<Item> late{ticket("A2", 2)};
  EXPECT_THROW(store_->store_page("desk", late, "c2", t(3), &mine), LeaseLost);
  EXPECT_FALSE(store_->find_item("zendesk", "tickets", "A2"));
  EXPECT_EQ(store_->cursor("desk"), "c1");
  const LeaseGuard theirs{"source:desk", "b", 2};
  EXPECT_EQ(store_->store_page("desk", late, "c2", t(3), &theirs).written, 1);
  const LeaseGuard never{"source:other", "a", 1};
  EXPECT_THROW(store_->store_page("other", late, "x", t(3), &never), LeaseLost);
}

// What a page touched is recorded in the page's own transaction: when the page is not stored, no
// intent is; worked off, an intent goes, unless it was touched again meanwhile.
TEST_P(StoreConformance, EvaluationIntentsAreRecordedWithTheirPageAndWorkedOffOnce) {
  Item a = ticket("I1", 1);
  a.created_at = t(7);  // floored to its quarter hour
  a.solved_at = t(20);
  Item moved = ticket("I2", 1);
  moved.partner_id = "contoso";
  const std::vector<Item> changed{a, moved};
  const std::vector<Item> previous{ticket("I2", 0)};  // I2 was northwind's, at t(0)
  const auto intents = evaluation_intents_of(changed, previous);
  auto quarter = [](Instant x) { return Instant(milliseconds(core::to_unix_ms(x) / 900'000 * 900'000)); };
  // I1's creation and solve for northwind, the old I2's creation for northwind too (its partner
  // then), the new I2's for contoso; each at its quarter hour, without repeats.
  const std::vector<std::pair<std::string, Instant>> expected{
      {"contoso", quarter(t(0))}, {"northwind", quarter(t(0))}, {"northwind", quarter(t(7))}, {"northwind", quarter(t(20))}};
  ASSERT_EQ(intents.size(), expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(intents[k].partner, expected[k].first);
    EXPECT_EQ(intents[k].at, expected[k].second);
  }
  PageWrite write;
  write.intents = intents;
  // A page the database refuses records nothing.
  Item broken = ticket("I3", 2);
  broken.kind = "not-a-kind";
  EXPECT_THROW(store_->store_page("zendesk", std::vector<Item>{a, broken}, "c0", t(1), write), StoreError);
  EXPECT_TRUE(store_->evaluation_intents().empty());
  store_->store_page("zendesk", changed, "c1", t(1), write);
  auto recorded = store_->evaluation_intents();
  ASSERT_EQ(recorded.size(), intents.size());
  for (const auto& i : recorded) EXPECT_EQ(i.generation, 1);
  // A second page touches the first intent again before it is worked off: that one stays.
  const std::vector<EvaluationIntent> again{intents[0]};
  PageWrite second;
  second.intents = again;
  store_->store_page("zendesk", std::vector<Item>{}, "c2", t(2), second);
  const QueuedEvaluation request{"c", 1, t(0), 3, "northwind", 0, t(3)};
  store_->queue_intents(std::vector<QueuedEvaluation>{request}, recorded, t(3));
  const auto left = store_->evaluation_intents();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].partner, intents[0].partner);
  EXPECT_EQ(left[0].generation, 2);
  const auto queued = store_->queued_evaluations(std::vector<int>{3});
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].contract, "c");
  store_->queue_intents({}, left, t(4));
  EXPECT_TRUE(store_->evaluation_intents().empty());
}

// A long write abandoned on a stop stores nothing: neither its rows nor its cursor nor its intents.
TEST_P(StoreConformance, AnAbandonedPageStoresNothing) {
  std::vector<Item> page;
  for (int i = 0; i < 2000; ++i) page.push_back(ticket("X" + std::to_string(i), 1));
  std::atomic<bool> stop{true};
  const auto intents = evaluation_intents_of(page, {});
  PageWrite write;
  write.abort = &stop;
  write.intents = intents;
  EXPECT_THROW(store_->store_page("drop", page, "big.ndjson", t(1), write), WriteAbandoned);
  EXPECT_EQ(store_->count_items(), 0);
  EXPECT_FALSE(store_->cursor("drop"));
  EXPECT_TRUE(store_->evaluation_intents().empty());
  stop = false;
  EXPECT_EQ(store_->store_page("drop", page, "big.ndjson", t(1), write).written, 2000);
  EXPECT_EQ(store_->evaluation_intents().size(), 1u);
}

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
    Transaction tx(*store_, Durability::normal);
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
    Transaction tx(*store_, Durability::normal);
    std::string at = "2026-01-01T00:00:00Z";
    tx.sql() << "INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, :a)", soci::use(lower), soci::use(name),
        soci::use(at);
    tx.commit();
  }
  EXPECT_TRUE(store_->schema_status().up_to_date());
  EXPECT_EQ(store_->migrate(t(10)), 0);
}

// Many claimers at once, each on its own connection: exactly one holds the lease.
TEST_P(StoreConformance, ConcurrentClaimsLeaveOneHolder) {
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto s = reopen();
      for (int k = 0; k < 25; ++k) {
        if (s->claim_lease("lease:" + std::to_string(k), "h" + std::to_string(i), t(0), std::chrono::milliseconds(60'000))) ++winners;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(winners.load(), 25);
  for (const auto& l : store_->leases()) EXPECT_EQ(l.fence, 1);
}

TEST_P(StoreConformance, TokensAreStoredByHashLimitedPerPartnerAndRevocable) {
  ApiToken admin{"tok_00000001", std::string(64, 'a'), "ops", "admin", std::nullopt, t(1), std::nullopt, std::nullopt};
  ApiToken p1{"tok_00000002", std::string(64, 'b'), "nw", "partner", std::string("northwind"), t(1), t(100), std::nullopt};
  ApiToken p2 = p1;
  p2.id = "tok_00000003";
  p2.sha256 = std::string(64, 'c');
  store_->create_token(admin, 2, t(1));
  store_->create_token(p1, 2, t(1));
  store_->create_token(p2, 2, t(1));
  auto back = store_->token_by_hash(std::string(64, 'b'));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "tok_00000002");
  EXPECT_EQ(back->partner, "northwind");
  EXPECT_EQ(back->expires_at, t(100));
  EXPECT_FALSE(back->revoked_at);
  EXPECT_FALSE(store_->token_by_hash(std::string(64, 'd')));
  EXPECT_FALSE(store_->token_by_hash(admin.sha256)->partner);
  // A third live token for the partner is refused, and nothing is stored.
  ApiToken p3 = p1;
  p3.id = "tok_00000004";
  p3.sha256 = std::string(64, 'e');
  EXPECT_THROW(store_->create_token(p3, 2, t(2)), TokenLimit);
  EXPECT_FALSE(store_->token_by_hash(p3.sha256));
  // Once one has expired (p1, p2 expire at t(100)) or is revoked, there is room again.
  EXPECT_TRUE(store_->revoke_token("tok_00000002", t(3)));
  EXPECT_FALSE(store_->revoke_token("tok_00000002", t(4))) << "revoked once";
  EXPECT_FALSE(store_->revoke_token("tok_nope", t(4)));
  EXPECT_EQ(store_->token_by_hash(p1.sha256)->revoked_at, t(3));
  EXPECT_NO_THROW(store_->create_token(p3, 2, t(5)));
  ApiToken p4 = p1;
  p4.id = "tok_00000005";
  p4.sha256 = std::string(64, 'f');
  EXPECT_NO_THROW(store_->create_token(p4, 2, t(101))) << "p2 and p3 have expired by t(101)";
  EXPECT_EQ(store_->tokens().size(), 5u);
  // A token hash is unique.
  ApiToken dup = admin;
  dup.id = "tok_00000006";
  EXPECT_THROW(store_->create_token(dup, 2, t(6)), StoreError);
}

TEST_P(StoreConformance, TheAuditLogIsAppendOnly) {
  store_->append_audit({0, t(1), "tok_1 finance", "finance", "POST /v1/periods/{period}/close", "/v1/periods/2026-10/close", "200"});
  store_->append_audit({0, t(2), "cli root", "admin", "token.revoke", "tok_1", "ok"});
  auto log = store_->audit_log(10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].action, "token.revoke") << "newest first";
  EXPECT_GT(log[0].seq, log[1].seq);
  EXPECT_EQ(log[1].at, t(1));
  EXPECT_EQ(store_->audit_log(1).size(), 1u);
  Transaction tx(*store_, Durability::normal);
  EXPECT_ANY_THROW(tx.sql() << "DELETE FROM audit_log");
}

// --- the ledger's immutability and hash chains (schema version 9) ---------------------------

StatementRecord closed_record(const std::string& contract, const std::string& period, int minute) {
  return {contract, 3, period, "northwind", t(minute), "EUR", 150000, 149999, 0, "sha", "digest", "2",
          t(minute + 1), t(minute + 2), "finance@brand.example", R"({"total":"1499.99","period":")" + period + R"("})"};
}

// The columns of a statements row, and a SELECT copying the closed row of `support` with some
// values replaced (column -> SQL expression).
const std::vector<std::string> kStatementColumns{
    "contract", "version", "period", "partner", "period_start", "currency", "own_minor", "total_minor", "carry_out_minor",
    "contract_sha256", "input_digest", "engine_version", "as_of", "closed_at", "closed_by", "document", "contract_canonical",
    "approvals", "chain_seq", "document_sha256", "previous_sha256", "chain_sha256"};

std::string copy_of_closed(const std::map<std::string, std::string>& replaced) {
  std::string cols, select;
  for (const auto& c : kStatementColumns) {
    cols += (cols.empty() ? "" : ", ") + c;
    select += (select.empty() ? "" : ", ") + (replaced.count(c) ? replaced.at(c) : c);
  }
  return "(" + cols + ") SELECT " + select + " FROM statements WHERE contract = 'support'";
}

const char* kAuditColumns = "(seq, at, actor, role, action, target, outcome, previous_sha256, sha256)";
const char* kAuditCopy = " SELECT seq, at, 'mallory', role, action, target, outcome, previous_sha256, sha256 FROM audit_log WHERE seq = 1";

int postgres_version(Store& store) {
  Transaction tx(store, Durability::normal);
  std::string v;
  tx.sql() << "SHOW server_version_num", soci::into(v);
  return std::stoi(v);
}

// Every SQL write form against a closed statement and an audit entry is refused by the database
// itself, whoever sends it: REPLACE and INSERT OR REPLACE (which delete without firing a DELETE
// trigger), upserts, UPDATE (OR REPLACE), DELETE, TRUNCATE, MERGE, a second row at the same place
// of a chain, a row without its chain.
TEST_P(StoreConformance, EveryWriteFormAgainstClosedRowsIsRefused) {
  store_->close_statements(std::vector<StatementRecord>{closed_record("support", "2026-10", 10)});
  store_->append_audit({0, t(1), "tok_1 finance", "finance", "POST /v1/periods/{period}/close", "/v1/periods/2026-10/close", "200"});
  store_->append_audit({0, t(2), "cli root", "admin", "token.revoke", "tok_1", "ok"});
  const auto statement_before = *store_->closed_statement("support", 3, "2026-10");
  const auto audit_before = store_->audit_log(10);
  const std::string total_1 = copy_of_closed({{"total_minor", "1"}});
  const std::string forked = copy_of_closed({{"period", "'2099-01'"}, {"total_minor", "1"}});
  const std::string unchained = copy_of_closed({{"period", "'2099-02'"}, {"chain_seq", "2"}, {"chain_sha256", "NULL"}});
  std::vector<std::string> forms{
      "UPDATE statements SET total_minor = 1",
      "UPDATE statements SET document = '{}', document_sha256 = 'x'",
      "DELETE FROM statements",
      "DELETE FROM statements WHERE contract = 'support'",
      "INSERT INTO statements " + total_1 + " ON CONFLICT (contract, version, period) DO UPDATE SET total_minor = excluded.total_minor",
      "INSERT INTO statements " + forked,
      "INSERT INTO statements " + unchained,
      "UPDATE audit_log SET actor = 'mallory'",
      "DELETE FROM audit_log",
      "DELETE FROM audit_log WHERE seq = 1",
      std::string("INSERT INTO audit_log ") + kAuditColumns + kAuditCopy + " ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor",
      "INSERT INTO audit_log (seq, at, actor, role, action, target, outcome) VALUES (3, 0, 'mallory', 'admin', 'x', 'y', 'z')",
  };
  if (GetParam() == Backend::sqlite) {
    for (const std::string verb : {"REPLACE INTO", "INSERT OR REPLACE INTO", "INSERT OR IGNORE INTO", "INSERT OR ROLLBACK INTO"}) {
      forms.push_back(verb + " statements " + total_1);
      forms.push_back(verb + " statements " + forked);
      forms.push_back(verb + std::string(" audit_log ") + kAuditColumns + kAuditCopy);
    }
    forms.push_back("UPDATE OR REPLACE statements SET total_minor = 1");
    forms.push_back("UPDATE OR IGNORE statements SET total_minor = 1");
    forms.push_back("UPDATE OR REPLACE audit_log SET actor = 'mallory'");
  } else {
    forms.push_back("TRUNCATE statements");
    forms.push_back("TRUNCATE audit_log");
    forms.push_back("TRUNCATE statements, audit_log CASCADE");
    if (postgres_version(*store_) >= 150000) {
      forms.push_back("MERGE INTO statements s USING (SELECT 'support' AS c) x ON s.contract = x.c WHEN MATCHED THEN UPDATE SET total_minor = 1");
      forms.push_back("MERGE INTO statements s USING (SELECT 'support' AS c) x ON s.contract = x.c WHEN MATCHED THEN DELETE");
      forms.push_back("MERGE INTO audit_log a USING (SELECT 1 AS s) x ON a.seq = x.s WHEN MATCHED THEN DELETE");
    }
  }
  for (const auto& form : forms) {
    bool refused = false;
    try {
      Transaction tx(*store_, Durability::normal);
      tx.sql() << form;
      tx.commit();
    } catch (const std::exception&) {
      refused = true;
    }
    EXPECT_TRUE(refused) << form;
    const auto after = store_->closed_statement("support", 3, "2026-10");
    ASSERT_TRUE(after) << form;
    EXPECT_EQ(after->total_minor, statement_before.total_minor) << form;
    EXPECT_EQ(after->document, statement_before.document) << form;
    EXPECT_EQ(after->chain_sha256, statement_before.chain_sha256) << form;
    EXPECT_EQ(store_->all_closed_statements().size(), 1u) << form;
    const auto audit_after = store_->audit_log(10);
    ASSERT_EQ(audit_after.size(), audit_before.size()) << form;
    for (std::size_t i = 0; i < audit_after.size(); ++i) {
      EXPECT_EQ(audit_after[i].actor, audit_before[i].actor) << form;
      EXPECT_EQ(audit_after[i].sha256, audit_before[i].sha256) << form;
    }
  }
  // The store's own writes still append.
  store_->close_statements(std::vector<StatementRecord>{closed_record("support", "2026-11", 20)});
  EXPECT_EQ(store_->closed_statement("support", 3, "2026-11")->chain_seq, 2);
}

// Each closed statement records its document's SHA-256 and the chain hash of its contract's
// previous one; each audit entry chains to the one before. The hash is over the documented
// canonical text (keys sorted, no spaces, every value a string), computed here independently.
TEST_P(StoreConformance, ClosesAndAuditEntriesAreChained) {
  store_->close_statements(std::vector<StatementRecord>{closed_record("support", "2026-10", 10), closed_record("tokyo", "2026-10", 10)});
  auto nov = closed_record("support", "2026-11", 20);
  nov.approvals = R"([{"party":"brand"}])";
  nov.contract_canonical = R"({"contract":"support"})";
  store_->close_statements(std::vector<StatementRecord>{nov});
  const auto oct = *store_->closed_statement("support", 3, "2026-10");
  const auto back = *store_->closed_statement("support", 3, "2026-11");
  EXPECT_EQ(oct.chain_seq, 1);
  EXPECT_EQ(oct.previous_sha256, std::string(kGenesisSha256));
  EXPECT_EQ(oct.document_sha256, core::sha256_hex(oct.document));
  EXPECT_EQ(store_->closed_statement("tokyo", 3, "2026-10")->chain_seq, 1) << "one chain per contract";
  EXPECT_EQ(back.chain_seq, 2);
  EXPECT_EQ(back.previous_sha256, oct.chain_sha256);
  EXPECT_EQ(back.approvals, nov.approvals);
  EXPECT_EQ(back.contract_canonical, nov.contract_canonical);
  const nlohmann::json preimage{{"approvals_sha256", core::sha256_hex(nov.approvals)},
                                {"closed_at", "2026-05-28T20:48:40Z"},
                                {"closed_by", "finance@brand.example"},
                                {"contract", "support"},
                                {"contract_canonical_sha256", core::sha256_hex(nov.contract_canonical)},
                                {"document_sha256", core::sha256_hex(nov.document)},
                                {"period", "2026-11"},
                                {"previous_sha256", oct.chain_sha256},
                                {"seq", "2"},
                                {"version", "3"}};
  EXPECT_EQ(core::format_rfc3339(back.closed_at), "2026-05-28T20:48:40Z");
  EXPECT_EQ(back.chain_sha256, core::sha256_hex(preimage.dump()));
  EXPECT_EQ(statement_chain_sha256(back), back.chain_sha256);

  store_->append_audit({0, t(1), "tok_1 finance", "finance", "GET /v1/compensation", "/v1/compensation?period=2026-10", "200"});
  store_->append_audit({0, t(2), "cli root", "admin", "token.revoke", "tok_1", "ok"});
  auto log = store_->audit_entries_after(0, 10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].seq, 1);
  EXPECT_EQ(log[0].previous_sha256, std::string(kGenesisSha256));
  EXPECT_EQ(log[1].previous_sha256, log[0].sha256);
  const nlohmann::json entry{{"action", "token.revoke"}, {"actor", "cli root"}, {"at", core::format_rfc3339(t(2))},
                             {"outcome", "ok"}, {"previous_sha256", log[0].sha256}, {"role", "admin"}, {"seq", "2"},
                             {"target", "tok_1"}};
  EXPECT_EQ(log[1].sha256, core::sha256_hex(entry.dump()));
  EXPECT_EQ(store_->audit_log(1)[0].sha256, log[1].sha256);
}

// A store at version 7 with closed statements and audit entries, closed out of order as older
// pactwatch allowed, migrates to the latest version (a gap in the numbering is fine: versions are
// applied by number, each once) and gets its chains in the same transaction.
TEST_P(StoreConformance, AStoreAtVersion7IsChainedWhenItMigrates) {
  testutils::TempDir other;
  const std::string url = GetParam() == Backend::sqlite ? "sqlite://" + (other.path() / "v7.db").string()
                                                        : testutils::shared_postgres().create_database("at_version_7");
  {
    const auto target = *parse_database_url(url, "");
    soci::session sql;
    if (GetParam() == Backend::sqlite) sql.open(soci::sqlite3, target.connect_string);
    else sql.open(soci::postgresql, target.connect_string);
    sql << "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";
    for (const auto& m : GetParam() == Backend::sqlite ? sqlite_migrations() : postgresql_migrations()) {
      if (m.version > 7) continue;
      for (const auto& statement : split_sql(m.sql)) sql << statement;
      const std::string name = m.name;
      sql << "INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, 'then')", soci::use(m.version), soci::use(name);
    }
    // support: November was closed before October (out of order, as older versions allowed).
    for (const auto& [contract, period, closed] : std::vector<std::tuple<std::string, std::string, int>>{
             {"support", "2026-11", 100}, {"support", "2026-10", 200}, {"tokyo", "2026-10", 150}}) {
      const std::string document = R"({"period":")" + period + "\"}";
      sql << "INSERT INTO statements (contract, version, period, partner, period_start, currency, own_minor, total_minor, "
             "carry_out_minor, contract_sha256, input_digest, engine_version, as_of, closed_at, closed_by, document) VALUES "
             "(:c, 3, :p, 'northwind', 0, 'EUR', 100, 100, 0, 'sha', 'd', '1', 0, :cl, 'finance', :doc)",
          soci::use(contract), soci::use(period), soci::use(closed), soci::use(document);
    }
    for (int i = 0; i < 3; ++i) {
      sql << "INSERT INTO audit_log (at, actor, role, action, target, outcome) VALUES (:a, 'cli root', 'admin', 'token.create', 'tok', 'ok')",
          soci::use(i);
    }
  }
  auto db = Store::open({url, "", 2});
  ASSERT_TRUE(db) << db.error();
  EXPECT_EQ((*db)->schema_status().current, 7);
  EXPECT_GE((*db)->migrate(t(0)), 1);
  EXPECT_TRUE((*db)->schema_status().up_to_date());
  // Each contract's chain in the order its statements were closed.
  const auto all = (*db)->all_closed_statements();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].period, "2026-11");
  EXPECT_EQ(all[0].chain_seq, 1);
  EXPECT_EQ(all[1].period, "2026-10");
  EXPECT_EQ(all[1].chain_seq, 2);
  EXPECT_EQ(all[1].previous_sha256, all[0].chain_sha256);
  EXPECT_EQ(all[2].contract, "tokyo");
  EXPECT_EQ(all[2].chain_seq, 1);
  for (const auto& r : all) {
    EXPECT_EQ(r.document_sha256, core::sha256_hex(r.document));
    EXPECT_EQ(statement_chain_sha256(r), r.chain_sha256);
  }
  const auto log = (*db)->audit_entries_after(0, 10);
  ASSERT_EQ(log.size(), 3u);
  std::string previous(kGenesisSha256);
  for (const auto& e : log) {
    EXPECT_EQ(e.previous_sha256, previous);
    EXPECT_EQ(audit_chain_sha256(e), e.sha256);
    previous = e.sha256;
  }
  // Chained rows are as immutable as new ones; new closes and entries extend the chains.
  {
    Transaction tx(**db, Durability::normal);
    EXPECT_ANY_THROW(tx.sql() << "UPDATE statements SET total_minor = 1");
  }
  (*db)->close_statements(std::vector<StatementRecord>{closed_record("support", "2026-12", 300)});
  const auto dec = *(*db)->closed_statement("support", 3, "2026-12");
  EXPECT_EQ(dec.chain_seq, 3);
  EXPECT_EQ(dec.previous_sha256, all[1].chain_sha256);
  (*db)->append_audit({0, t(5), "cli root", "admin", "token.revoke", "tok", "ok"});
  EXPECT_EQ((*db)->audit_entries_after(3, 10).at(0).previous_sha256, previous);
}

TEST_P(StoreConformance, TheDeliverySweepSeesEventsStampedALittleBeforeTheLastOne) {
  EvaluationRecord r{"support", 3, "2026-10", "northwind", t(0), "d", "{}", {{"kpi:p1", "met"}}};
  store_->save_evaluation(r, t(100));
  r.statuses = {{"kpi:p1", "breached"}};
  store_->save_evaluation(r, t(101));
  EXPECT_EQ(store_->due_deliveries("hook", t(101), t(0)).size(), 1u);
  // Another instance (a slower clock, a long transaction) commits an event stamped 5 minutes
  // before the newest one swept: the next sweep still finds it.
  EvaluationRecord late{"support", 3, "2026-11", "northwind", t(0), "d", "{}", {{"kpi:p1", "met"}}};
  store_->save_evaluation(late, t(90));
  late.statuses = {{"kpi:p1", "breached"}};
  store_->save_evaluation(late, t(96));
  const auto due = store_->due_deliveries("hook", t(102), t(0));
  ASSERT_EQ(due.size(), 2u);
  std::set<std::string> periods;
  for (const auto& d : due) periods.insert(store_->outbox_event(d.event_id)->period);
  EXPECT_EQ(periods, (std::set<std::string>{"2026-10", "2026-11"}));
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
  store_->upsert_items(items);
  std::vector<EvaluationRecord> records;
  for (int i = 0; i < 1000; ++i) {
    records.push_back({"c" + std::to_string(i), 1, "2026-10", "p00001", t(0), "d", "{}", {{"kpi:x", "breached"}, {"kpi:y", "met"}}});
  }
  store_->save_evaluations(records, t(1));
  auto due = store_->due_deliveries("ops", t(2), t(0), 1000);
  ASSERT_EQ(due.size(), 1000u);
  for (std::size_t i = 0; i < due.size(); i += 1) {
    if (i % 100 == 0) continue;
    due[i].status = "delivered";
    store_->update_delivery(due[i]);
  }
  std::vector<QueuedEvaluation> queued;
  for (int i = 0; i < 2000; ++i) queued.push_back({"c" + std::to_string(i), 1, t(i), i % 64, "p00001", 0, t(0)});
  store_->enqueue_evaluations(queued, t(3));
  {
    Transaction tx(*store_, Durability::normal);
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

TEST_P(StoreConformance, ItemsOfOneKind) {
  Item deal = ticket("d1", 1);
  deal.kind = "deals";
  deal.amount_minor = 1250000;
  deal.currency = "EUR";
  Item other = ticket("t2", 1);
  other.partner_id = "contoso";
  store_->upsert_items(std::vector<Item>{ticket("t1", 1), deal, other});
  auto deals = store_->items_of_kind("northwind", "deals");
  ASSERT_EQ(deals.size(), 1u);
  EXPECT_EQ(deals[0].external_id, "d1");
  EXPECT_EQ(deals[0].amount_minor, 1250000);
  EXPECT_TRUE(store_->items_of_kind("contoso", "deals").empty());
}

TEST_P(StoreConformance, StatusChangesWriteOutboxEventsInTheSameTransaction) {
  EvaluationRecord r{"support", 3, "2026-10", "northwind", t(0), "d", "{}", {{"kpi:p1", "met"}, {"standard:pci", "met"}}};
  store_->save_evaluation(r, t(1));
  EXPECT_TRUE(store_->outbox_events().empty());  // a first "met" is no news
  r.statuses = {{"kpi:p1", "breached", "\"80.00%\"", ">= 95.00%"}, {"standard:pci", "breached"}};
  store_->save_evaluation(r, t(2));
  auto events = store_->outbox_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "kpi.breached");
  EXPECT_EQ(events[1].type, "standard.violated");
  EXPECT_EQ(events[0].partner, "northwind");
  const auto payload = nlohmann::json::parse(events[0].payload);
  EXPECT_EQ(payload["from"], "met");
  EXPECT_EQ(payload["to"], "breached");
  EXPECT_EQ(payload["value"], "80.00%");  // the numbers behind the change travel with it
  EXPECT_EQ(payload["target"], ">= 95.00%");
  r.statuses = {{"kpi:p1", "warning"}, {"standard:pci", "met"}};
  store_->save_evaluation(r, t(3));
  events = store_->outbox_events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].type, "kpi.recovered");

  // Deliveries per channel: created when the channel asks, retried, dead, and put back.
  auto due = store_->due_deliveries("hook", t(3), t(0));
  ASSERT_EQ(due.size(), 3u);
  EXPECT_TRUE(store_->due_deliveries("late-channel", t(3), t(10)).empty());  // added later: no back-fill
  due[0].status = "delivered";
  due[0].attempts = 1;
  due[0].delivered_at = t(3);
  store_->update_delivery(due[0]);
  due[1].status = "dead";
  due[1].last_error = "HTTP 410";
  store_->update_delivery(due[1]);
  due[2].attempts = 1;
  due[2].next_attempt_at = t(30);
  store_->update_delivery(due[2]);
  EXPECT_TRUE(store_->due_deliveries("hook", t(4), t(0)).empty());
  EXPECT_EQ(store_->due_deliveries("hook", t(31), t(0)).size(), 1u);
  EXPECT_EQ(store_->deliveries("dead").size(), 1u);
  EXPECT_EQ(store_->retry_deliveries("all", t(32)), 1);
  EXPECT_EQ(store_->due_deliveries("hook", t(32), t(0)).size(), 2u);
  // A period close writes a statement.closed event with it.
  store_->close_statements(std::vector<StatementRecord>{{"support", 3, "2026-10", "northwind", t(0), "EUR", 100, 100, 0, "sha",
                                                          "d", "1", t(40), t(41), "finance", "{}"}});
  EXPECT_EQ(store_->outbox_events().back().type, "statement.closed");
  // Reminders for a breach still standing, once per whole interval.
  store_->save_evaluation({"support", 3, "2026-11", "northwind", t(50), "d", "{}", {{"kpi:p1", "breached"}}}, t(50));
  EXPECT_EQ(store_->write_reminders(t(50 + 59), std::chrono::hours(1)), 0);
  EXPECT_EQ(store_->write_reminders(t(50 + 61), std::chrono::hours(1)), 1);
  EXPECT_EQ(store_->write_reminders(t(50 + 62), std::chrono::hours(1)), 0);
  EXPECT_EQ(store_->rule_status("support", 3, "2026-11", "kpi:p1"), "breached");
}

// --- migrations with gaps in their numbering ---------------------------------------------------

// Applies the embedded migrations numbered `up_to` or below, as an earlier pactwatch did.
void migrate_up_to(Store& store, int up_to) {
  const auto& files = store.backend() == Backend::sqlite ? sqlite_migrations() : postgresql_migrations();
  Transaction tx(store, Durability::normal);
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
  (*old)->store_source_page({"desk", {}, std::span(&q, 1), std::string("c")}, t(3));
  EXPECT_EQ((*old)->quarantined().size(), 1u);

  // A migration numbered below the highest applied one, still pending (it came with a later
  // release than the one that applied the higher number): reported as pending, then applied.
  {
    Transaction tx(**old, Durability::normal);
    tx.sql() << "DROP TABLE leases";
    tx.sql() << "DELETE FROM schema_version WHERE version = 6";
    tx.commit();
  }
  auto gap = (*old)->schema_status();
  EXPECT_EQ(gap.current, gap.latest);
  EXPECT_FALSE(gap.up_to_date()) << "version 6 is not applied";
  EXPECT_EQ((*old)->migrate(t(4)), 1);
  EXPECT_TRUE((*old)->schema_status().up_to_date());
  EXPECT_TRUE((*old)->claim_lease("source:desk", "a", t(5), std::chrono::milliseconds(1000)));
}

// --- sources: quarantine and deliberate cursor moves ---------------------------------------------

Item deal(const std::string& id, int updated_minute) {
  Item i;
  i.source = "hubspot";
  i.external_id = id;
  i.kind = "deals";
  i.created_at = t(0);
  i.updated_at = t(updated_minute);
  i.amount_minor = 3803397;
  i.currency = "EUR";
  i.payload = "{}";
  return i;
}

QuarantinedRecord held(const std::string& id, const std::string& reason) {
  return {"hubspot", "deals", id, reason, R"({"amount":"38033.969","currency":"EUR","id":")" + id + "\"}", {}, {}, 1};
}

// A page's items, its set-aside records and its cursor commit together; a record set aside again
// counts as seen again, not as new; one that maps later becomes an item and leaves the quarantine.
TEST_P(StoreConformance, QuarantinedRecordsAreStoredWithTheirPageAndLeaveWhenTheyMap) {
  std::vector<Item> items{deal("1", 1), deal("3", 1)};
  std::vector<QuarantinedRecord> bad{held("2", "amount: '38033.969' has more decimals than EUR allows (2)")};
  auto c = store_->store_source_page({"hubspot", items, bad, std::string("cursor-1")}, t(1));
  EXPECT_EQ(c.written, 2);
  EXPECT_EQ(c.quarantined, 1);
  EXPECT_EQ(store_->cursor("hubspot"), "cursor-1");
  auto list = store_->quarantined();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], (QuarantinedRecord{"hubspot", "deals", "2", bad[0].reason, bad[0].record, t(1), t(1), 1}));
  EXPECT_FALSE(store_->find_item("hubspot", "deals", "2"));

  // Read again as it was (the boundary of the next poll): counted as a re-read.
  c = store_->store_source_page({"hubspot", std::span(items).subspan(1), bad, std::string("cursor-2")}, t(2));
  EXPECT_EQ(c.unchanged, 1);
  EXPECT_EQ(c.quarantined, 0);
  EXPECT_EQ(c.requarantined, 1);
  list = store_->quarantined("hubspot");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first_seen, t(1));
  EXPECT_EQ(list[0].last_seen, t(2));
  EXPECT_EQ(list[0].seen, 2);
  EXPECT_TRUE(store_->quarantined("jira").empty());

  // A backfill page: items and quarantine, the cursor untouched.
  std::vector<QuarantinedRecord> other{held("4", "another reason")};
  c = store_->store_source_page({"hubspot", {}, other, std::nullopt}, t(3));
  EXPECT_EQ(c.quarantined, 1);
  EXPECT_EQ(store_->cursor("hubspot"), "cursor-2");
  EXPECT_EQ(store_->quarantined().front().external_id, "4") << "most recently seen first";

  // The vendor corrected deal 2: it maps now, is stored, and leaves the quarantine.
  std::vector<Item> fixed{deal("2", 5)};
  c = store_->store_source_page({"hubspot", fixed, {}, std::string("cursor-3")}, t(5));
  EXPECT_EQ(c.written, 1);
  EXPECT_EQ(c.released, 1);
  ASSERT_TRUE(store_->find_item("hubspot", "deals", "2"));
  list = store_->quarantined();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].external_id, "4");

  // Under a lease that passed on, nothing of the page is stored.
  const auto ttl = std::chrono::milliseconds(60'000);
  ASSERT_EQ(store_->claim_lease("source:hubspot", "a", t(6), ttl), 1);
  ASSERT_EQ(store_->claim_lease("source:hubspot", "b", t(8), ttl), 2);
  const LeaseGuard stale{"source:hubspot", "a", 1};
  std::vector<QuarantinedRecord> late{held("9", "late")};
  EXPECT_THROW(store_->store_source_page({"hubspot", {}, late, std::string("cursor-x")}, t(9), &stale), LeaseLost);
  EXPECT_EQ(store_->cursor("hubspot"), "cursor-3");
  EXPECT_EQ(store_->quarantined().size(), 1u);
}

// An operator's cursor move is stored with its audit entry in one transaction, and only under the
// source's lease.
TEST_P(StoreConformance, ACursorMovedOnPurposeIsAuditedInTheSameTransaction) {
  store_->set_cursor("desk", "old", t(0));
  const AuditEntry entry{0, t(1), "cli ops", "admin", "source.cursor.set", "desk to 2026-11-15T00:00:00Z (was old): agreed", "ok"};
  store_->move_cursor("desk", "new", t(1), entry);
  EXPECT_EQ(store_->cursor("desk"), "new");
  auto log = store_->audit_log(10);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].action, "source.cursor.set");
  EXPECT_EQ(log[0].target, entry.target);
  EXPECT_EQ(log[0].at, t(1));
  ASSERT_EQ(store_->claim_lease("source:desk", "daemon", t(2), std::chrono::milliseconds(60'000)), 1);
  const LeaseGuard cli{"source:desk", "cli", 1};
  EXPECT_THROW(store_->move_cursor("desk", "newer", t(3), entry, &cli), LeaseLost);
  EXPECT_EQ(store_->cursor("desk"), "new");
  EXPECT_EQ(store_->audit_log(10).size(), 1u) << "no audit entry for a move that did not happen";
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
  db.store_page("desk", std::vector{a}, "c1", t(1));
  pg.stop();
  EXPECT_FALSE(db.ping());
  // A unit of work while the server is down fails whole, with a clear error, and stores nothing.
  Item b = ticket("b", 2);
  try {
    db.store_page("desk", std::vector{b}, "c2", t(2));
    ADD_FAILURE() << "stored a page with the server down";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
  }
  pg.start();
  // Every pooled connection was cut; each reconnects the next time it is drawn.
  bool back = false;
  for (int i = 0; i < 5 && !back; ++i) back = db.ping();
  EXPECT_TRUE(back);
  db.store_page("desk", std::vector{b}, "c2", t(2));
  EXPECT_EQ(db.cursor("desk"), "c2");
  EXPECT_EQ(db.count_items(), 2);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(db.ping()) << "every connection of the pool works again";
}

TEST(StorePostgres, LongStatementsAreCancelledAtTheTimeout) {
  auto s = Store::open({testutils::shared_postgres().create_database("timeout_probe"), "", 1, 0, std::chrono::seconds(1)});
  ASSERT_TRUE(s);
  const auto started = std::chrono::steady_clock::now();
  try {
    Transaction tx(**s, Durability::normal);
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
