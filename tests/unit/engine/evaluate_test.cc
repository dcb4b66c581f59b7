#include "pactwatch/engine/evaluate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::engine {
namespace {

using core::Instant;
Instant T(const char* s) { return *core::parse_rfc3339(s); }

const calendar::Calendar& office() {
  static const calendar::Calendar cal = [] {
    auto spec = calendar::parse_calendar(
        "timezone: Europe/Paris\nhours: {mon: [\"09:00-17:00\"], tue: [\"09:00-17:00\"], wed: [\"09:00-17:00\"], "
        "thu: [\"09:00-17:00\"], fri: [\"09:00-17:00\"]}\n",
        "office.yaml", ".");
    return *calendar::Calendar::compile(*spec);
  }();
  return cal;
}

rules::ContractVersion contract(const std::string& kpis, const std::string& extra = "") {
  auto c = rules::parse_contract("contract: c\nversion: 1\npartner: nw\neffective: {from: 2026-01-01}\ncurrency: EUR\n"
                                 "calendar: office\nkpis:\n" + kpis + extra,
                                 "c.yaml");
  if (!c) throw std::runtime_error(c.error()[0].to_string());
  return std::move(*c);
}

const char* kFirstReply =
    "  - id: p1\n    source: tickets\n    where: priority == \"urgent\"\n    measure: {ratio: first_reply <= 1h}\n"
    "    objective: {target: \">= 75%\", warning: \">= 90%\"}\n    min_sample: 2\n";

core::Item ticket(const std::string& id, const char* created, std::optional<const char*> reply,
                   const std::string& partner = "nw", const std::string& priority = "urgent") {
  core::Item i;
  i.source = "zendesk";
  i.external_id = id;
  i.kind = "tickets";
  i.partner_id = partner;
  i.priority = priority;
  i.created_at = T(created);
  i.updated_at = T(created);
  i.payload = reply ? std::string(R"({"agent_replies":[")") + *reply + "\"]}" : "{}";
  return i;
}

TEST(Periods, MonthsAndQuartersStartAtLocalMidnight) {
  auto c = contract(kFirstReply);
  auto oct = period_by_label(c, office(), "2026-10");
  ASSERT_TRUE(oct) << oct.error();
  EXPECT_EQ(oct->start, T("2026-09-30T22:00:00Z"));  // 1 October 00:00 CEST
  EXPECT_EQ(oct->end, T("2026-10-31T23:00:00Z"));    // 1 November 00:00 CET
  auto containing = period_containing(c, office(), T("2026-10-31T22:59:59Z"));
  EXPECT_EQ(containing->label, "2026-10");
  EXPECT_EQ(period_containing(c, office(), T("2026-10-31T23:00:00Z"))->label, "2026-11");
  EXPECT_FALSE(period_by_label(c, office(), "2026-13"));
  EXPECT_FALSE(period_by_label(c, office(), "October"));
  EXPECT_FALSE(period_by_label(c, office(), "2026-1x")) << "digits where digits go, not January";
  EXPECT_FALSE(period_by_label(c, office(), "2026-Qx"));
  EXPECT_FALSE(period_by_label(c, office(), " 2026-1"));
  auto q = contract(kFirstReply, "period: quarter\n");
  auto q4 = period_by_label(q, office(), "2026-Q4");
  ASSERT_TRUE(q4);
  EXPECT_EQ(q4->start, T("2026-09-30T22:00:00Z"));
  EXPECT_EQ(q4->end, T("2026-12-31T23:00:00Z"));
  EXPECT_EQ(period_containing(q, office(), T("2026-11-15T00:00:00Z"))->label, "2026-Q4");
  EXPECT_EQ(period_by_label(q, office(), "2026-11")->label, "2026-Q4");  // the quarter containing it
  EXPECT_FALSE(period_by_label(c, office(), "2026-Q4"));                 // a monthly contract: which month?
  auto r = contract(kFirstReply, "period: {rolling: 30d}\n");
  auto w = period_containing(r, office(), T("2026-10-31T00:00:00Z"));
  EXPECT_EQ(w->start, T("2026-10-01T00:00:00Z"));
}

TEST(Evaluate, RatioStatusesEvidenceAndInterval) {
  auto c = contract(kFirstReply);
  std::vector<core::Item> items{
      ticket("1", "2026-10-05T08:00:00Z", "2026-10-05T08:30:00Z"),   // 30 min
      ticket("2", "2026-10-05T14:30:00Z", "2026-10-06T07:45:00Z"),   // 75 business minutes
      ticket("3", "2026-10-06T08:00:00Z", "2026-10-06T09:00:00Z"),   // exactly 1 h: met
      ticket("4", "2026-10-07T08:00:00Z", "2026-10-07T08:05:00Z"),
      ticket("5", "2026-10-07T08:00:00Z", "2026-10-07T08:05:00Z", "other"),        // another partner
      ticket("6", "2026-10-07T08:00:00Z", "2026-10-07T12:00:00Z", "nw", "low"),    // not urgent
      ticket("7", "2026-11-02T08:00:00Z", "2026-11-02T12:00:00Z"),                 // next period
  };
  auto period = *period_by_label(c, office(), "2026-10");
  auto doc = evaluate_contract(c, office(), items, period, T("2026-11-05T00:00:00Z"));
  const auto& k = doc["kpis"][0];
  EXPECT_EQ(k["numerator"], 3);
  EXPECT_EQ(k["denominator"], 4);
  EXPECT_EQ(k["value"], "75.00%");
  EXPECT_EQ(k["status"], "warning");  // meets 75%, misses the 90% warning level
  ASSERT_EQ(k["evidence"].size(), 1u);
  EXPECT_EQ(k["evidence"][0]["id"], "2");
  EXPECT_EQ(k["evidence"][0]["values"]["first_reply"]["seconds"], 4500);
  EXPECT_EQ(k["interval95"]["low"], "0.3006");
  EXPECT_EQ(k["interval95"]["high"], "0.9544");
  EXPECT_EQ(doc["input"]["items"], 5);  // the partner's items that can count in October
  EXPECT_EQ(doc["period"]["open"], false);
  EXPECT_EQ(doc["contract"]["status"], "draft");
}

TEST(Evaluate, OpenPeriodForecastsPendingBreaches) {
  auto c = contract(kFirstReply);
  std::vector<core::Item> items{
      ticket("1", "2026-10-05T08:00:00Z", "2026-10-05T08:30:00Z"), ticket("2", "2026-10-05T09:00:00Z", "2026-10-05T09:10:00Z"),
      ticket("3", "2026-10-05T10:00:00Z", "2026-10-05T10:20:00Z"),
      ticket("4", "2026-10-06T08:00:00Z", std::nullopt),  // waiting, due 10:00 CEST +1h
      ticket("5", "2026-10-06T08:10:00Z", std::nullopt),
  };
  auto period = *period_by_label(c, office(), "2026-10");
  auto doc = evaluate_contract(c, office(), items, period, T("2026-10-06T08:20:00Z"));
  const auto& k = doc["kpis"][0];
  EXPECT_EQ(k["numerator"], 3);
  EXPECT_EQ(k["denominator"], 3);
  EXPECT_EQ(k["pending"].size(), 2u);
  EXPECT_EQ(k["pending"][0]["breach_at"], "2026-10-06T09:00:00Z");
  EXPECT_EQ(k["forecast"]["pending_due_in_period"], 2);
  EXPECT_EQ(k["forecast"]["value"], "60.00%");
  EXPECT_EQ(k["status"], "at_risk") << k.dump(2);
}

TEST(Evaluate, DeterministicWhateverTheInputOrder) {
  auto c = contract(kFirstReply);
  std::vector<core::Item> items;
  for (int i = 0; i < 40; ++i) {
    items.push_back(ticket(std::to_string(i), "2026-10-05T08:00:00Z", i % 3 ? "2026-10-05T08:30:00Z" : "2026-10-05T12:00:00Z"));
  }
  auto period = *period_by_label(c, office(), "2026-10");
  const std::string first = evaluate_contract(c, office(), items, period, T("2026-11-05T00:00:00Z")).dump();
  std::mt19937 rng(1);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(items.begin(), items.end(), rng);
    EXPECT_EQ(evaluate_contract(c, office(), items, period, T("2026-11-05T00:00:00Z")).dump(), first);
  }
  // The digest changes with the input.
  items[0].payload = R"({"agent_replies":["2026-10-05T08:31:00Z"]})";
  const auto changed = evaluate_contract(c, office(), items, period, T("2026-11-05T00:00:00Z"));
  EXPECT_NE(changed["input"]["digest"], nlohmann::json::parse(first)["input"]["digest"]);
}

