// Opening and answering disputes within a contract's terms, against a real store (SQLite and
// PostgreSQL): the window after the period, the categories, the version's rules, the partner's own
// items, the pre-agreed categories, and the notifications and audit entries each act writes.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "pactwatch/ledger/agreements.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/engine/evaluation_json.h"
#include "pactwatch/ledger/statements.h"
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
    ASSERT_NO_FATAL_FAILURE(agree("northwind-support", 3, {"tok_nw", "coo@northwind.example", "partner"}));
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

  // Agrees a version through recorded acts: the brand proposes and approves, `partner` approves.
  void agree(const std::string& contract, int version, const Actor& partner) {
    const Actor ops{"cli:ops", "ops@brand.example", "admin"};
    for (const auto& [party, what, who] : std::vector<std::tuple<core::Party, core::ContractAct, Actor>>{
             {core::Party::brand, core::ContractAct::propose, ops},
             {core::Party::brand, core::ContractAct::approve, ops},
             {core::Party::partner, core::ContractAct::approve, partner}}) {
      const auto set = in_force();
      core::ContractAction a;
      a.contract = contract;
      a.version = version;
      a.party = party;
      a.act = what;
      a.sha256 = (*rules::find_version(set, contract, version))->sha256;
      ASSERT_TRUE(record_act(*store_, set, a, who, T("2026-01-02T00:00:00Z")));
    }
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
  auto partner_resolves = act_on_dispute(*store_, in_force(), d->dispute.id, core::DisputeAct::accept, core::Party::partner, "", ops,
                                         T("2026-11-06T10:00:00Z"));
  ASSERT_FALSE(partner_resolves);
  ASSERT_TRUE(act_on_dispute(*store_, in_force(), d->dispute.id, core::DisputeAct::reject, core::Party::brand, "the log shows no such request", ops,
                             T("2026-11-06T10:00:00Z")));
  auto twice = act_on_dispute(*store_, in_force(), d->dispute.id, core::DisputeAct::accept, core::Party::brand, "", ops, T("2026-11-06T11:00:00Z"));
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

TEST_P(DisputesTest, AWholeRuleIsNeverAcceptedInAdvanceAndAPartialItemIsRefused) {
  auto whole = request(core::DisputeCategory::brand_caused, "");
  whole.subject.item_source.clear();
  whole.subject.item_kind.clear();
  auto d = open(whole);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->acts.size(), 1u) << "a waived rule needs the brand's answer, pre-agreed category or not";
  auto partial = request(core::DisputeCategory::customer_caused, "");  // source and kind, no id
  partial.subject.rule = "resolution_p90";
  auto refused = open(partial);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("source, kind and id"), std::string::npos) << refused.error();
  // A label as the period's evaluation names it is what is stored.
  auto odd = request();
  odd.subject.period = "2026-1x";
  EXPECT_FALSE(open(odd));
}

// The window counts calendar days in the contract calendar's zone: fabrikam-field's October ends
// at local midnight on 1 November (05:00 UTC, daylight time), the clocks go back that morning, and
// 60 days later the window closes at local midnight on 31 December: 06:00 UTC, not 05:00.
TEST_P(DisputesTest, TheWindowClosesAtLocalMidnightAcrossADaylightSavingChange) {
  ASSERT_NO_FATAL_FAILURE(agree("fabrikam-field", 1, {"tok_fab", "service@fabrikam.example", "partner"}));
  DisputeRequest r;
  r.subject = {"fabrikam-field", "fabrikam-field", 1, "2026-10", "on_site_4h", "", "", ""};
  r.category = core::DisputeCategory::customer_caused;
  r.reason = "the sites were closed";
  auto late = open(r, "2026-12-31T06:00:01Z");
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().find("closed at 2026-12-31T06:00:00Z"), std::string::npos) << late.error();
  auto in_time = open(r, "2026-12-31T05:30:00Z");
  EXPECT_TRUE(in_time) << in_time.error();
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

