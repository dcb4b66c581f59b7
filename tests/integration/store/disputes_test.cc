// The store conformance suite: the disputes repository (Disputes), on SQLite and PostgreSQL: a dispute opened with its
// acts, answered once, commented on; the lifecycle's refusals storing nothing; one dispute of a
// subject at a time; two racing resolutions; the append-only tables; audit entries and events in
// the same transaction.
#include "store_conformance.h"

#include <soci/soci.h>

#include <atomic>
#include <thread>

namespace pactwatch::store {
namespace {

core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

Dispute subject(const std::string& item = "4711") {
  Dispute d;
  d.subject = {"northwind", "northwind-support", 3, "2026-10", "p1_first_reply", item.empty() ? "" : "zendesk",
               item.empty() ? "" : "tickets", item};
  d.category = core::DisputeCategory::brand_caused;
  d.opened_at = T("2026-11-03T09:00:00Z");
  return d;
}

core::DisputeAction act(core::DisputeAct what, core::Party party, std::string comment = "because") {
  core::DisputeAction a;
  a.act = what;
  a.party = party;
  a.actor = party == core::Party::brand ? "cli:ops" : "tok_nw";
  a.actor_name = party == core::Party::brand ? "ops@brand.example" : "coo@northwind.example";
  a.at = T("2026-11-03T10:00:00Z");
  a.comment = std::move(comment);
  return a;
}

AuditEntry audit(const std::string& action) {
  AuditEntry e;
  e.at = T("2026-11-03T10:00:00Z");
  e.actor = "test";
  e.role = "test";
  e.action = action;
  e.outcome = "ok";
  return e;
}

core::DisputeAction on(std::int64_t id, core::DisputeAction a) {
  a.dispute = std::to_string(id);
  return a;
}

std::int64_t opened(Store& store, const std::string& item = "4711") {
  auto r = store.disputes().open(subject(item), {act(core::DisputeAct::open, core::Party::partner, "the outage was yours")},
                                 audit("dispute.open"));
  EXPECT_TRUE(r) << r.error();
  return r ? r->first.id : 0;
}

TEST_P(StoreConformance, DisputesAreOpenedAnsweredOnceAndCommentedOn) {
  const auto id = opened(*store_);
  ASSERT_GT(id, 0);
  const auto d = store_->disputes().get(id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->subject, subject().subject);
  EXPECT_EQ(d->category, core::DisputeCategory::brand_caused);
  EXPECT_EQ(d->opened_at, T("2026-11-03T09:00:00Z"));
  ASSERT_TRUE(store_->disputes().record(on(id, act(core::DisputeAct::comment, core::Party::brand, "checking the status page")),
                                        audit("dispute.comment")));
  EXPECT_TRUE(store_->disputes().accepted("northwind-support", 3, "2026-10").empty());
  ASSERT_TRUE(store_->disputes().record(on(id, act(core::DisputeAct::accept, core::Party::brand, "confirmed")), audit("dispute.accept")));
  auto again = store_->disputes().record(on(id, act(core::DisputeAct::reject, core::Party::brand, "no, wait")), audit("dispute.reject"));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().find("already accepted"), std::string::npos);
  ASSERT_TRUE(store_->disputes().record(on(id, act(core::DisputeAct::comment, core::Party::partner, "thanks")), audit("dispute.comment")));
  const auto acts = store_->disputes().acts_of(id);
  ASSERT_EQ(acts.size(), 4u);
  EXPECT_EQ(core::dispute_state(acts), core::DisputeState::accepted);
  EXPECT_EQ(acts[0].act, core::DisputeAct::open);
  EXPECT_EQ(acts[0].comment, "the outage was yours");
  EXPECT_EQ(acts[2].actor, "cli:ops");
  EXPECT_LT(acts[0].seq, acts[1].seq);
  const auto accepted = store_->disputes().accepted("northwind-support", 3, "2026-10");
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].id, id);
  EXPECT_TRUE(store_->disputes().accepted("northwind-support", 3, "2026-09").empty());
  // Each step in the audit log: open, comment, accept, comment (the refused reject is not there).
  int audited = 0;
  for (const auto& e : store_->audit().newest(100)) audited += e.action.starts_with("dispute.") ? 1 : 0;
  EXPECT_EQ(audited, 4);
}