TEST(Evaluate, TargetsShowAsWritten) {
  auto c = contract(
      "  - id: qa\n    source: surveys\n    measure: {mean: score}\n    objective: {target: \">= 85\", warning: \">= 87.5\"}\n"
      "  - id: share\n    source: surveys\n    measure: {ratio: score >= 4}\n    objective: {target: \">= 92.5%\"}\n");
  auto doc = evaluate_contract(c, office(), {}, *period_by_label(c, office(), "2026-10"), T("2026-11-05T00:00:00Z"));
  EXPECT_EQ(doc["kpis"][0]["target"], ">= 85");
  EXPECT_EQ(doc["kpis"][0]["warning"], ">= 87.5");
  EXPECT_EQ(doc["kpis"][1]["target"], ">= 92.50%");
}

TEST(Evaluate, RenderedTextSplicesEvidenceAndCannotBeForged) {
  // Text that looks like an evidence placeholder, in a description and in item ids, stays text.
  auto c = contract(
      "  - id: p1\n    description: 'x\":\"@0\" and \":\"@1'\n    source: tickets\n"
      "    measure: {ratio: first_reply <= 1h}\n    objective: {target: \">= 75%\"}\n");
  std::vector<core::Item> items{ticket("\":\"@0\"", "2026-10-05T08:00:00Z", "2026-10-05T12:00:00Z"),
                                 ticket("@1", "2026-10-06T08:00:00Z", std::nullopt),
                                 ticket("ok", "2026-10-06T08:00:00Z", "2026-10-06T08:10:00Z")};
  PeriodState state(c, office(), *period_by_label(c, office(), "2026-10"), T("2026-10-06T08:30:00Z"));
  for (const auto& i : items) state.upsert(i);
  const auto rendered = state.render_document();
  const auto doc = nlohmann::json::parse(rendered.text);
  EXPECT_EQ(doc.dump(), rendered.text);  // compact, keys sorted: the stored form
  const auto& k = doc["kpis"][0];
  EXPECT_EQ(k["description"], "x\":\"@0\" and \":\"@1");
  ASSERT_EQ(k["evidence"].size(), 1u);
  EXPECT_EQ(k["evidence"][0]["id"], "\":\"@0\"");
  ASSERT_EQ(k["pending"].size(), 1u);
  EXPECT_EQ(k["pending"][0]["id"], "@1");
  EXPECT_EQ(k["pending"][0]["breach_at"], "2026-10-06T09:00:00Z");
  EXPECT_EQ(rendered.skeleton["kpis"][0]["status"], k["status"]);
}