// An October of urgent tickets for the money tests: 37 replied within the hour (4711 among them)
// and two (t37, t38, on the 29th) after three hours: 37 of 39 is 94.87%, under p1_first_reply's
// 95%; without either failure it is met. Ticket i is created on the i/2-th weekday at 08:00 or 09:00 UTC.
void load_october(store::Store& db) {
  std::vector<core::Item> items;
  const char* days[] = {"05", "06", "07", "08", "09", "12", "13", "14", "15", "16",
                        "19", "20", "21", "22", "23", "26", "27", "28", "29", "30"};
  auto ticket = [](const std::string& id, const std::string& created, int reply_minutes) {
    core::Item t;
    t.source = "zendesk";
    t.external_id = id;
    t.kind = "tickets";
    t.partner_id = "northwind";
    t.status = "open";
    t.priority = "urgent";
    t.created_at = T(created.c_str());
    t.updated_at = *t.created_at + std::chrono::minutes(reply_minutes);
    t.payload = "{\"agent_replies\":[\"" + core::format_rfc3339(t.updated_at) + "\"]}";
    return t;
  };
  for (int i = 1; i <= 38; ++i) {
    const std::string at = std::string("2026-10-") + days[(i - 1) / 2] + (i % 2 ? "T08:00:00Z" : "T09:00:00Z");
    items.push_back(ticket("t" + std::to_string(i), at, i >= 37 ? 180 : 20));
  }
  auto replied = ticket("4711", "2026-10-14T13:10:00Z", 15);  // the fixture's item, now replied in time
  replied.updated_at = T("2026-10-20T00:00:00Z");  // newer than the fixture's version
  items.push_back(replied);
  db.items().upsert(items);
}

const std::string& p1_status(const nlohmann::json& statement) { return statement.at("kpis").at("p1_first_reply").get_ref<const std::string&>(); }

std::vector<nlohmann::json> adjustments_for(const nlohmann::json& statement, const std::string& closed_period) {
  std::vector<nlohmann::json> out;
  for (const auto& l : statement.at("lines")) {
    if (l.at("kind") == "adjustment" && l.at("derivation").at("closed_period") == closed_period) out.push_back(l);
  }
  return out;
}

