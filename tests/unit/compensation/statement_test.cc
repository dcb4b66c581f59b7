// The worked examples of docs/compensation.md, each amount checked to the cent, and properties
// over random schemes: lines always sum to the total, credits never exceed the at-risk amount.
#include "pactwatch/compensation/statement.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "pactwatch/calendar/calendar_file.h"

namespace pactwatch::compensation {
namespace {

using core::Instant;
using nlohmann::json;
Instant T(const char* s) { return *core::parse_rfc3339(s); }

const calendar::Calendar& paris() {
  static const calendar::Calendar cal = [] {
    auto spec = calendar::parse_calendar("timezone: Europe/Paris\nhours: {mon: [\"09:00-17:00\"]}\n", "paris.yaml", ".");
    return *calendar::Calendar::compile(*spec);
  }();
  return cal;
}

const char* kKpis =
    "kpis:\n"
    "  - {id: p1, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 95%\"}, weight: 20}\n"
    "  - {id: sl, source: tickets, measure: {ratio: first_reply <= 4h}, objective: {target: \">= 80%\"}, weight: 20}\n"
    "  - {id: fcr, source: tickets, measure: {ratio: reopens == 0}, objective: {target: \">= 70%\"}, weight: 10}\n"
    "  - {id: csat, source: surveys, measure: {ratio: score >= 4}, objective: {target: \">= 90%\"}, weight: 50}\n"
    "brand_standards:\n"
    "  - {id: pci, source: tickets, each: 'not (\"card\" in tags)', severity: critical}\n"
    "  - {id: tone, source: tickets, each: 'reopens <= 2', severity: minor}\n"
    "obligations:\n"
    "  - {id: ack, source: tickets, measure: {ratio: brand_ack <= 4h}, objective: {target: \">= 95%\"}}\n";

rules::ContractVersion contract(const std::string& compensation, const std::string& currency = "EUR",
                                const std::string& effective = "{from: 2026-01-01}") {
  auto c = rules::parse_contract("contract: c\nversion: 1\npartner: nw\neffective: " + effective + "\ncurrency: " +
                                     currency + "\ncalendar: paris\n" + kKpis + "compensation:\n" + compensation,
                                 "c.yaml");
  if (!c) throw std::runtime_error(c.error()[0].to_string());
  return std::move(*c);
}

PeriodResults results(std::map<std::string, std::string> statuses = {}, std::map<std::string, core::Ratio> shares = {}) {
  PeriodResults r;
  r.input_digest = "d";
  for (const auto* id : {"p1", "sl", "fcr", "csat"}) {
    RuleResult k{id, *core::parse_rule_status(statuses.contains(id) ? statuses[id] : "met"), std::nullopt, std::nullopt};
    if (shares.contains(id)) k.share = shares[id];
    else k.share = core::Ratio{1, 1};
    r.kpis.push_back(k);
  }
  r.kpis[0].weight = core::Ratio{20, 1};
  r.kpis[1].weight = core::Ratio{20, 1};
  r.kpis[2].weight = core::Ratio{10, 1};
  r.kpis[3].weight = core::Ratio{50, 1};
  r.obligations.push_back({"ack", *core::parse_rule_status(statuses.contains("ack") ? statuses["ack"] : "met"), std::nullopt, std::nullopt});
  r.standards.push_back({"pci", "critical", 0});
  r.standards.push_back({"tone", "minor", 0});
  return r;
}

Statement run(const rules::ContractVersion& c, PeriodResults r, const char* period = "2026-10",
              std::span<const core::Item> deals = {}, const char* as_of = "2026-11-02T00:00:00Z") {
  StatementInput in;
  in.contract = &c;
  in.calendar = &paris();
  in.period = *engine::period_by_label(c, paris(), period);
  in.as_of = T(as_of);
  in.results = std::move(r);
  in.deals = deals;
  return compute_statement(in);
}

std::vector<std::string> amounts(const Statement& s, std::string_view kind) {
  std::vector<std::string> out;
  for (const auto& l : s.lines) {
    if (l.kind == kind) out.push_back(l.amount.to_decimal());
  }
  return out;
}

core::Item deal(const std::string& id, const char* amount_minor_text, const char* closed, const char* refunded = nullptr,
                 bool won = true, const char* currency = "EUR") {
  core::Item d;
  d.source = "crm";
  d.external_id = id;
  d.kind = "deals";
  d.partner_id = "nw";
  d.amount_minor = std::stoll(amount_minor_text);
  d.currency = currency;
  d.created_at = T(closed);
  d.updated_at = T(closed);
  json p{{"closed_at", closed}, {"won", won}};
  if (refunded) p["refunded_at"] = refunded;
  d.payload = p.dump();
  return d;
}

// The test's own replay of a line's derivation steps, written from docs/compensation.md
// ("Derivations"), not from the engine: each step redone from its operands (amounts written out,
// or the results of earlier steps as redone here); the last result must be the line's amount.
std::string replay(const json& line, core::Currency cur) {
  const auto& d = line.at("derivation");
  if (!d.contains("steps") || d["steps"].empty()) return "no steps";
  std::vector<core::Money> redone;
  auto operand = [&](const json& v) {
    if (v.is_number_integer()) return redone.at(static_cast<std::size_t>(v.get<int>() - 1));
    return *core::Money::parse(v.get<std::string>(), cur);
  };
  for (const auto& s : d["steps"]) {
    const auto op = s["op"].get<std::string>();
    core::Money r = core::Money::zero(cur);
    if (op == "given") r = operand(s["value"]);
    else if (op == "multiply") r = operand(s["of"]).multiply(*core::Ratio::parse(s["by"].get<std::string>()), *core::parse_rounding(s["rounding"].get<std::string>()));
    else if (op == "sum") for (const auto& v : s["of"]) r += operand(v);
    else if (op == "subtract") r = operand(s["of"]) - operand(s["minus"]);
    else if (op == "negate") r = -operand(s["of"]);
    else if (op == "allocate") {
      std::vector<std::int64_t> w;
      for (const auto& x : s["weights"]) w.push_back(operand(x).minor_units());
      r = operand(s["total"]).allocate(w).at(s["index"].get<std::size_t>());
    } else return "unknown op " + op;
    if (r.to_decimal() != s["result"]) return "step " + s["step"].dump() + " redoes to " + r.to_decimal() + ", says " + s["result"].dump();
    if (s["step"] != static_cast<int>(redone.size()) + 1) return "steps out of order";
    redone.push_back(r);
  }
  if (redone.back().to_decimal() != line["amount"]) return "the steps end at " + redone.back().to_decimal() + ", the line says " + line["amount"].dump();
  return "";
}

TEST(Statement, BaseFeeProratedByDaysInEffect) {
  // 12,000.00 a month; the contract starts on 10 October: 22 of 31 days.
  auto c = contract("  base: {fixed: \"12000.00\"}\n", "EUR", "{from: 2026-10-10}");
  auto s = run(c, results());
  EXPECT_EQ(amounts(s, "base"), std::vector<std::string>{"8516.13"});  // 8516.129032… half-even
  EXPECT_EQ(s.lines[0].derivation["exact"], "8516.129032…");
  EXPECT_EQ(s.lines[0].derivation["rounding"], "half_even");
  EXPECT_EQ(s.total.to_decimal(), "8516.13");
  // A whole month is not prorated; no proration when it is switched off.
  EXPECT_EQ(amounts(run(contract("  base: {fixed: \"12000.00\"}\n"), results()), "base")[0], "12000.00");
  EXPECT_EQ(amounts(run(contract("  base: {fixed: \"12000.00\", prorate: false}\n", "EUR", "{from: 2026-10-10}"), results()), "base")[0],
            "12000.00");
}

TEST(Statement, ZeroAndThreeDecimalCurrencies) {
  auto jpy = contract("  base: {fixed: \"1000000\"}\n", "JPY", "{from: 2026-10-10}");
  EXPECT_EQ(amounts(run(jpy, results()), "base")[0], "709677");  // 709,677.419… yen
  auto bhd = contract("  base: {fixed: \"1000.000\"}\n", "BHD", "{from: 2026-10-10}");
  EXPECT_EQ(amounts(run(bhd, results()), "base")[0], "709.677");  // 709.677419… dinars
  // Amounts with more decimals than the currency has are refused when the contract loads.
  EXPECT_FALSE(rules::parse_contract(std::string("contract: c\nversion: 1\npartner: nw\neffective: {from: 2026-01-01}\n"
                                                 "currency: JPY\ncalendar: paris\n") + kKpis +
                                         "compensation:\n  base: {fixed: \"10.5\"}\n",
                                     "c.yaml"));
}

TEST(Statement, BonusHighestTierOnTheWeightedScore) {
  auto c = contract(
      "  bonus:\n    on: score\n    tiers:\n      - {at: \">= 75%\", pays: \"1000.00\"}\n"
      "      - {at: \">= 90%\", pays: \"2500.00\"}\n");
  // sl (weight 20) breached: 80 of 100 -> 80 %, the first tier.
  auto s = run(c, results({{"sl", "breached"}}));
  EXPECT_EQ(amounts(s, "bonus"), std::vector<std::string>{"1000.00"});
  EXPECT_EQ(s.lines[0].derivation["value"], "80.00%");
  // Everything met: 100 %, the top tier. Insufficient data leaves a KPI out of the score.
  EXPECT_EQ(amounts(run(c, results()), "bonus")[0], "2500.00");
  EXPECT_EQ(amounts(run(c, results({{"sl", "insufficient_data"}})), "bonus")[0], "2500.00");
  // Warning and at_risk count as met; breached p1 + sl: 60 % reaches no tier.
  EXPECT_EQ(amounts(run(c, results({{"p1", "breached"}, {"sl", "breached"}})), "bonus")[0], "0.00");
}

TEST(Statement, MarginalBonusPaysPerPointInsideEachTier) {
  auto c = contract(
      "  bonus:\n    on: csat\n    mode: marginal\n    tiers:\n      - {from: 90%, per_point: \"100.00\"}\n"
      "      - {from: 95%, per_point: \"250.00\"}\n");
  // CSAT 97.5 % (39/40): 5 points in the first tier, 2.5 in the second.
  auto s = run(c, results({}, {{"csat", core::Ratio{39, 40}}}));
  EXPECT_EQ(amounts(s, "bonus"), (std::vector<std::string>{"500.00", "625.00"}));
  EXPECT_EQ(s.total.to_decimal(), "1125.00");
  EXPECT_EQ(s.lines[1].derivation["points_in_tier"], "2.5");
  EXPECT_EQ(s.lines[1].derivation["formula"], "250.00 × 2.5 points");
  // 92.3 % (923/1000): 2.3 points of the first tier only.
  EXPECT_EQ(amounts(run(c, results({}, {{"csat", core::Ratio{923, 1000}}})), "bonus"), std::vector<std::string>{"230.00"});
  // Below the first tier: nothing.
  EXPECT_EQ(amounts(run(c, results({}, {{"csat", core::Ratio{85, 100}}})), "bonus"), std::vector<std::string>{"0.00"});
}

TEST(Statement, ServiceCreditsCappedAtTheAtRiskAmountByLargestRemainder) {
  auto c = contract(
      "  base: {fixed: \"10000.00\"}\n  service_credits:\n    at_risk: 10%\n"
      "    allocations: {p1: 50%, sl: 40%, csat: 30%}\n");
  // Two missed: 500.00 + 400.00, under the 1,000.00 at risk.
  auto two = run(c, results({{"p1", "breached"}, {"sl", "breached"}}));
  EXPECT_EQ(amounts(two, "credit"), (std::vector<std::string>{"-500.00", "-400.00"}));
  EXPECT_EQ(two.total.to_decimal(), "9100.00");
  EXPECT_EQ(two.lines[1].derivation["formula"], "1000.00 × 50%");
  EXPECT_EQ(two.lines[1].derivation["at_risk"], "10% of the base 10000.00");
  // Three missed: 1,200.00 of credits, capped at 1,000.00 split 5:4:3 by largest remainder.
  auto three = run(c, results({{"p1", "breached"}, {"sl", "breached"}, {"csat", "breached"}}));
  EXPECT_EQ(amounts(three, "credit"), (std::vector<std::string>{"-416.67", "-333.33", "-250.00"}));
  EXPECT_EQ(three.total.to_decimal(), "9000.00");
  EXPECT_EQ(three.lines[1].derivation["uncapped"], "500.00");
  // At risk or insufficient data is not a miss.
  EXPECT_TRUE(amounts(run(c, results({{"p1", "at_risk"}, {"sl", "insufficient_data"}})), "credit").empty());
}

TEST(Statement, CreditBandsLikeACloudSla) {
  auto c = contract(
      "  base: {fixed: \"10000.00\"}\n  credit_bands:\n    kpi: sl\n    bands:\n"
      "      - {below: 99.9%, credit: 10%}\n      - {below: 99%, credit: 25%}\n      - {below: 95%, credit: 100%}\n");
  EXPECT_EQ(amounts(run(c, results({}, {{"sl", core::Ratio{987, 1000}}})), "credit_band"), std::vector<std::string>{"-2500.00"});
  EXPECT_EQ(amounts(run(c, results({}, {{"sl", core::Ratio{9995, 10000}}})), "credit_band"), std::vector<std::string>{});
  EXPECT_EQ(amounts(run(c, results({}, {{"sl", core::Ratio{9985, 10000}}})), "credit_band"), std::vector<std::string>{"-1000.00"});
  // Exactly at a bound is not below it.
  EXPECT_EQ(amounts(run(c, results({}, {{"sl", core::Ratio{999, 1000}}})), "credit_band"), std::vector<std::string>{});
  EXPECT_EQ(amounts(run(c, results({}, {{"sl", core::Ratio{90, 100}}})), "credit_band"), std::vector<std::string>{"-10000.00"});
}

TEST(Statement, EarnBackReturnsACreditWhenTheKpiWasMetSince) {
  auto c = contract(
      "  base: {fixed: \"10000.00\"}\n  service_credits:\n    at_risk: 10%\n    allocations: {p1: 50%}\n"
      "    earn_back_after: 2\n");
  StatementInput in;
  in.contract = &c;
  in.calendar = &paris();
  in.period = *engine::period_by_label(c, paris(), "2026-09");
  in.as_of = T("2026-10-02T00:00:00Z");
  in.results = results();
  const auto eur = *core::Currency::from_code("EUR");
  in.earn_back.push_back({"2026-07", "p1", core::Money(50000, eur), true});
  in.earn_back.push_back({"2026-07", "sl", core::Money(1000, eur), false});
  auto s = compute_statement(in);
  EXPECT_EQ(amounts(s, "earn_back"), std::vector<std::string>{"500.00"});
  EXPECT_EQ(s.total.to_decimal(), "10500.00");
}

TEST(Statement, CriticalBreachGatesTheBonus) {
  auto c = contract(
      "  base: {fixed: \"5000.00\"}\n  bonus:\n    tiers:\n      - {at: \">= 90%\", pays: \"1000.00\"}\n"
      "  gates:\n    - {severity: critical, voids: bonus}\n");
  auto r = results();
  r.standards[0].violations = 1;
  auto s = run(c, r);
  EXPECT_EQ(amounts(s, "bonus"), std::vector<std::string>{"1000.00"});
  EXPECT_EQ(amounts(s, "gate"), std::vector<std::string>{"-1000.00"});
  EXPECT_EQ(s.total.to_decimal(), "5000.00");
  // A minor violation does not trip a critical gate.
  auto minor = results();
  minor.standards[1].violations = 3;
  EXPECT_TRUE(amounts(run(c, minor), "gate").empty());
}

TEST(Statement, CommissionInVolumeTiersAndClawbackOfARefundedDeal) {
  auto c = contract(
      "  base:\n    deal_share:\n      where: won == true\n      tiers:\n        - {from: \"0.00\", rate: 15%}\n"
      "        - {from: \"5000.00\", rate: 18%}\n        - {from: \"15000.00\", rate: 22%}\n"
      "  clawback: {within: 30d}\n");
  std::vector<core::Item> deals{
      deal("d1", "1200000", "2026-09-05T10:00:00Z"),
      deal("d2", "800000", "2026-09-20T10:00:00Z", "2026-10-05T10:00:00Z"),  // refunded 15 days later
      deal("d3", "999900", "2026-09-21T10:00:00Z", nullptr, false),           // lost: does not count
      deal("d4", "50000", "2026-09-22T10:00:00Z", nullptr, true, "USD"),     // another currency: reported
  };
  // September: 20,000.00 of volume: 5,000 × 15 % + 10,000 × 18 % + 5,000 × 22 % = 3,650.00.
  auto sep = run(c, results(), "2026-09", deals, "2026-10-01T00:00:00Z");
  EXPECT_EQ(amounts(sep, "commission"), std::vector<std::string>{"3650.00"});
  EXPECT_EQ(sep.lines[0].derivation["skipped"].size(), 1u);
  // October: the refund of d2 reverses its commission at the 22 % marginal rate it earned.
  auto oct = run(c, results(), "2026-10", deals);
  EXPECT_EQ(amounts(oct, "clawback"), std::vector<std::string>{"-1760.00"});
  EXPECT_EQ(oct.lines.back().derivation["original_period"], "2026-09");
  // A refund after the clawback window keeps the commission.
  deals[1] = deal("d2", "800000", "2026-09-20T10:00:00Z", "2026-10-25T10:00:00Z");
  EXPECT_TRUE(amounts(run(c, results(), "2026-10", deals), "clawback").empty());
}

TEST(Statement, MinimumPayoutCarriesForwardCapAndFloorBoundTheTotal) {
  auto c = contract("  base: {fixed: \"80.00\"}\n  minimum_payout: \"100.00\"\n");
  auto s = run(c, results());
  EXPECT_EQ(s.total.to_decimal(), "0.00");
  EXPECT_EQ(s.carry_out.to_decimal(), "80.00");
  EXPECT_EQ(s.own.to_decimal(), "80.00");
  StatementInput in;
  in.contract = &c;
  in.calendar = &paris();
  in.period = *engine::period_by_label(c, paris(), "2026-11");
  in.as_of = T("2026-12-02T00:00:00Z");
  in.results = results();
  in.carry_in = s.carry_out;
  in.carry_in_from = "2026-10";
  auto next = compute_statement(in);
  EXPECT_EQ(amounts(next, "carry_forward_in"), std::vector<std::string>{"80.00"});
  EXPECT_EQ(next.total.to_decimal(), "160.00");

  auto capped = contract("  base: {fixed: \"30000.00\"}\n  cap: \"20000.00\"\n");
  EXPECT_EQ(amounts(run(capped, results()), "cap"), std::vector<std::string>{"-10000.00"});
  auto floored = contract(
      "  base: {fixed: \"1000.00\"}\n  service_credits:\n    at_risk: \"5000.00\"\n    allocations: {p1: 100%}\n"
      "  floor: \"0.00\"\n");
  auto f = run(floored, results({{"p1", "breached"}}));
  EXPECT_EQ(amounts(f, "floor"), std::vector<std::string>{"4000.00"});
  EXPECT_EQ(f.total.to_decimal(), "0.00");
}

TEST(Statement, ABreachedBrandObligationPaysThePartner) {
  auto c = contract("  reciprocity:\n    - {obligation: ack, pays: \"500.00\"}\n");
  EXPECT_EQ(amounts(run(c, results({{"ack", "breached"}})), "reciprocity"), std::vector<std::string>{"500.00"});
  EXPECT_TRUE(amounts(run(c, results()), "reciprocity").empty());
}

TEST(Statement, WhatIfRecomputesStatusesFromValues) {
  auto c = contract("  bonus:\n    on: csat\n    tiers:\n      - {at: \">= 90%\", pays: \"1500.00\"}\n");
  auto r = results({{"csat", "breached"}}, {{"csat", core::Ratio{85, 100}}});
  EXPECT_EQ(amounts(run(c, r), "bonus")[0], "0.00");
  ASSERT_TRUE(apply_what_if(r, c, {{"csat", "92%"}}));
  EXPECT_EQ(r.kpis[3].status, core::RuleStatus::met);
  EXPECT_EQ(amounts(run(c, r), "bonus")[0], "1500.00");
  EXPECT_FALSE(apply_what_if(r, c, {{"nps", "50%"}}));
  EXPECT_FALSE(apply_what_if(r, c, {{"csat", "4h"}}));  // a share, not a duration
}

TEST(Statement, SchemeErrorsNameTheProblemAndPlace) {
  auto bad = [](const std::string& block) {
    auto c = rules::parse_contract(std::string("contract: c\nversion: 1\npartner: nw\neffective: {from: 2026-01-01}\n"
                                               "currency: EUR\ncalendar: paris\n") + kKpis + "compensation:\n" + block,
                                   "c.yaml");
    return c ? std::string() : c.error()[0].to_string();
  };
  EXPECT_NE(bad("  service_credits: {at_risk: 10%, allocations: {nps: 10%}}\n  base: {fixed: \"1.00\"}\n").find("no KPI 'nps'"), std::string::npos);
  EXPECT_NE(bad("  bonus: {tiers: [{at: \"<= 90%\", pays: \"1.00\"}]}\n").find("lower bound"), std::string::npos);
  EXPECT_NE(bad("  base: {fixed: \"abc\"}\n").find("c.yaml:"), std::string::npos);
  EXPECT_NE(bad("  gates: [{standard: nope}]\n").find("no brand standard 'nope'"), std::string::npos);
  EXPECT_NE(bad("  credit_bands: {kpi: sl, bands: [{below: 95%, credit: 10%}, {below: 99%, credit: 5%}]}\n  base: {fixed: \"1.00\"}\n")
                .find("highest bound down"),
            std::string::npos);
  EXPECT_NE(bad("  bonuss: {}\n").find("did you mean 'bonus'"), std::string::npos);
  // Every tier list in the order its tiers are reached: the bonus, and each other list.
  EXPECT_EQ(bad("  bonus: {tiers: [{at: \">= 100%\", pays: \"3000.00\"}, {at: \">= 90%\", pays: \"1500.00\"}]}\n"),
            "c.yaml:18:58: compensation: bonus: tier 2 (at \">= 90%\") is out of order after tier 1 (at \">= 100%\"): tiers must be "
            "written in ascending order of 'at', each reached only past the one before (the highest tier reached pays)");
  EXPECT_NE(bad("  bonus: {on: csat, mode: marginal, tiers: [{from: 95%, per_point: \"1.00\"}, {from: 95%, per_point: \"2.00\"}]}\n")
                .find("tier 2 (from 95%) is out of order after tier 1 (from 95%)"),
            std::string::npos);
  EXPECT_NE(bad("  base: {deal_share: {tiers: [{from: \"0.00\", rate: 1%}, {from: \"0.00\", rate: 2%}]}}\n").find("tier 2 (from 0.00)"),
            std::string::npos);
  EXPECT_EQ(bad("  bonus: {tiers: [{at: \">= 90%\", pays: \"1.00\"}, {at: \"> 90%\", pays: \"2.00\"}]}\n").find("out of order"),
            std::string::npos);
  EXPECT_NE(bad("  cap: \"10.00\"\n  floor: \"20.00\"\n").find("below the floor"), std::string::npos);
}

// Every line kind shows the steps that produced its amount, and redoing them gives the amount.
TEST(Statement, EveryLineShowsTheStepsThatProduceItsAmount) {
  std::vector<Statement> all;
  // Prorated base, a bonus tier, capped credits, a credit band, a gate, a reciprocity credit,
  // an earn-back, an adjustment for a closed period, a carry-in and a cap.
  auto rich = contract(
      "  base: {fixed: \"10000.00\"}\n  bonus:\n    tiers:\n      - {at: \">= 5%\", pays: \"1000.00\"}\n"
      "  service_credits:\n    at_risk: 10%\n    allocations: {p1: 50%, sl: 40%, csat: 30%}\n    earn_back_after: 1\n"
      "  credit_bands:\n    kpi: fcr\n    bands: [{below: 99%, credit: 5%}, {below: 90%, credit: 15%}]\n"
      "  gates: [{severity: critical, voids: bonus}]\n  reciprocity: [{obligation: ack, pays: \"250.00\"}]\n"
      "  cap: \"5000.00\"\n",
      "EUR", "{from: 2026-10-10}");
  StatementInput in;
  in.contract = &rich;
  in.calendar = &paris();
  in.period = *engine::period_by_label(rich, paris(), "2026-10");
  in.as_of = T("2026-11-02T00:00:00Z");
  in.results = results({{"p1", "breached"}, {"sl", "breached"}, {"csat", "breached"}, {"ack", "breached"}},
                       {{"fcr", core::Ratio{87, 100}}});
  in.results.standards[0].violations = 2;
  const auto eur = *core::Currency::from_code("EUR");
  in.earn_back.push_back({"2026-09", "fcr", core::Money(12345, eur), true});
  in.adjustments.push_back({"2026-09", 1, core::Money(-4000, eur), "late data", core::Money(880000, eur), core::Money(880000 + 3000, eur),
                            core::Money(1000, eur)});
  in.carry_in = core::Money(7000, eur);
  in.carry_in_from = "2026-09";
  all.push_back(compute_statement(in));
  // A floor and a carry-forward below the minimum payout.
  auto floored = contract("  base: {fixed: \"1000.00\"}\n  service_credits:\n    at_risk: \"5000.00\"\n    allocations: {p1: 100%}\n"
                          "  floor: \"10.00\"\n  minimum_payout: \"100.00\"\n");
  all.push_back(run(floored, results({{"p1", "breached"}})));
  // Commission in volume tiers, a clawback, a marginal bonus.
  auto sales = contract(
      "  base:\n    deal_share:\n      tiers: [{from: \"0.00\", rate: 15%}, {from: \"5000.00\", rate: 18%}, {from: \"15000.00\", rate: 22%}]\n"
      "  clawback: {within: 30d}\n  bonus:\n    on: csat\n    mode: marginal\n"
      "    tiers: [{from: 90%, per_point: \"100.00\"}, {from: 95%, per_point: \"250.00\"}]\n");
  std::vector<core::Item> deals{deal("d1", "1200000", "2026-10-05T10:00:00Z"), deal("d2", "800000", "2026-09-20T10:00:00Z", "2026-10-05T10:00:00Z"),
                                 deal("d3", "999999", "2026-10-21T10:00:00Z")};
  all.push_back(run(sales, results({}, {{"csat", core::Ratio{39, 40}}}), "2026-10", deals));
  // JPY and BHD roundings.
  all.push_back(run(contract("  base: {fixed: \"1000000\"}\n", "JPY", "{from: 2026-10-10}"), results()));
  all.push_back(run(contract("  base: {fixed: \"1000.000\"}\n  service_credits: {at_risk: 7%, allocations: {p1: 33.3%}}\n", "BHD",
                             "{from: 2026-10-10}"),
                    results({{"p1", "breached"}})));

  std::set<std::string> kinds;
  for (const auto& st : all) {
    for (const auto& l : st.document["lines"]) {
      kinds.insert(l["kind"].get<std::string>());
      EXPECT_EQ(replay(l, st.currency), "") << l.dump(2);
    }
  }
  const std::set<std::string> every{"base", "commission", "bonus", "credit", "credit_band", "earn_back", "reciprocity", "gate",
                                    "clawback", "cap", "floor", "adjustment", "carry_forward_in", "carry_forward"};
  EXPECT_EQ(kinds, every);
}

// The capped credit of the issue: the derivation shows the cap and its largest-remainder split,
// not only "18000.00 × 100%".
TEST(Statement, ACappedCreditShowsTheCapAndTheSplit) {
  auto c = contract("  base: {fixed: \"100000.00\"}\n  service_credits:\n    at_risk: \"18000.00\"\n"
                    "    allocations: {p1: 100%, sl: 50%, csat: 20%}\n");
  auto s = run(c, results({{"p1", "breached"}, {"sl", "breached"}, {"csat", "breached"}}));
  // 18000 + 9000 + 3600 = 30600 > 18000: 18000 split 18000:9000:3600 is 10588.235…, 5294.117…,
  // 2117.647…; the two cents left go to the largest remainders (.7 and .5 of a cent).
  EXPECT_EQ(amounts(s, "credit"), (std::vector<std::string>{"-10588.23", "-5294.12", "-2117.65"}));
  const auto& steps = s.lines[1].derivation["steps"];
  ASSERT_EQ(steps.size(), 5u) << steps.dump(2);
  EXPECT_EQ(steps[0]["op"], "given");
  EXPECT_EQ(steps[0]["result"], "18000.00");
  EXPECT_EQ(steps[1]["formula"], "18000.00 × 100%");
  EXPECT_EQ(steps[2]["op"], "sum");
  EXPECT_EQ(steps[2]["result"], "30600.00");
  EXPECT_EQ(steps[3]["op"], "allocate");
  EXPECT_EQ(steps[3]["total"], 1);  // the at-risk amount of step 1
  EXPECT_EQ(steps[3]["weights"], (json{"18000.00", "9000.00", "3600.00"}));
  EXPECT_EQ(steps[3]["result"], "10588.23");
  EXPECT_EQ(steps[4]["result"], "-10588.23");
  EXPECT_EQ(replay(s.document["lines"][1], s.currency), "");
}

TEST(Statement, CsvCellsAreQuotedAndFormulasNeutralised) {
  EXPECT_EQ(csv_cell("northwind"), "northwind");
  EXPECT_EQ(csv_cell("-1500.00"), "-1500.00");  // a number stays a number
  EXPECT_EQ(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(csv_cell("+1+2"), "'+1+2");
  EXPECT_EQ(csv_cell("-2+3"), "'-2+3");
  EXPECT_EQ(csv_cell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_cell("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_cell("line\nbreak"), "\"line\nbreak\"");
}

// Properties over random schemes and results: every statement's lines sum to its total, and
// service credits never exceed the at-risk amount.
TEST(StatementProperty, LinesSumToTheTotalAndCreditsRespectTheCap) {
  std::mt19937 rng(20261125);
  const char* statuses[] = {"met", "warning", "at_risk", "breached", "insufficient_data"};
  for (int round = 0; round < 300; ++round) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const std::string base = std::to_string(pick(100000)) + "." + std::to_string(10 + pick(90));
    std::string scheme = "  rounding: " + std::string(pick(2) ? "half_even" : "half_up") + "\n  base: {fixed: \"" + base + "\"}\n";
    scheme += "  service_credits:\n    at_risk: " + std::to_string(1 + pick(20)) + "%\n    allocations: {p1: " +
              std::to_string(pick(100)) + "%, sl: " + std::to_string(pick(100)) + "%, csat: " + std::to_string(pick(100)) + "%}\n";
    scheme += "  bonus:\n    tiers:\n      - {at: \">= " + std::to_string(50 + pick(40)) + "%\", pays: \"" + std::to_string(pick(5000)) + ".00\"}\n";
    if (pick(2)) scheme += "  cap: \"" + std::to_string(pick(100000)) + ".00\"\n";
    if (pick(2)) scheme += "  minimum_payout: \"" + std::to_string(pick(2000)) + ".00\"\n";
    const std::string from = "2026-10-" + std::string(pick(2) ? "01" : std::to_string(10 + pick(20)));
    auto c = contract(scheme, "EUR", "{from: " + from + "}");
    std::map<std::string, std::string> st;
    for (const auto* id : {"p1", "sl", "fcr", "csat"}) st[id] = statuses[pick(5)];
    auto s = run(c, results(st));
    core::Money sum = core::Money::zero(s.currency), credits = core::Money::zero(s.currency);
    for (const auto& l : s.document["lines"]) {
      const auto m = *core::Money::parse(l["amount"].get<std::string>(), s.currency);
      sum += m;
      if (l["kind"] == "credit") credits += m;
    }
    ASSERT_EQ(sum.to_decimal(), s.document["total"].get<std::string>()) << scheme;
    for (const auto& l : s.document["lines"]) ASSERT_EQ(replay(l, s.currency), "") << scheme << l.dump(2);
    const auto base_line = *core::Money::parse(s.document["lines"][0]["amount"].get<std::string>(), s.currency);
    // Credits are negative and never larger than the at-risk share of the base.
    const auto share = c.compensation->credits->at_risk_share;
    const auto limit = base_line.multiply(*share, c.compensation->rounding);
    ASSERT_LE(-credits.minor_units(), limit.minor_units()) << scheme;
    ASSERT_LE(credits.minor_units(), 0);
  }
}

}  // namespace
}  // namespace pactwatch::compensation