TEST(Evaluate, WilsonInterval) {
  auto [lo, hi] = wilson_interval(0, 0);
  EXPECT_EQ(lo, 0.0);
  EXPECT_EQ(hi, 1.0);
  auto [l2, h2] = wilson_interval(3, 3);
  EXPECT_NEAR(l2, 0.4385, 1e-4);  // three out of three is far from proof of 100 %
  EXPECT_NEAR(h2, 1.0, 1e-9);
  auto [l3, h3] = wilson_interval(950, 1000);
  EXPECT_NEAR(l3, 0.9346, 1e-4);
  EXPECT_NEAR(h3, 0.9619, 1e-4);
}

TEST(Evaluate, UndecidedConditionsAreNeitherGoodNorBad) {
  auto c = contract(
      "  - id: slow\n    source: tickets\n    measure: {ratio: first_reply > 2h}\n    objective: {target: \"<= 50%\"}\n");
  std::vector<core::Item> items{ticket("1", "2026-10-05T08:00:00Z", std::nullopt)};
  auto period = *period_by_label(c, office(), "2026-10");
  // One business hour in, still waiting: first_reply > 2h is not decided yet.
  auto early = evaluate_contract(c, office(), items, period, T("2026-10-05T09:00:00Z"));
  EXPECT_EQ(early["kpis"][0]["denominator"], 0);
  // Three business hours in: it is, whatever happens next.
  auto late = evaluate_contract(c, office(), items, period, T("2026-10-05T11:00:00Z"));
  EXPECT_EQ(late["kpis"][0]["numerator"], 1);
  EXPECT_EQ(late["kpis"][0]["denominator"], 1);
}