TEST_P(StoreConformance, DisputeRefusalsStoreNothing) {
  // The brand does not open disputes; a partner does not resolve its own.
  auto brand_opens = store_->disputes().open(subject(), {act(core::DisputeAct::open, core::Party::brand)}, audit("dispute.open"));
  ASSERT_FALSE(brand_opens);
  EXPECT_TRUE(store_->disputes().list().empty()) << "the refused opening left no dispute row";
  const auto id = opened(*store_);
  auto self = store_->disputes().record(on(id, act(core::DisputeAct::accept, core::Party::partner)), audit("dispute.accept"));
  ASSERT_FALSE(self);
  EXPECT_NE(self.error().find("only the brand"), std::string::npos);
  auto silent = store_->disputes().record(on(id, act(core::DisputeAct::reject, core::Party::brand, "")), audit("dispute.reject"));
  ASSERT_FALSE(silent);
  EXPECT_FALSE(store_->disputes().record(on(999999, act(core::DisputeAct::comment, core::Party::brand)), audit("dispute.comment")));
  EXPECT_EQ(store_->disputes().acts_of(id).size(), 1u);
  // One dispute of a subject at a time; another item is another subject.
  auto twice = store_->disputes().open(subject(), {act(core::DisputeAct::open, core::Party::partner)}, audit("dispute.open"));
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().find("already open"), std::string::npos);
  EXPECT_GT(opened(*store_, "4712"), id);
  EXPECT_GT(opened(*store_, ""), id) << "the rule as a whole is a subject of its own";
  // Once withdrawn, the same item may be disputed again.
  ASSERT_TRUE(store_->disputes().record(on(id, act(core::DisputeAct::withdraw, core::Party::partner)), audit("dispute.withdraw")));
  EXPECT_GT(opened(*store_), id);
  EXPECT_EQ(store_->disputes().list("northwind").size(), 4u);
  EXPECT_TRUE(store_->disputes().list("contoso-eu").empty());
}

TEST_P(StoreConformance, DisputesUnderAPreAgreedCategoryAreAcceptedWhenOpened) {
  auto brand_accepts = act(core::DisputeAct::accept, core::Party::brand, "pre-agreed: brand_caused");
  brand_accepts.actor = "contract";
  auto r = store_->disputes().open(subject(), {act(core::DisputeAct::open, core::Party::partner), brand_accepts}, audit("dispute.open"));
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->second.size(), 2u);
  EXPECT_EQ(core::dispute_state(store_->disputes().acts_of(r->first.id)), core::DisputeState::accepted);
  // The events the opening causes are written with it.
  auto events = [](const Dispute& d, std::span<const core::DisputeAction> stored) {
    std::vector<OutboxEvent> out;
    for (const auto& a : stored) {
      OutboxEvent e;
      e.id = "dispute." + std::string(core::to_string(a.act)) + "/" + std::to_string(d.id) + "/" + std::to_string(a.seq);
      e.type = "dispute.opened";
      e.partner = d.subject.partner;
      e.contract = d.subject.contract;
      e.version = d.subject.version;
      e.period = d.subject.period;
      e.subject = "partner";
      e.created_at = a.at;
      e.payload = "{}";
      out.push_back(e);
    }
    return out;
  };
  auto second = store_->disputes().open(subject("4712"), {act(core::DisputeAct::open, core::Party::partner)}, audit("dispute.open"), events);
  ASSERT_TRUE(second);
  int written = 0;
  for (const auto& e : store_->outbox().events(100)) written += e.id.starts_with("dispute.open/") ? 1 : 0;
  EXPECT_EQ(written, 1);
}

