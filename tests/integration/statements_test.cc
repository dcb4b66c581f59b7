// Statements across periods against a real store (SQLite and PostgreSQL): earn-back of a credit,
// carry-forward below the minimum payout, adjustments for late data landing once, and closing
// then recomputing a period bit for bit.
#include <gtest/gtest.h>

#include <atomic>

#include "pactwatch/ledger/statements.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::ledger {
namespace {

using store::Backend;
using nlohmann::json;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

const char* kCalendar =
    "timezone: UTC\nhours: {mon: [\"00:00-24:00\"], tue: [\"00:00-24:00\"], wed: [\"00:00-24:00\"], "
    "thu: [\"00:00-24:00\"], fri: [\"00:00-24:00\"], sat: [\"00:00-24:00\"], sun: [\"00:00-24:00\"]}\n";

std::string contract_text(const std::string& id, const std::string& partner, const std::string& compensation) {
  return "contract: " + id + "\nversion: 1\npartner: " + partner +
         "\neffective: {from: 2026-09-01}\ncurrency: EUR\ncalendar: always\n"
         "kpis:\n  - {id: p1, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 90%\"}, "
         "min_sample: 1, weight: 100}\ncompensation:\n" + compensation;
}

store::Item ticket(const std::string& id, const std::string& partner, const char* created, const char* reply,
                   const char* updated = nullptr) {
  store::Item i;
  i.source = "desk";
  i.external_id = id;
  i.kind = "tickets";
  i.partner_id = partner;
  i.created_at = T(created);
  i.updated_at = T(updated ? updated : created);
  i.payload = json{{"agent_replies", {reply}}}.dump();
  return i;
}

class StatementsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_.write("rules/partners.yaml", "partners:\n  - {id: acme, name: Acme, kind: outsourcer}\n"
                                      "  - {id: beta, name: Beta, kind: reseller}\n");
    dir_.write("rules/calendars/always.yaml", kCalendar);
    approved("acme-desk", "acme", "  base: {fixed: \"1000.00\"}\n  service_credits:\n    at_risk: 10%\n"
                                  "    allocations: {p1: 100%}\n    earn_back_after: 1\n");
    approved("beta-small", "beta", "  base: {fixed: \"80.00\"}\n  minimum_payout: \"100.00\"\n");
    auto r = rules::load_rule_set(dir_.path() / "rules");
    if (!r) throw std::runtime_error(r.error()[0].to_string());
    rules_ = std::move(*r);
    std::string url;
    if (GetParam() == Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / "s.db").string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("statements_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 2});
    if (!s) throw std::runtime_error(s.error());
    store_ = std::move(*s);
    store_->migrate(T("2026-01-01T00:00:00Z"));
  }

  // Writes a contract approved by both parties over its own hash.
  void approved(const std::string& id, const std::string& partner, const std::string& compensation) {
    const std::string text = contract_text(id, partner, compensation);
    const auto hash = *rules::contract_hash(text, id + ".yaml");
    dir_.write("rules/contracts/" + id + ".yaml",
               text + "approvals:\n  - {party: brand, by: b@brand.example, at: 2026-08-01T00:00:00Z, sha256: " + hash +
                   "}\n  - {party: partner, by: p@partner.example, at: 2026-08-01T00:00:00Z, sha256: " + hash + "}\n");
  }

  json statement(const std::string& period, const std::string& partner, const char* as_of) {
    Statements st(rules_, *store_);
    auto v = st.for_period(period, partner, T(as_of));
    EXPECT_TRUE(v) << (v ? "" : v.error());
    EXPECT_EQ(v->size(), 1u);
    return v->front().document;
  }

  static std::vector<std::string> lines(const json& doc, const std::string& kind) {
    std::vector<std::string> out;
    for (const auto& l : doc["lines"]) {
      if (l["kind"] == kind) out.push_back(l["amount"].get<std::string>());
    }
    return out;
  }

  testutils::TempDir dir_;
  rules::RuleSet rules_;
  std::unique_ptr<store::Store> store_;
};

