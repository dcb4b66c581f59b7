// The store conformance suite: pages with their cursor, intents and quarantine (Sources,
// WorkQueue), on SQLite and PostgreSQL.
#include "store_conformance.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

TEST_P(StoreConformance, PageAndCursorCommitTogether) {
  EXPECT_FALSE(store_->sources().cursor("zendesk"));
  auto counts = store_->sources().store_page("zendesk", std::vector<Item>{ticket("1", 1), ticket("2", 1)}, "cursor-1", t(1));
  EXPECT_EQ(counts.written, 2);
  EXPECT_EQ(store_->sources().cursor("zendesk"), "cursor-1");

  // A page with a record the database rejects stores nothing and leaves the cursor where it was.
  Item broken = ticket("3", 2);
  broken.kind = "not-a-kind";
  EXPECT_THROW(store_->sources().store_page("zendesk", std::vector<Item>{ticket("4", 2), broken}, "cursor-2", t(2)), StoreError);
  EXPECT_EQ(store_->sources().cursor("zendesk"), "cursor-1");
  EXPECT_FALSE(store_->items().find("zendesk", "tickets", "4"));
  EXPECT_EQ(store_->items().count(), 2);

  store_->sources().set_cursor("zendesk", "cursor-3", t(3));
  EXPECT_EQ(store_->sources().cursor("zendesk"), "cursor-3");
  EXPECT_FALSE(store_->sources().cursor("jira"));
}