TEST_P(StoreConformance, TwoRacingResolutionsOfADisputeRecordOne) {
  for (int round = 0; round < 5; ++round) {
    const auto id = opened(*store_, std::to_string(5000 + round));
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (auto what : {core::DisputeAct::accept, core::DisputeAct::reject}) {
      threads.emplace_back([&, what] {
        if (store_->disputes().record(on(id, act(what, core::Party::brand, "racing")), audit("dispute.race"))) ++ok;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 1) << "round " << round;
    EXPECT_EQ(store_->disputes().acts_of(id).size(), 2u);
  }
}

TEST_P(StoreConformance, DisputesCannotBeChangedOrDeleted) {
  const auto id = opened(*store_);
  for (const char* statement : {"UPDATE disputes SET category = 'other'", "DELETE FROM disputes",
                                "UPDATE dispute_actions SET comment = 'forged'", "DELETE FROM dispute_actions"}) {
    Transaction tx(store_->database(), Durability::normal);
    EXPECT_ANY_THROW(tx.sql() << statement) << statement;
  }
  EXPECT_EQ(store_->disputes().acts_of(id).size(), 1u);
  EXPECT_EQ(store_->disputes().get(id)->category, core::DisputeCategory::brand_caused);
}

TEST_P(StoreConformance, CorrectionsShareTheTablesWithTheirRulesAndWindowAndTheRolesSwapped) {
  Dispute c;
  c.kind = core::DisputeKind::correction;
  c.subject = {"northwind", "northwind-support", 3, "2026-10", "", "", "", ""};
  c.category = core::DisputeCategory::brand_caused;
  c.opened_at = T("2026-11-03T09:00:00Z");
  c.rules = {"p1_first_reply", "resolution_p90"};
  c.window_from = T("2026-10-14T11:00:00Z");
  c.window_until = T("2026-10-14T15:30:00Z");
  // The partner cannot declare one; the brand can.
  EXPECT_FALSE(store_->disputes().open(c, {act(core::DisputeAct::open, core::Party::partner, "outage")}, audit("correction.declare")));
  auto r = store_->disputes().open(c, {act(core::DisputeAct::open, core::Party::brand, "brand platform outage")}, audit("correction.declare"));
  ASSERT_TRUE(r) << r.error();
  const auto got = store_->disputes().get(r->first.id);
  ASSERT_TRUE(got);
  c.id = r->first.id;
  EXPECT_EQ(*got, c);
  const auto dispute = opened(*store_);  // a partner's dispute beside it, left open
  auto open = store_->disputes().open_all();
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].kind, core::DisputeKind::correction);
  EXPECT_EQ(store_->disputes().open_all("someone-else").size(), 0u);
  // The brand cannot accept its own correction; the partner can, once.
  EXPECT_FALSE(store_->disputes().record(on(c.id, act(core::DisputeAct::accept, core::Party::brand)), audit("correction.accept")));
  auto accept = act(core::DisputeAct::accept, core::Party::partner);
  accept.at = T("2026-11-04T08:00:00Z");
  ASSERT_TRUE(store_->disputes().record(on(c.id, accept), audit("correction.accept")));
  EXPECT_FALSE(store_->disputes().record(on(c.id, act(core::DisputeAct::reject, core::Party::partner)), audit("correction.reject")));
  const auto accepted = store_->disputes().accepted_all();
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].dispute, c);
  EXPECT_EQ(accepted[0].accepted_at, T("2026-11-04T08:00:00Z"));
  EXPECT_EQ(store_->disputes().accepted_all("northwind-support").size(), 1u);
  EXPECT_TRUE(store_->disputes().accepted_all("other-contract").empty());
  // A correction is not a dispute of the period: `accepted` of disputes leaves it out.
  EXPECT_TRUE(store_->disputes().accepted("northwind-support", 3, "2026-10").empty());
  open = store_->disputes().open_all("northwind");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, dispute);
}

}  // namespace
}  // namespace pactwatch::store
