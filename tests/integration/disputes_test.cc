// Opening and answering disputes within a contract's terms, against a real store (SQLite and
// PostgreSQL): the window after the period, the categories, the version's rules, the partner's own
// items, the pre-agreed categories, and the notifications and audit entries each act writes.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "pactwatch/ledger/agreements.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/rules/approvals.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::ledger {
namespace {

using store::Backend;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }
const std::filesystem::path kSource = PACTWATCH_SOURCE_DIR;

class DisputesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::filesystem::copy(kSource / "rules/examples", dir_.path() / "rules", std::filesystem::copy_options::recursive);
    // northwind-support v3 with dispute terms, agreed through recorded acts.
    const auto file = dir_.path() / "rules/contracts/northwind-support-v3.yaml";
    std::string text = *core::read_file(file.string());
    const auto from = text.find("approvals:");
    text.erase(from, text.find("currency:") - from);
    text += "disputes: {window: 10d, categories: [misattributed, customer_caused, brand_caused], pre_agreed: [brand_caused]}\n";
    std::ofstream(file, std::ios::trunc) << text;
    std::string url;
    if (GetParam() == Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / "d.db").string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("ledger_disputes_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 2});
    if (!s) throw std::runtime_error(s.error());
    store_ = std::move(*s);
    store_->migrate(T("2026-01-01T00:00:00Z"));
    const Actor ops{"cli:ops", "ops@brand.example", "admin"}, nw{"tok_nw", "coo@northwind.example", "partner"};
    for (const auto& [party, what, who] : std::vector<std::tuple<core::Party, core::ContractAct, Actor>>{
             {core::Party::brand, core::ContractAct::propose, ops},
             {core::Party::brand, core::ContractAct::approve, ops},
             {core::Party::partner, core::ContractAct::approve, nw}}) {
      const auto set = in_force();
      core::ContractAction a;
      a.contract = "northwind-support";
      a.version = 3;
      a.party = party;
      a.act = what;
      a.sha256 = (*rules::find_version(set, "northwind-support", 3))->sha256;
      ASSERT_TRUE(record_act(*store_, set, a, who, T("2026-01-02T00:00:00Z")));
    }
    core::Item mine;
    mine.source = "zendesk";
    mine.external_id = "4711";
    mine.kind = "tickets";
    mine.partner_id = "northwind";
    mine.status = "solved";
    mine.priority = "urgent";
    mine.created_at = T("2026-10-14T13:10:00Z");
    mine.solved_at = T("2026-10-14T18:00:00Z");
    mine.updated_at = T("2026-10-14T18:00:00Z");
    core::Item theirs = mine;
    theirs.external_id = "4712";
    theirs.partner_id = "contoso-eu";
    store_->items().upsert(std::vector<core::Item>{mine, theirs});
  }

  rules::RuleSet in_force() {
    auto r = rules_in_force(dir_.path() / "rules", *store_);
    EXPECT_TRUE(r.has_value());
    return std::move(*r);
  }

  static DisputeRequest request(core::DisputeCategory category = core::DisputeCategory::customer_caused,
                                std::string item = "4711") {
    DisputeRequest r;
    r.subject = {"northwind", "northwind-support", 3, "2026-10", "p1_first_reply", "zendesk", "tickets", std::move(item)};
    r.category = category;
    r.reason = "the customer asked us to wait";
    return r;
  }

  std::expected<OpenedDispute, std::string> open(const DisputeRequest& r, const char* when = "2026-11-05T10:00:00Z") {
    return open_dispute(*store_, in_force(), r, {"tok_nw", "coo@northwind.example", "partner"}, T(when));
  }

  testutils::TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_P(DisputesTest, OpenedWithinTheTermsAndAnsweredByTheBrand) {
  auto d = open(request());
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->acts.size(), 1u);
  EXPECT_EQ(core::dispute_state(store_->disputes().acts_of(d->dispute.id)), core::DisputeState::open);
  const Actor ops{"cli:ops", "ops@brand.example", "admin"};
  auto partner_resolves = act_on_dispute(*store_, d->dispute.id, core::DisputeAct::accept, core::Party::partner, "", ops,
                                         T("2026-11-06T10:00:00Z"));
  ASSERT_FALSE(partner_resolves);
  ASSERT_TRUE(act_on_dispute(*store_, d->dispute.id, core::DisputeAct::reject, core::Party::brand, "the log shows no such request", ops,
                             T("2026-11-06T10:00:00Z")));
  auto twice = act_on_dispute(*store_, d->dispute.id, core::DisputeAct::accept, core::Party::brand, "", ops, T("2026-11-06T11:00:00Z"));
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().find("already rejected"), std::string::npos);
  const auto j = dispute_json(*store_->disputes().get(d->dispute.id), store_->disputes().acts_of(d->dispute.id));
  EXPECT_EQ(j["state"], "rejected");
  EXPECT_EQ(j["item"]["id"], "4711");
  EXPECT_EQ(j["thread"].size(), 2u);
  // The opening went to the brand, the answer to the partner; each act is audited.
  std::multiset<std::pair<std::string, std::string>> events;
  for (const auto& e : store_->outbox().events(100)) {
    if (e.type.starts_with("dispute.")) events.insert({e.type, e.subject});
  }
  EXPECT_EQ(events, (std::multiset<std::pair<std::string, std::string>>{{"dispute.opened", "partner:p1_first_reply"},
                                                                        {"dispute.resolved", "brand:p1_first_reply"}}));
  int audited = 0;
  for (const auto& e : store_->audit().newest(100)) audited += e.action.starts_with("dispute.") ? 1 : 0;
  EXPECT_EQ(audited, 2);
}