// A page is stored only while the writer's lease is its own: after a takeover, the former
// holder's page and cursor are refused, and nothing of them is stored.
TEST_P(StoreConformance, PagesAreStoredOnlyUnderTheWritersLease) {
  const auto ttl = std::chrono::milliseconds(60'000);
  const auto fence = store_->leases().claim("source:desk", "a", t(0), ttl);
  ASSERT_TRUE(fence);
  const LeaseGuard mine{"source:desk", "a", *fence};
  std::vector<Item> page{ticket("A1", 1)};
  EXPECT_EQ(store_->sources().store_page("desk", page, "c1", t(1), &mine).written, 1);
  ASSERT_EQ(store_->leases().claim("source:desk", "b", t(2), ttl), 2);  // a's lease ran out; b took it
  std::vector<Item> late{ticket("A2", 2)};
  EXPECT_THROW(store_->sources().store_page("desk", late, "c2", t(3), &mine), LeaseLost);
  EXPECT_FALSE(store_->items().find("zendesk", "tickets", "A2"));
  EXPECT_EQ(store_->sources().cursor("desk"), "c1");
  const LeaseGuard theirs{"source:desk", "b", 2};
  EXPECT_EQ(store_->sources().store_page("desk", late, "c2", t(3), &theirs).written, 1);
  const LeaseGuard never{"source:other", "a", 1};
  EXPECT_THROW(store_->sources().store_page("other", late, "x", t(3), &never), LeaseLost);
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
  EXPECT_THROW(store_->sources().store_page("zendesk", std::vector<Item>{a, broken}, "c0", t(1), write), StoreError);
  EXPECT_TRUE(store_->queue().intents().empty());
  store_->sources().store_page("zendesk", changed, "c1", t(1), write);
  auto recorded = store_->queue().intents();
  ASSERT_EQ(recorded.size(), intents.size());
  for (const auto& i : recorded) EXPECT_EQ(i.generation, 1);
  // A second page touches the first intent again before it is worked off: that one stays.
  const std::vector<EvaluationIntent> again{intents[0]};
  PageWrite second;
  second.intents = again;
  store_->sources().store_page("zendesk", std::vector<Item>{}, "c2", t(2), second);
  const QueuedEvaluation request{"c", 1, t(0), 3, "northwind", 0, t(3)};
  store_->queue().queue_intents(std::vector<QueuedEvaluation>{request}, recorded, t(3));
  const auto left = store_->queue().intents();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].partner, intents[0].partner);
  EXPECT_EQ(left[0].generation, 2);
  const auto queued = store_->queue().waiting(std::vector<int>{3});
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].contract, "c");
  store_->queue().queue_intents({}, left, t(4));
  EXPECT_TRUE(store_->queue().intents().empty());
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
  EXPECT_THROW(store_->sources().store_page("drop", page, "big.ndjson", t(1), write), WriteAbandoned);
  EXPECT_EQ(store_->items().count(), 0);
  EXPECT_FALSE(store_->sources().cursor("drop"));
  EXPECT_TRUE(store_->queue().intents().empty());
  stop = false;
  EXPECT_EQ(store_->sources().store_page("drop", page, "big.ndjson", t(1), write).written, 2000);
  EXPECT_EQ(store_->queue().intents().size(), 1u);
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
  auto c = store_->sources().store_page({"hubspot", items, bad, std::string("cursor-1")}, t(1));
  EXPECT_EQ(c.written, 2);
  EXPECT_EQ(c.quarantined, 1);
  EXPECT_EQ(store_->sources().cursor("hubspot"), "cursor-1");
  auto list = store_->sources().quarantined();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0], (QuarantinedRecord{"hubspot", "deals", "2", bad[0].reason, bad[0].record, t(1), t(1), 1}));
  EXPECT_FALSE(store_->items().find("hubspot", "deals", "2"));

  // Read again as it was (the boundary of the next poll): counted as a re-read.
  c = store_->sources().store_page({"hubspot", std::span(items).subspan(1), bad, std::string("cursor-2")}, t(2));
  EXPECT_EQ(c.unchanged, 1);
  EXPECT_EQ(c.quarantined, 0);
  EXPECT_EQ(c.requarantined, 1);
  list = store_->sources().quarantined("hubspot");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].first_seen, t(1));
  EXPECT_EQ(list[0].last_seen, t(2));
  EXPECT_EQ(list[0].seen, 2);
  EXPECT_TRUE(store_->sources().quarantined("jira").empty());

  // A backfill page: items and quarantine, the cursor untouched.
  std::vector<QuarantinedRecord> other{held("4", "another reason")};
  c = store_->sources().store_page({"hubspot", {}, other, std::nullopt}, t(3));
  EXPECT_EQ(c.quarantined, 1);
  EXPECT_EQ(store_->sources().cursor("hubspot"), "cursor-2");
  EXPECT_EQ(store_->sources().quarantined().front().external_id, "4") << "most recently seen first";

  // The vendor corrected deal 2: it maps now, is stored, and leaves the quarantine.
  std::vector<Item> fixed{deal("2", 5)};
  c = store_->sources().store_page({"hubspot", fixed, {}, std::string("cursor-3")}, t(5));
  EXPECT_EQ(c.written, 1);
  EXPECT_EQ(c.released, 1);
  ASSERT_TRUE(store_->items().find("hubspot", "deals", "2"));
  list = store_->sources().quarantined();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].external_id, "4");

  // Under a lease that passed on, nothing of the page is stored.
  const auto ttl = std::chrono::milliseconds(60'000);
  ASSERT_EQ(store_->leases().claim("source:hubspot", "a", t(6), ttl), 1);
  ASSERT_EQ(store_->leases().claim("source:hubspot", "b", t(8), ttl), 2);
  const LeaseGuard stale{"source:hubspot", "a", 1};
  std::vector<QuarantinedRecord> late{held("9", "late")};
  EXPECT_THROW(store_->sources().store_page({"hubspot", {}, late, std::string("cursor-x")}, t(9), &stale), LeaseLost);
  EXPECT_EQ(store_->sources().cursor("hubspot"), "cursor-3");
  EXPECT_EQ(store_->sources().quarantined().size(), 1u);
}

// An operator's cursor move is stored with its audit entry in one transaction, and only under the
// source's lease.
TEST_P(StoreConformance, ACursorMovedOnPurposeIsAuditedInTheSameTransaction) {
  store_->sources().set_cursor("desk", "old", t(0));
  const AuditEntry entry{0, t(1), "cli ops", "admin", "source.cursor.set", "desk to 2026-11-15T00:00:00Z (was old): agreed", "ok"};
  store_->sources().move_cursor("desk", "new", t(1), entry);
  EXPECT_EQ(store_->sources().cursor("desk"), "new");
  auto log = store_->audit().newest(10);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].action, "source.cursor.set");
  EXPECT_EQ(log[0].target, entry.target);
  EXPECT_EQ(log[0].at, t(1));
  ASSERT_EQ(store_->leases().claim("source:desk", "daemon", t(2), std::chrono::milliseconds(60'000)), 1);
  const LeaseGuard cli{"source:desk", "cli", 1};
  EXPECT_THROW(store_->sources().move_cursor("desk", "newer", t(3), entry, &cli), LeaseLost);
  EXPECT_EQ(store_->sources().cursor("desk"), "new");
  EXPECT_EQ(store_->audit().newest(10).size(), 1u) << "no audit entry for a move that did not happen";
}

}  // namespace
}  // namespace pactwatch::store
