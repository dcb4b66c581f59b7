// Exclusions (accepted disputes and corrections, docs/disputes.md "The money follows"): an
// excluded item no longer counts for the rules named, is listed with what excluded it, and the
// input digest covers the exclusions. The property test checks every rule of an evaluation with
// random exclusions against a reference: the same contract evaluated over the items that rule
// keeps, with no exclusion at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/engine/evaluation_json.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::engine {
namespace {

using core::Instant;
Instant T(const char* s) { return *core::parse_rfc3339(s); }

const calendar::Calendar& always() {
  static const calendar::Calendar cal = [] {
    auto spec = calendar::parse_calendar("timezone: UTC\nhours: {mon: [\"00:00-24:00\"], tue: [\"00:00-24:00\"], "
                                         "wed: [\"00:00-24:00\"], thu: [\"00:00-24:00\"], fri: [\"00:00-24:00\"], "
                                         "sat: [\"00:00-24:00\"], sun: [\"00:00-24:00\"]}\n",
                                         "always.yaml", ".");
    if (!spec) throw std::runtime_error("calendar");
    return *calendar::Calendar::compile(*spec);
  }();
  return cal;
}

const rules::ContractVersion& contract() {
  static const rules::ContractVersion c = [] {
    auto v = rules::parse_contract(
        "contract: c\nversion: 1\npartner: nw\neffective: {from: 2026-01-01}\ncurrency: EUR\ncalendar: always\n"
        "kpis:\n"
        "  - id: p1\n    source: tickets\n    where: priority == \"urgent\"\n    measure: {ratio: first_reply <= 1h}\n"
        "    objective: {target: \">= 75%\"}\n    min_sample: 2\n"
        "  - id: reply_p50\n    source: tickets\n    measure: {percentile: 50, of: first_reply}\n"
        "    objective: {target: \"<= 2h\"}\n"
        "  - id: volume\n    source: tickets\n    measure: {count: true}\n    objective: {target: \">= 3\"}\n"
        "brand_standards:\n"
        "  - {id: tone, source: tickets, each: 'reopens <= 2', severity: minor}\n",
        "c.yaml");
    if (!v) throw std::runtime_error(v.error()[0].to_string());
    return std::move(*v);
  }();
  return c;
}

core::Item ticket(const std::string& id, Instant created, int reply_minutes, const std::string& priority, int reopens) {
  core::Item i;
  i.source = "zendesk";
  i.external_id = id;
  i.kind = "tickets";
  i.partner_id = "nw";
  i.priority = priority;
  i.created_at = created;
  i.updated_at = created;
  i.payload = "{\"agent_replies\":[\"" + core::format_rfc3339(created + std::chrono::minutes(reply_minutes)) +
              "\"],\"reopens\":" + std::to_string(reopens) + "}";
  return i;
}

PeriodWindow october() { return *period_by_label(contract(), always(), "2026-10"); }
const Instant kAsOf = T("2026-11-03T00:00:00Z");

std::vector<core::Item> four_urgent() {
  return {ticket("1", T("2026-10-05T09:00:00Z"), 30, "urgent", 0), ticket("2", T("2026-10-06T09:00:00Z"), 200, "urgent", 3),
          ticket("3", T("2026-10-07T09:00:00Z"), 20, "urgent", 0), ticket("4", T("2026-10-14T14:00:00Z"), 300, "urgent", 0)};
}

Exclusion one(const std::string& by, const std::string& id, std::vector<std::string> rules) {
  Exclusion x;
  x.by = by;
  x.rules = std::move(rules);
  x.source = "zendesk";
  x.kind = "tickets";
  x.id = id;
  return x;
}

TEST(Exclusions, AnItemNoLongerCountsForTheNamedRuleOnlyAndIsListed) {
  const auto items = four_urgent();
  const auto plain = evaluate_period(contract(), always(), items, october(), kAsOf);
  EXPECT_EQ(plain.kpis[0].numerator, 2);
  EXPECT_EQ(plain.kpis[0].denominator, 4);
  EXPECT_EQ(plain.kpis[0].status, core::RuleStatus::breached);  // 50% < 75%

  const std::vector<Exclusion> xs{one("dispute 7", "2", {"p1"})};
  const auto e = evaluate_period(contract(), always(), items, october(), kAsOf, kMaxEvidence, xs);
  EXPECT_EQ(e.kpis[0].numerator, 2);
  EXPECT_EQ(e.kpis[0].denominator, 3);
  EXPECT_EQ(e.kpis[0].status, core::RuleStatus::breached);  // 66.67% < 75%
  ASSERT_EQ(e.kpis[0].excluded.items.shown.size(), 1u);
  EXPECT_EQ(e.kpis[0].excluded.items.shown[0], (ExcludedEntry{"dispute 7", "zendesk", "2"}));
  EXPECT_EQ(e.kpis[0].excluded.by, std::vector<std::string>{"dispute 7"});
  EXPECT_EQ(e.kpis[0].evidence.total, 1);  // ticket 4 only
  // Other rules are untouched, and say nothing of the exclusion.
  EXPECT_EQ(e.kpis[2].sample, 4);
  EXPECT_FALSE(e.kpis[2].excluded.any());
  EXPECT_EQ(e.brand_standards[0].violations.total, 1);  // ticket 2 reopened 3 times still counts for tone
  // The digest covers the exclusion; the document lists it and reads back the same.
  EXPECT_NE(e.input_digest, plain.input_digest);
  EXPECT_EQ(e.input_items, plain.input_items);
  const std::string text = render_evaluation(e);
  const auto back = parse_evaluation(text);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(render_evaluation(*back), text);
  const auto doc = nlohmann::json::parse(text);
  EXPECT_EQ(doc["input"]["exclusions"][0]["by"], "dispute 7");
  EXPECT_EQ(doc["input"]["exclusions"][0]["item"]["id"], "2");
  EXPECT_EQ(doc["kpis"][0]["excluded"]["items"], 1);
  EXPECT_FALSE(doc["kpis"][1].contains("excluded"));
  // Without exclusions the document is what it always was: no new field.
  EXPECT_FALSE(nlohmann::json::parse(render_evaluation(plain))["input"].contains("exclusions"));

  // Excluding both failures meets the target; the order exclusions are given in does not matter.
  const std::vector<Exclusion> two{one("dispute 9", "4", {"p1"}), one("dispute 7", "2", {"p1"})};
  const std::vector<Exclusion> swapped{two[1], two[0]};
  const auto met = evaluate_period(contract(), always(), items, october(), kAsOf, kMaxEvidence, two);
  EXPECT_EQ(met.kpis[0].status, core::RuleStatus::met);
  EXPECT_EQ(render_evaluation(met), render_evaluation(evaluate_period(contract(), always(), items, october(), kAsOf, kMaxEvidence, swapped)));
}

TEST(Exclusions, ACorrectionWindowExcludesItemsCreatedInItFromEachNamedRule) {
  const auto items = four_urgent();
  Exclusion w;
  w.by = "correction 1";
  w.rules = {"p1", "tone"};
  w.created_from = T("2026-10-06T00:00:00Z");
  w.created_until = T("2026-10-07T09:00:00Z");  // ticket 3 was created at the end: not in it
  const std::vector<Exclusion> xs{w};
  const auto e = evaluate_period(contract(), always(), items, october(), kAsOf, kMaxEvidence, xs);
  EXPECT_EQ(e.kpis[0].denominator, 3);
  EXPECT_EQ(e.brand_standards[0].violations.total, 0);
  EXPECT_EQ(e.brand_standards[0].checked, 3);
  EXPECT_EQ(e.brand_standards[0].excluded.items.total, 1);
  EXPECT_EQ(e.kpis[2].sample, 4);  // volume is not named

  // A window of another month that holds none of the items is not applied: the document and its
  // digest are those without it.
  Exclusion far = w;
  far.created_from = T("2026-12-01T00:00:00Z");
  far.created_until = T("2026-12-02T00:00:00Z");
  const std::vector<Exclusion> none{far};
  const auto unaffected = evaluate_period(contract(), always(), items, october(), kAsOf, kMaxEvidence, none);
  EXPECT_EQ(render_evaluation(unaffected), render_evaluation(evaluate_period(contract(), always(), items, october(), kAsOf)));
}

TEST(Exclusions, AWholeRuleIsWaivedAsInsufficientDataEvenForATotal) {
  const auto items = four_urgent();
  Exclusion whole;
  whole.by = "dispute 3";
  whole.rules = {"volume"};
  const std::vector<Exclusion> xs{whole};
  // The period still open: a count under its target would be at risk, or breached at the end.
  const auto e = evaluate_period(contract(), always(), {items.begin(), items.begin() + 2}, october(), kAsOf,
                                 kMaxEvidence, xs);
  EXPECT_EQ(e.kpis[2].status, core::RuleStatus::insufficient_data);
  EXPECT_TRUE(e.kpis[2].excluded.whole_rule);
  EXPECT_EQ(e.kpis[2].excluded.items.total, 2);
  EXPECT_EQ(e.kpis[2].sample, 0);
  const auto text = render_evaluation(e);
  EXPECT_EQ(render_evaluation(*parse_evaluation(text)), text);
  // A waived standard is neither met nor breached either.
  whole.rules = {"tone"};
  const std::vector<Exclusion> standard{whole};
  const auto s = evaluate_period(contract(), always(), items, october(), kAsOf, kMaxEvidence, standard);
  EXPECT_EQ(s.brand_standards[0].status(), core::RuleStatus::insufficient_data);
  EXPECT_EQ(s.brand_standards[0].violations.total, 0);
  EXPECT_EQ(nlohmann::json::parse(render_evaluation(s))["brand_standards"][0]["status"], "insufficient_data");
}

TEST(Exclusions, MalformedExclusionsAreRefusedWhenReadBack) {
  EXPECT_FALSE(exclusion_from_json(nlohmann::json::parse(R"({"by":"x","rules":["p1"]})")));
  EXPECT_FALSE(exclusion_from_json(nlohmann::json::parse(R"({"by":"x","rules":["p1"],"item":{"source":"a","kind":"tickets","id":""}})")));
  EXPECT_FALSE(exclusion_from_json(nlohmann::json::parse(R"({"by":"x","rules":"p1","whole_rule":true})")));
  EXPECT_TRUE(exclusion_from_json(nlohmann::json::parse(R"({"by":"x","rules":["p1"],"whole_rule":true})")));
}

// The reference: whether an exclusion leaves out an item, from the item itself.
bool ref_excludes(const Exclusion& x, const core::Item& i) {
  if (!x.id.empty()) return x.source == i.source && x.kind == i.kind && x.id == i.external_id;
  if (x.created_from) return i.created_at && *i.created_at >= *x.created_from && (!x.created_until || *i.created_at < *x.created_until);
  return true;
}

TEST(ExclusionsProperty, EachRuleEqualsTheEvaluationOfTheItemsItKeeps) {
  std::mt19937 rng(20261203);
  const std::vector<std::string> rule_ids{"p1", "reply_p50", "volume", "tone"};
  for (int round = 0; round < 300; ++round) {
    std::vector<core::Item> items;
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      // On a coarse grid (one instant a day), so that items fall on windows' edges often.
      const auto created = T("2026-09-28T08:00:00Z") + std::chrono::days(rng() % 40);
      items.push_back(ticket(std::to_string(i), created, static_cast<int>(rng() % 240), rng() % 3 ? "urgent" : "low",
                             static_cast<int>(rng() % 4)));
    }
    std::vector<Exclusion> xs;
    const int m = static_cast<int>(rng() % 4);
    for (int j = 0; j < m; ++j) {
      Exclusion x;
      x.by = (rng() % 2 ? "dispute " : "correction ") + std::to_string(j);
      for (const auto& r : rule_ids) {
        if (rng() % 2) x.rules.push_back(r);
      }
      const auto shape = rng() % 6;
      if (shape < 3 && n > 0) {
        x.source = "zendesk";
        x.kind = "tickets";
        x.id = std::to_string(rng() % static_cast<unsigned>(n));
      } else if (shape < 5) {
        x.created_from = T("2026-09-28T08:00:00Z") + std::chrono::days(rng() % 40);
        if (rng() % 4) x.created_until = *x.created_from + std::chrono::days(1 + rng() % 8);
      }  // else: the whole rule
      xs.push_back(std::move(x));
    }
    const auto as_of = T("2026-10-20T00:00:00Z") + std::chrono::hours(rng() % (24 * 20));
    const auto e = evaluate_period(contract(), always(), items, october(), as_of, kMaxEvidence, xs);
    const auto text = render_evaluation(e);
    ASSERT_EQ(render_evaluation(*parse_evaluation(text)), text);
    for (std::size_t r = 0; r < rule_ids.size(); ++r) {
      const auto& id = rule_ids[r];
      std::vector<core::Item> kept;
      bool whole = false;
      for (const auto& x : xs) {
        if (std::find(x.rules.begin(), x.rules.end(), id) != x.rules.end() && x.whole_rule()) whole = true;
      }
      for (const auto& i : items) {
        const bool out = std::any_of(xs.begin(), xs.end(), [&](const Exclusion& x) {
          return std::find(x.rules.begin(), x.rules.end(), id) != x.rules.end() && ref_excludes(x, i);
        });
        if (!out) kept.push_back(i);
      }
      const auto ref = evaluate_period(contract(), always(), kept, october(), as_of);
      SCOPED_TRACE("round " + std::to_string(round) + " rule " + id);
      if (r < 3) {
        const auto& got = e.kpis[r];
        const auto& want = ref.kpis[r];
        EXPECT_EQ(got.numerator, want.numerator);
        EXPECT_EQ(got.denominator, want.denominator);
        EXPECT_EQ(got.sample, want.sample);
        EXPECT_EQ(value_json(got), value_json(want));
        EXPECT_EQ(got.evidence.total, want.evidence.total);
        EXPECT_EQ(got.pending.total, want.pending.total);
        EXPECT_EQ(got.status, whole ? core::RuleStatus::insufficient_data : want.status);
        // Every excluded item is one that counted for the rule without the exclusions.
        const auto all = evaluate_period(contract(), always(), items, october(), as_of);
        auto counted = [](const KpiResult& k) {
          if (k.is_ratio()) return k.denominator + k.pending.total;
          return k.measure == rules::MeasureKind::count ? k.sample : k.sample + k.missing_values + k.running;
        };
        EXPECT_EQ(got.excluded.items.total, counted(all.kpis[r]) - counted(want));
      } else {
        EXPECT_EQ(e.brand_standards[0].checked, ref.brand_standards[0].checked);
        EXPECT_EQ(e.brand_standards[0].pending, ref.brand_standards[0].pending);
        EXPECT_EQ(e.brand_standards[0].violations.total, ref.brand_standards[0].violations.total);
      }
    }
  }
}

}  // namespace
}  // namespace pactwatch::engine