TEST_P(DisputesTest, AnAcceptedDisputeOfAClosedPeriodBecomesOneAdjustmentInTheFirstOpenPeriod) {
  load_october(*store_);
  const Actor ops{"cli:ops", "ops@brand.example", "finance"};
  auto r = request(core::DisputeCategory::customer_caused, "t38");
  auto d = open(r, "2026-11-02T10:00:00Z");
  ASSERT_TRUE(d) << d.error();
  const std::string by = "dispute " + std::to_string(d->dispute.id);
  {
    // An open dispute holds the close back, unless finance closes with it listed as open.
    const auto now_in_force = in_force();
    Statements st(now_in_force, *store_);
    auto refused = st.close("2026-10", "northwind", T("2026-11-02T00:00:00Z"), T("2026-11-02T12:00:00Z"), "fin");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("open dispute(s)"), std::string::npos) << refused.error();
    EXPECT_NE(refused.error().find(by), std::string::npos) << refused.error();
    EXPECT_TRUE(store_->statements().all().empty());
  }
  const auto set = in_force();
  {
    Statements st(set, *store_);
    auto closed = st.close("2026-10", "northwind", T("2026-11-02T00:00:00Z"), T("2026-11-02T12:00:00Z"), "fin", true);
    ASSERT_TRUE(closed) << closed.error();
  }
  const auto record = store_->statements().find("northwind-support", 3, "2026-10");
  ASSERT_TRUE(record);
  const auto closed_doc = nlohmann::json::parse(record->document);
  EXPECT_EQ(p1_status(closed_doc), "breached");
  ASSERT_EQ(closed_doc.at("open_disputes").size(), 1u);
  EXPECT_EQ(closed_doc["open_disputes"][0]["id"], d->dispute.id);
  EXPECT_EQ(closed_doc["open_disputes"][0]["item"]["id"], "t38");

  // The brand accepts: the item leaves p1_first_reply, listed with the dispute's id.
  ASSERT_TRUE(act_on_dispute(*store_, set, d->dispute.id, core::DisputeAct::accept, core::Party::brand, "the customer was away", ops,
                             T("2026-11-04T09:00:00Z")));
  const auto& v = **rules::find_version(set, "northwind-support", 3);
  const auto& cal = set.calendars.at(v.calendar);
  const auto october = *engine::period_by_label(v, cal, "2026-10");
  const auto accepted = store_->disputes().accepted_all();
  const auto xs = exclusions_for(accepted, v, october, T("2026-11-20T00:00:00Z"));
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].by, by);
  EXPECT_TRUE(exclusions_for(accepted, v, october, T("2026-11-03T00:00:00Z")).empty()) << "not accepted yet then";
  const auto items = store_->items().for_period("northwind", october.start, october.end);
  const auto e = engine::evaluate_period(v, cal, items, october, T("2026-11-20T00:00:00Z"), engine::kMaxEvidence, xs);
  const auto& p1 = e.kpis[0];
  ASSERT_EQ(p1.id, "p1_first_reply");
  EXPECT_EQ(p1.numerator, 37);
  EXPECT_EQ(p1.denominator, 38);
  EXPECT_EQ(p1.status, core::RuleStatus::met);
  ASSERT_EQ(p1.excluded.items.shown.size(), 1u);
  EXPECT_EQ(p1.excluded.items.shown[0], (engine::ExcludedEntry{by, "zendesk", "t38"}));
  // The acceptance asked for the period's evaluation again (an intent for northwind in October).
  bool asked = false;
  for (const auto& i : store_->queue().intents()) asked = asked || (i.partner == "northwind" && i.at == october.start);
  EXPECT_TRUE(asked);

  // The closed statement still re-derives as it closed (the acceptance came after its instant)...
  {
    Statements st(set, *store_);
    const auto again = st.rederive(*record);
    EXPECT_EQ(again.kind, Rederived::Kind::same) << again.detail;
  }
  // ...and November, the first open period, carries the difference once: the p1 credit (40% of
  // 12% of 42,000.00) comes back, and with the only scored KPI met the score bonus pays 3,000.00.
  {
    Statements st(set, *store_);
    auto nov = st.for_period("2026-11", "northwind", T("2026-11-20T00:00:00Z"));
    ASSERT_TRUE(nov) << nov.error();
    const auto adj = adjustments_for(nov->front().document, "2026-10");
    ASSERT_EQ(adj.size(), 1u) << nov->front().document.dump(2);
    EXPECT_EQ(adj[0].at("amount"), "5016.00") << adj[0].dump(2);
    ASSERT_TRUE(st.close("2026-11", "northwind", T("2026-12-01T00:00:00Z"), T("2026-12-01T12:00:00Z"), "fin"));
  }
  {
    Statements st(set, *store_);
    auto dec = st.for_period("2026-12", "northwind", T("2026-12-10T00:00:00Z"));
    ASSERT_TRUE(dec) << dec.error();
    EXPECT_TRUE(adjustments_for(dec->front().document, "2026-10").empty()) << "adjusted once, in November";
  }
}

