// The store conformance suite: items and partners (Items, Partners), on SQLite and PostgreSQL.
#include <algorithm>

#include "store_conformance.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

TEST_P(StoreConformance, UpsertIsIdempotent) {
  std::vector<Item> page{ticket("1", 1), ticket("2", 1)};
  auto first = store_->items().upsert(page);
  EXPECT_EQ(first.written, 2);
  EXPECT_EQ(first.unchanged, 0);
  auto second = store_->items().upsert(page);
  EXPECT_EQ(second.written, 0);
  EXPECT_EQ(second.unchanged, 2);
  EXPECT_EQ(store_->items().count(), 2);
  EXPECT_EQ(store_->items().count("zendesk"), 2);
  EXPECT_EQ(store_->items().count("jira"), 0);
}

TEST_P(StoreConformance, NewerVersionsReplaceOlderOnesNever) {
  store_->items().upsert(std::vector<Item>{ticket("1", 10)});
  Item newer = ticket("1", 20);
  newer.status = "solved";
  newer.solved_at = t(20);
  EXPECT_EQ(store_->items().upsert(std::vector<Item>{newer}).written, 1);
  Item stale = ticket("1", 15);
  stale.status = "pending";
  auto counts = store_->items().upsert(std::vector<Item>{stale});
  EXPECT_EQ(counts.written, 0) << "an out-of-order page must not overwrite newer data";
  auto stored = store_->items().find("zendesk", "tickets", "1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(*stored, newer);
}

TEST_P(StoreConformance, ATicketAndARatingWithTheSameIdAreTwoItems) {
  Item rating = ticket("42", 1);
  rating.kind = "surveys";
  rating.status = "";
  rating.priority = "";
  rating.payload = R"({"score":"good","ticket_id":"42"})";
  EXPECT_EQ(store_->items().upsert(std::vector<Item>{ticket("42", 1), rating}).written, 2);
  EXPECT_EQ(store_->items().count(), 2);
  EXPECT_EQ(*store_->items().find("zendesk", "tickets", "42"), ticket("42", 1));
  EXPECT_EQ(*store_->items().find("zendesk", "surveys", "42"), rating);
  // A newer rating changes the rating only.
  rating.updated_at = t(5);
  rating.payload = R"({"score":"bad","ticket_id":"42"})";
  EXPECT_EQ(store_->items().upsert(std::vector<Item>{rating}).written, 1);
  EXPECT_EQ(*store_->items().find("zendesk", "tickets", "42"), ticket("42", 1));
  EXPECT_EQ(store_->items().find("zendesk", "surveys", "42")->payload, rating.payload);
  EXPECT_FALSE(store_->items().find("zendesk", "deals", "42"));
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
  store_->items().upsert(std::vector<Item>{deal, bare});
  EXPECT_EQ(*store_->items().find("salesforce", "deals", "006Dn000004ABCDIA4"), deal);
  EXPECT_EQ(*store_->items().find("zendesk", "tickets", "bare"), bare);
  EXPECT_FALSE(store_->items().find("zendesk", "tickets", "absent"));
  EXPECT_FALSE(store_->items().find("salesforce", "deals", "bare"));
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
  store_->items().upsert(items);

  std::vector<std::string> ids;
  for (int k = 1204; k >= 0; --k) ids.push_back("T" + std::to_string(k));  // the even ones stored
  ids.push_back(odd.external_id);
  ids.push_back("T10");  // twice
  ids.push_back("absent");
  ids.push_back("");
  const auto found = store_->items().find_many("zendesk", "tickets", ids);
  ASSERT_EQ(found.size(), ids.size());
  int present = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(found[i], store_->items().find("zendesk", "tickets", ids[i])) << ids[i];
    present += found[i] ? 1 : 0;
  }
  EXPECT_EQ(present, 602 + 1 + 1);
  EXPECT_EQ(*found[ids.size() - 4], odd);
  EXPECT_EQ(store_->items().find_many("zendesk", "surveys", std::vector<std::string>{"T2", "T4"}),
            (std::vector<std::optional<Item>>{survey, std::nullopt}));
  EXPECT_EQ(store_->items().find_many("freshdesk", "tickets", std::vector<std::string>{"T2", "T4"}),
            (std::vector<std::optional<Item>>{std::nullopt, other}));
  EXPECT_TRUE(store_->items().find_many("zendesk", "tickets", std::vector<std::string>{}).empty());
}