TEST_P(StatementsTest, EarnBackCarryForwardAndAdjustmentsAcrossClosedPeriods) {
  // September: acme's one ticket waits three hours (credit 100.00); October and November: fast.
  store_->upsert_items(std::vector<store::Item>{
      ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z"),
      ticket("o1", "acme", "2026-10-10T08:00:00Z", "2026-10-10T08:10:00Z"),
      ticket("n1", "acme", "2026-11-10T08:00:00Z", "2026-11-10T08:10:00Z"),
  });
  auto sep = statement("2026-09", "acme", "2026-10-02T00:00:00Z");
  EXPECT_EQ(lines(sep, "credit"), std::vector<std::string>{"-100.00"});
  EXPECT_EQ(sep["total"], "900.00");
  // Beta earns 80.00 a month, under its 100.00 minimum payout: carried forward.
  auto beta_sep = statement("2026-09", "beta", "2026-10-02T00:00:00Z");
  EXPECT_EQ(beta_sep["total"], "0.00");
  EXPECT_EQ(beta_sep["carry_forward_out"], "80.00");

  Statements st(rules_, *store_);
  auto closed = st.close("2026-09", std::nullopt, T("2026-10-02T00:00:00Z"), T("2026-10-02T00:00:05Z"), "finance");
  ASSERT_TRUE(closed) << closed.error();
  ASSERT_EQ(closed->size(), 2u);

  // October: the KPI met again, so September's credit is earned back; Beta's carry arrives.
  auto oct = statement("2026-10", "acme", "2026-11-02T00:00:00Z");
  EXPECT_EQ(lines(oct, "earn_back"), std::vector<std::string>{"100.00"});
  EXPECT_EQ(oct["total"], "1100.00");
  auto beta_oct = statement("2026-10", "beta", "2026-11-02T00:00:00Z");
  EXPECT_EQ(lines(beta_oct, "carry_forward_in"), std::vector<std::string>{"80.00"});
  EXPECT_EQ(beta_oct["total"], "160.00");
  EXPECT_EQ(beta_oct["carry_forward_out"], "0.00");

  // Late correction: September's reply was in fact fast. The closed statement stays; October
  // gets +100.00 as an adjustment, and no earn-back (there is no credit left to earn back).
  store_->upsert_items(std::vector<store::Item>{
      ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T08:20:00Z", "2026-10-20T00:00:00Z")});
  EXPECT_EQ(json::parse(store_->closed_statement("acme-desk", 1, "2026-09")->document)["total"], "900.00");
  oct = statement("2026-10", "acme", "2026-11-02T00:00:00Z");
  EXPECT_EQ(lines(oct, "adjustment"), std::vector<std::string>{"100.00"});
  EXPECT_TRUE(lines(oct, "earn_back").empty()) << oct.dump(2);
  EXPECT_EQ(oct["total"], "1100.00");

  // Close October with it; November must not repeat the adjustment.
  ASSERT_TRUE(st.close("2026-10", std::nullopt, T("2026-11-02T00:00:00Z"), T("2026-11-02T00:00:05Z"), "finance"));
  auto nov = statement("2026-11", "acme", "2026-12-02T00:00:00Z");
  EXPECT_TRUE(lines(nov, "adjustment").empty()) << nov.dump(2);
  EXPECT_EQ(nov["total"], "1000.00");

  // Re-closing October recomputes it as of its own instant: the same bytes.
  auto verify = st.close("2026-10", "acme", T("2026-12-02T00:00:00Z"), T("2026-12-02T00:00:05Z"), "finance");
  ASSERT_TRUE(verify);
  ASSERT_EQ(verify->size(), 1u);
  EXPECT_EQ((*verify)[0].kind, CloseOutcome::Kind::reproduced) << (*verify)[0].detail;
  // September, closed before the correction, reports the difference.
  auto sep_again = st.close("2026-09", "acme", T("2026-12-02T00:00:00Z"), T("2026-12-02T00:00:05Z"), "finance");
  ASSERT_TRUE(sep_again);
  EXPECT_EQ((*sep_again)[0].kind, CloseOutcome::Kind::differs);
}

TEST_P(StatementsTest, WhatIfNeverReadsOrWritesClosedStatements) {
  store_->upsert_items(std::vector<store::Item>{ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z")});
  Statements st(rules_, *store_);
  ASSERT_TRUE(st.close("2026-09", "acme", T("2026-10-02T00:00:00Z"), T("2026-10-02T00:00:05Z"), "finance"));
  const std::map<std::string, std::string> met{{"p1", "100%"}};
  auto wi = st.for_period("2026-09", "acme", T("2026-10-02T00:00:00Z"), &met);
  ASSERT_TRUE(wi) << wi.error();
  EXPECT_EQ((*wi)[0].status, "what_if");
  EXPECT_EQ((*wi)[0].document["total"], "1000.00");
  EXPECT_EQ(json::parse(store_->closed_statement("acme-desk", 1, "2026-09")->document)["total"], "900.00");
  EXPECT_FALSE(st.for_period("2026-09", "nobody", T("2026-10-02T00:00:00Z")));
}

INSTANTIATE_TEST_SUITE_P(Backends, StatementsTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::ledger