TEST_P(DisputesTest, ACorrectionTakesEffectWhenThePartnerAcceptsIt) {
  load_october(*store_);
  const Actor ops{"cli:ops", "ops@brand.example", "finance"}, nw{"tok_nw", "coo@northwind.example", "partner"};
  CorrectionRequest c;
  c.partner = "northwind";
  c.contract = "northwind-support";
  c.version = 3;
  c.rules = {"p1_first_reply", "reopen_loops"};
  c.from = T("2026-10-29T07:30:00Z");
  c.until = T("2026-10-29T09:30:00Z");
  c.category = core::DisputeCategory::force_majeure;
  c.reason = "brand platform outage";
  auto refused = [&](CorrectionRequest bad, const std::string& why) {
    auto x = declare_correction(*store_, in_force(), bad, ops, T("2026-11-01T10:00:00Z"));
    ASSERT_FALSE(x) << why;
    EXPECT_NE(x.error().find(why), std::string::npos) << x.error();
  };
  auto bad = c;
  bad.rules = {"p1_first_reply", "speed"};
  refused(bad, "has no rule 'speed'");
  bad = c;
  bad.until = bad.from;
  refused(bad, "the window is empty");
  bad = c;
  bad.reason = "";
  refused(bad, "needs a reason");
  bad = c;
  bad.partner = "contoso-eu";
  refused(bad, "no contract 'northwind-support' of partner 'contoso-eu'");
  EXPECT_TRUE(store_->disputes().list().empty()) << "refusals store nothing";

  auto declared = declare_correction(*store_, in_force(), c, ops, T("2026-11-01T10:00:00Z"));
  ASSERT_TRUE(declared) << declared.error();
  const auto id = declared->dispute.id;
  EXPECT_EQ(declared->acts.size(), 1u) << "force_majeure is not pre-agreed: the partner answers";
  EXPECT_EQ(declared->dispute.subject.period, "2026-10");
  const auto set = in_force();
  const auto& v = **rules::find_version(set, "northwind-support", 3);
  const auto october = *engine::period_by_label(v, set.calendars.at(v.calendar), "2026-10");
  EXPECT_TRUE(exclusions_for(store_->disputes().accepted_all(), v, october, T("2026-11-30T00:00:00Z")).empty());
  // The brand cannot accept its own correction; the partner accepts it.
  EXPECT_FALSE(act_on_dispute(*store_, set, id, core::DisputeAct::accept, core::Party::brand, "", ops, T("2026-11-02T09:00:00Z")));
  ASSERT_TRUE(act_on_dispute(*store_, set, id, core::DisputeAct::accept, core::Party::partner, "agreed", nw, T("2026-11-02T09:00:00Z")));
  const auto xs = exclusions_for(store_->disputes().accepted_all(), v, october, T("2026-11-30T00:00:00Z"));
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].by, "correction " + std::to_string(id));
  const auto e = engine::evaluate_period(v, set.calendars.at(v.calendar), store_->items().for_period("northwind", october.start, october.end),
                                         october, T("2026-11-30T00:00:00Z"), engine::kMaxEvidence, xs);
  EXPECT_EQ(e.kpis[0].numerator, 37) << engine::exclusions_json(xs).dump() << engine::exclusions_json(e.exclusions).dump();
  EXPECT_EQ(e.kpis[0].denominator, 37) << engine::exclusions_json(xs).dump() << engine::exclusions_json(e.exclusions).dump();
  EXPECT_EQ(e.kpis[0].excluded.items.total, 2);
  EXPECT_EQ(e.brand_standards[0].excluded.items.total, 2);
  EXPECT_FALSE(e.kpis[1].excluded.any()) << "service_level is not named";
  const auto j = dispute_json(*store_->disputes().get(id), store_->disputes().acts_of(id));
  EXPECT_EQ(j["kind"], "correction");
  EXPECT_EQ(j["state"], "accepted");
  EXPECT_EQ(j["rules"], nlohmann::json({"p1_first_reply", "reopen_loops"}));
  EXPECT_EQ(j["window"]["from"], "2026-10-29T07:30:00Z");

  // Proposed to the partner, accepted to the brand; every step audited.
  std::multiset<std::pair<std::string, std::string>> events;
  for (const auto& ev : store_->outbox().events(100)) {
    if (ev.type.starts_with("correction.")) events.insert({ev.type, ev.subject});
  }
  EXPECT_EQ(events, (std::multiset<std::pair<std::string, std::string>>{{"correction.proposed", "brand:p1_first_reply,reopen_loops"},
                                                                        {"correction.accepted", "partner:p1_first_reply,reopen_loops"}}));
  int audited = 0;
  for (const auto& a : store_->audit().newest(100)) audited += a.action.starts_with("correction.") ? 1 : 0;
  EXPECT_EQ(audited, 2);

  // A pre-agreed category takes effect as it is declared.
  c.category = core::DisputeCategory::brand_caused;
  c.from = T("2026-10-05T07:00:00Z");
  c.until = T("2026-10-05T08:30:00Z");
  auto pre = declare_correction(*store_, in_force(), c, ops, T("2026-11-01T11:00:00Z"));
  ASSERT_TRUE(pre) << pre.error();
  ASSERT_EQ(pre->acts.size(), 2u);
  EXPECT_EQ(pre->acts[1].party, core::Party::partner);
  EXPECT_EQ(pre->acts[1].actor, "contract:northwind-support v3");
}

INSTANTIATE_TEST_SUITE_P(Backends, DisputesTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& p) { return std::string(store::to_string(p.param)); });

}  // namespace
}  // namespace pactwatch::ledger