TEST_P(StoreConformance, PartnersSyncKeepsRemovedOnesInactive) {
  store_->partners().sync(std::vector<Partner>{{"northwind", "Northwind", "outsourcer", "gold", true},
                                             {"contoso", "Contoso", "reseller", "", true}},
                        t(1));
  auto ps = store_->partners().all();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].id, "contoso");
  EXPECT_TRUE(ps[0].active);
  store_->partners().sync(std::vector<Partner>{{"northwind", "Northwind Ltd", "outsourcer", "platinum", true}}, t(2));
  ps = store_->partners().all();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_FALSE(ps[0].active);
  EXPECT_TRUE(ps[1].active);
  EXPECT_EQ(ps[1].name, "Northwind Ltd");
  EXPECT_EQ(ps[1].tier, "platinum");
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
          store_->items().upsert(std::vector<Item>{ticket(std::to_string(w) + "-" + std::to_string(i), 1)});
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->items().count(), kThreads * kPerThread);
}

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
  store_->items().upsert(std::vector<Item>{ticket("2", 1), other, deal, ticket("1", 1), unattributed});
  auto mine = store_->items().of_partner("northwind");
  ASSERT_EQ(mine.size(), 3u);
  EXPECT_EQ(mine[0], deal);  // hubspot sorts before zendesk
  EXPECT_EQ(mine[1], ticket("1", 1));
  EXPECT_EQ(mine[2], ticket("2", 1));
  EXPECT_TRUE(store_->items().of_partner("nobody").empty());
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
  store_->items().upsert(std::vector<Item>{
      make("created-inside", "tickets", 150, 300), make("solved-inside", "tickets", 50, 150),
      make("open-from-before", "tickets", 50, std::nullopt), make("done-before", "tickets", 10, 90),
      make("created-after", "tickets", 250, std::nullopt), make("survey-inside", "surveys", 120, std::nullopt),
      make("survey-before", "surveys", 20, std::nullopt), make("deal-any-time", "deals", 10, std::nullopt)});
  std::vector<std::string> ids;
  for (const auto& i : store_->items().for_period("northwind", t(100), t(200))) ids.push_back(i.external_id);
  // In no particular order (every reader keys them).
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"created-inside", "deal-any-time", "open-from-before", "solved-inside",
                                           "survey-inside"}));
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
  // On PostgreSQL, pages of 3 items or more go through COPY into the staging table.
  std::string url3 = url_;
  if (GetParam() == Backend::sqlite) {
    url3 = "sqlite://" + (dir_.path() / "copied.db").string();
  } else {
    static std::atomic<int> counter{0};
    url3 = testutils::shared_postgres().create_database("copied_" + std::to_string(++counter));
  }
  StoreOptions copy_options{url3, "", 2};
  copy_options.copy_threshold = 3;
  auto copied = Store::open(copy_options);
  ASSERT_TRUE(copied);
  (*copied)->migrate(t(0));
  std::mt19937 rng(42);
  std::int64_t written_one = 0, written_batched = 0;
  for (int page = 0; page < 40; ++page) {
    std::vector<Item> items;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int k = 0; k < n; ++k) {
      Item i = ticket("T" + std::to_string(rng() % 300), static_cast<int>(rng() % 50));
      i.status = (rng() % 3) ? "open" : "solved";
      // What COPY's text format must escape, and a missing partner and instants.
      if (rng() % 5 == 0) i.payload = "{\"note\":\"tab\there\nline\\\\N back\\\\ slash\r\\.\"}";
      if (rng() % 7 == 0) i.partner_id.reset();
      if (rng() % 6 == 0) i.solved_at.reset();
      items.push_back(i);
    }
    const auto a = (*one)->sources().store_page("src", items, "c" + std::to_string(page), t(1));
    const auto b = (*batched)->sources().store_page("src", items, "c" + std::to_string(page), t(1));
    const auto c = (*copied)->sources().store_page("src", items, "c" + std::to_string(page), t(1));
    EXPECT_EQ(c.written, b.written);
    EXPECT_EQ(c.unchanged, b.unchanged);
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
    const auto x = (*one)->items().find("zendesk", "tickets", id);
    EXPECT_EQ(x, (*batched)->items().find("zendesk", "tickets", id)) << id;
    EXPECT_EQ(x, (*copied)->items().find("zendesk", "tickets", id)) << id;
    seen += x ? 1 : 0;
  }
  EXPECT_GT(seen, 250);
  EXPECT_EQ((*batched)->sources().cursor("src"), "c39");
  EXPECT_EQ((*copied)->sources().cursor("src"), "c39");
}

TEST_P(StoreConformance, ItemsOfOneKind) {
  Item deal = ticket("d1", 1);
  deal.kind = "deals";
  deal.amount_minor = 1250000;
  deal.currency = "EUR";
  Item other = ticket("t2", 1);
  other.partner_id = "contoso";
  store_->items().upsert(std::vector<Item>{ticket("t1", 1), deal, other});
  auto deals = store_->items().of_kind("northwind", "deals");
  ASSERT_EQ(deals.size(), 1u);
  EXPECT_EQ(deals[0].external_id, "d1");
  EXPECT_EQ(deals[0].amount_minor, 1250000);
  EXPECT_TRUE(store_->items().of_kind("contoso", "deals").empty());
}

}  // namespace
}  // namespace pactwatch::store