// The chart's target line is drawn in the units of the values it is drawn against
// (KpiResult::plotted): a percentage for ratios, seconds for durations, units for numbers and money.
TEST(PlottedTarget, IsInTheUnitsOfThePlottedValues) {
  struct Case {
    const char* kpi;
    std::optional<PlotTarget> expected;
  };
  const Case cases[] = {
      {"  - id: k\n    source: tickets\n    measure: {ratio: first_reply <= 1h}\n    objective: {target: \">= 75%\"}\n",
       PlotTarget{true, 75.0}},
      {"  - id: k\n    source: tickets\n    measure: {ratio: first_reply <= 1h}\n    objective: {target: \"< 5%\"}\n",
       PlotTarget{false, 5.0}},
      {"  - id: k\n    source: tickets\n    measure: {percentile: 90, of: resolution}\n    objective: {target: \"<= 16h\"}\n",
       PlotTarget{false, 57600.0}},
      {"  - id: k\n    source: surveys\n    measure: {mean: score}\n    objective: {target: \">= 4.5\"}\n", PlotTarget{true, 4.5}},
      {"  - id: k\n    source: events\n    measure: {count: true}\n    objective: {target: \"> 5\"}\n", PlotTarget{true, 5.0}},
      {"  - id: k\n    source: deals\n    measure: {sum: amount}\n    objective: {target: \">= EUR 150000.50\"}\n",
       PlotTarget{true, 150000.5}},
  };
  for (const auto& c : cases) {
    const auto version = contract(c.kpi);
    ASSERT_EQ(version.kpis.size(), 1u);
    const auto got = plotted_target(version.kpis[0]);
    ASSERT_EQ(got.has_value(), c.expected.has_value()) << c.kpi;
    if (got) {
      EXPECT_EQ(got->at_least, c.expected->at_least) << c.kpi;
      EXPECT_DOUBLE_EQ(got->value, c.expected->value) << c.kpi;
    }
  }
  // A value exactly at a ratio target is plotted on the line: 3 of 4 urgent tickets answered
  // within the hour against ">= 75%".
  auto c = contract(kFirstReply);
  std::vector<core::Item> items{ticket("1", "2026-10-05T08:00:00Z", "2026-10-05T08:10:00Z"),
                                ticket("2", "2026-10-05T08:00:00Z", "2026-10-05T08:20:00Z"),
                                ticket("3", "2026-10-05T08:00:00Z", "2026-10-05T08:30:00Z"),
                                ticket("4", "2026-10-05T08:00:00Z", "2026-10-05T12:00:00Z")};
  const auto window = period_by_label(c, office(), "2026-10");
  ASSERT_TRUE(window);
  const auto e = evaluate_period(c, office(), items, *window, T("2026-11-02T00:00:00Z"));
  ASSERT_EQ(e.kpis.size(), 1u);
  ASSERT_TRUE(e.kpis[0].plotted());
  EXPECT_DOUBLE_EQ(*e.kpis[0].plotted(), plotted_target(c.kpis[0])->value);
}

}  // namespace
}  // namespace pactwatch::engine