TEST_P(DisputesTest, OutsideTheTermsIsRefusedWithTheReason) {
  auto refused = [&](std::expected<OpenedDispute, std::string> r, const std::string& why) {
    ASSERT_FALSE(r.has_value()) << why;
    EXPECT_NE(r.error().find(why), std::string::npos) << r.error();
  };
  // The window: ten calendar days after October ends (in the calendar's zone).
  refused(open(request(), "2026-11-12T10:00:00Z"), "the dispute window of 2026-10 closed at");
  EXPECT_TRUE(open(request(), "2026-11-10T10:00:00Z")) << "inside the window";
  auto r = request();
  r.subject.item_id = "4713";
  refused(open(r), "no item zendesk/tickets/4713 of partner 'northwind'");
  refused(open(request(core::DisputeCategory::customer_caused, "4712")), "no item zendesk/tickets/4712 of partner 'northwind'");
  refused(open(request(core::DisputeCategory::force_majeure)), "allows no disputes under 'force_majeure'");
  r = request();
  r.subject.rule = "no_such_kpi";
  refused(open(r), "has no rule 'no_such_kpi'");
  r = request();
  r.subject.period = "2026-12";
  refused(open(r, "2026-11-20T10:00:00Z"), "2026-12 has not begun");
  r = request();
  r.subject.partner = "contoso-eu";
  refused(open(r), "no contract 'northwind-support' of partner 'contoso-eu'");
  r = request();
  r.reason = "  ";
  refused(open(r), "needs a reason");
  r = request();
  r.subject.contract = "fabrikam-field";
  r.subject.partner = "fabrikam-field";
  r.subject.version = 1;
  refused(open(r), "is not enforced");
  // One dispute of an item at a time (the one opened inside the window above).
  refused(open(request()), "is already open");
  EXPECT_EQ(store_->disputes().list().size(), 1u) << "refusals store nothing";
}

TEST_P(DisputesTest, APreAgreedCategoryIsAcceptedAsItOpens) {
  auto d = open(request(core::DisputeCategory::brand_caused));
  ASSERT_TRUE(d) << d.error();
  ASSERT_EQ(d->acts.size(), 2u);
  EXPECT_EQ(d->acts[1].act, core::DisputeAct::accept);
  EXPECT_EQ(d->acts[1].actor, "contract:northwind-support v3");
  EXPECT_EQ(store_->disputes().accepted("northwind-support", 3, "2026-10").size(), 1u);
  int resolved = 0;
  for (const auto& e : store_->outbox().events(100)) resolved += e.type == "dispute.resolved" ? 1 : 0;
  EXPECT_EQ(resolved, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DisputesTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& p) { return std::string(store::to_string(p.param)); });

}  // namespace
}  // namespace pactwatch::ledger
