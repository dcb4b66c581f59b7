// Regressions of the independent evaluation audit (docs/evaluation.md states each rule): the solve
// instant `counted_by: solved` uses, durations shown as decided, typed measures independent of item
// order, percentile evidence worst first, the inputs a digest covers, and the periods an item
// re-evaluates.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::engine {
namespace {

using core::Instant;
using nlohmann::json;
Instant T(const char* s) { return *core::parse_rfc3339(s); }

const calendar::Calendar& always() {
  static const calendar::Calendar cal = [] {
    auto spec = calendar::parse_calendar("timezone: UTC\nhours: {mon: [\"00:00-24:00\"], tue: [\"00:00-24:00\"], "
                                         "wed: [\"00:00-24:00\"], thu: [\"00:00-24:00\"], fri: [\"00:00-24:00\"], "
                                         "sat: [\"00:00-24:00\"], sun: [\"00:00-24:00\"]}\n",
                                         "always.yaml", ".");
    return *calendar::Calendar::compile(*spec);
  }();
  return cal;
}

rules::ContractVersion contract(const std::string& rules_text) {
  auto c = rules::parse_contract("contract: c\nversion: 1\npartner: nw\neffective: {from: 2026-01-01}\ncurrency: EUR\n"
                                 "calendar: always\n" + rules_text,
                                 "c.yaml");
  if (!c) throw std::runtime_error(c.error()[0].to_string());
  return std::move(*c);
}

core::Item item(const std::string& kind, const std::string& id, const char* created, const std::string& payload,
                 std::optional<const char*> solved = std::nullopt) {
  core::Item i;
  i.source = "desk";
  i.external_id = id;
  i.kind = kind;
  i.partner_id = "nw";
  i.priority = "high";
  i.created_at = T(created);
  i.updated_at = T(created);
  if (solved) i.solved_at = T(*solved);
  i.payload = payload;
  return i;
}

json evaluate_month(const rules::ContractVersion& c, const std::vector<core::Item>& items, const char* label,
                    const char* as_of) {
  return evaluate_contract(c, always(), items, *period_by_label(c, always(), label), T(as_of));
}

const json& rule(const json& doc, const std::string& section, const std::string& id) {
  for (const auto& r : doc.at(section)) {
    if (r.at("id") == id) return r;
  }
  throw std::runtime_error("no rule " + id);
}

constexpr const char* kResolution =
    "kpis:\n"
    "  - id: resolution_p90\n    source: tickets\n    counted_by: solved\n    measure: {percentile: 90, of: resolution}\n"
    "    objective: {target: \"<= 8h\"}\n"
    "  - id: fcr\n    source: tickets\n    counted_by: solved\n    measure: {ratio: solved == true}\n"
    "    objective: {target: \">= 50%\"}\n";

// 1. A solve known only from the status history counts, as `solved` and the resolution timer see it.
TEST(AuditRegressions, CountedBySolvedReadsTheSolveFromTheHistory) {
  const auto c = contract(kResolution);
  const std::string history = R"({"agent_replies":["2026-10-05T08:10:00Z"],"status_history":[)"
                              R"({"at":"2026-10-05T08:00:00Z","status":"open"},{"at":"2026-10-05T12:00:00Z","status":"solved"}]})";
  std::vector<core::Item> items{item("tickets", "A", "2026-10-05T08:00:00Z", history),
                                 item("tickets", "B", "2026-10-05T08:00:00Z", history, "2026-10-05T12:00:00Z")};
  const auto doc = evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z");
  EXPECT_EQ(rule(doc, "kpis", "resolution_p90")["sample"], 2);
  EXPECT_EQ(rule(doc, "kpis", "fcr")["denominator"], 2);
  EXPECT_EQ(rule(doc, "kpis", "resolution_p90")["value"]["text"], "4h");
}

// 1. Solved before the as-of instant and re-solved after it: solved as of then, counted by that solve.
TEST(AuditRegressions, ASolveBeforeTheAsOfCountsEvenIfReSolvedLater) {
  const auto c = contract(kResolution);
  const std::string history = R"({"status_history":[{"at":"2026-10-05T08:00:00Z","status":"open"},)"
                              R"({"at":"2026-10-05T10:00:00Z","status":"solved"},{"at":"2026-11-05T09:00:00Z","status":"open"},)"
                              R"({"at":"2026-11-06T09:00:00Z","status":"solved"}]})";
  std::vector<core::Item> items{item("tickets", "A", "2026-10-05T08:00:00Z", history, "2026-11-06T09:00:00Z")};
  const auto oct = evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z");
  EXPECT_EQ(rule(oct, "kpis", "resolution_p90")["sample"], 1);
  EXPECT_EQ(rule(oct, "kpis", "resolution_p90")["value"]["text"], "2h");
  EXPECT_EQ(oct["input"]["items"], 1);
  // As of after the re-solve it counts in November by the new solve, no longer in October.
  const auto later_oct = evaluate_month(c, items, "2026-10", "2026-11-10T00:00:00Z");
  EXPECT_EQ(rule(later_oct, "kpis", "resolution_p90")["sample"], 0);
  EXPECT_EQ(later_oct["input"]["items"], 0);
  const auto nov = evaluate_month(c, items, "2026-11", "2026-11-10T00:00:00Z");
  EXPECT_EQ(rule(nov, "kpis", "resolution_p90")["sample"], 1);
  // And the instants it can count by (whatever the as-of instant) include that first solve.
  const auto early = core::counting_instants(items[0]);
  EXPECT_NE(std::find(early.begin(), early.end(), T("2026-10-05T10:00:00Z")), early.end());
}

// 2. A mean of durations is shown as it was decided: to the millisecond, half-even.
TEST(AuditRegressions, AMeanOfDurationsShowsTheMillisecondsItWasDecidedOn) {
  const auto c = contract(
      "kpis:\n  - id: handle\n    source: events\n    measure: {mean: duration}\n    objective: {target: \"<= 1s\"}\n");
  std::vector<core::Item> items{item("events", "1", "2026-10-05T08:00:00Z", R"({"name":"call","duration_seconds":1})"),
                                 item("events", "2", "2026-10-05T09:00:00Z", R"({"name":"call","duration_seconds":2})"),
                                 item("events", "3", "2026-10-05T10:00:00Z", R"({"name":"call","duration_seconds":2})")};
  const auto k = rule(evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z"), "kpis", "handle");
  EXPECT_EQ(k["value"]["milliseconds"], 1667);
  EXPECT_EQ(k["value"]["text"], "1.667s");
  EXPECT_EQ(k["value"]["seconds"].dump(), "1.667");
  EXPECT_EQ(k["status"], "breached");
}

// 3. A numeric measure over mixed values: labels are missing, decimal strings are numbers, and the
// result does not depend on item order.
TEST(AuditRegressions, MixedValuesAreTypedOneWayInEveryOrder) {
  const auto c = contract(
      "kpis:\n  - id: qa\n    source: surveys\n    measure: {mean: score}\n    objective: {target: \">= 4\"}\n"
      "  - id: good\n    source: surveys\n    measure: {ratio: score >= 4}\n    objective: {target: \">= 50%\"}\n");
  std::vector<core::Item> items{item("surveys", "a", "2026-10-05T08:00:00Z", R"({"score":5})"),
                                 item("surveys", "b", "2026-10-05T09:00:00Z", R"({"score":"good"})"),
                                 item("surveys", "c", "2026-10-05T10:00:00Z", R"({"score":"4.5"})")};
  const std::string first = evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z").dump();
  const auto doc = json::parse(first);
  EXPECT_EQ(rule(doc, "kpis", "qa")["value"], "4.75");
  EXPECT_EQ(rule(doc, "kpis", "qa")["sample"], 2);
  EXPECT_EQ(rule(doc, "kpis", "qa")["missing_values"], 1);
  EXPECT_EQ(rule(doc, "kpis", "good")["numerator"], 2);
  // Ids swapped, items reversed: the same document.
  std::swap(items[0].external_id, items[1].external_id);
  std::reverse(items.begin(), items.end());
  const auto swapped = evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z");
  EXPECT_EQ(rule(swapped, "kpis", "qa")["value"], "4.75");
  EXPECT_EQ(rule(swapped, "kpis", "qa")["missing_values"], 1);
}

// 5. Percentile evidence lists the worst values first, whatever the store order.
TEST(AuditRegressions, PercentileEvidenceListsTheSlowTailFirst) {
  const auto c = contract(
      "kpis:\n  - id: handle_p50\n    source: events\n    measure: {percentile: 50, of: duration}\n"
      "    objective: {target: \"<= 10s\"}\n");
  std::vector<core::Item> items;
  const int seconds[] = {30, 5, 50, 20, 50, 40};
  for (int i = 0; i < 6; ++i) {
    items.push_back(item("events", std::string(1, static_cast<char>('a' + i)), "2026-10-05T08:00:00Z",
                         R"({"name":"call","duration_seconds":)" + std::to_string(seconds[i]) + "}"));
  }
  auto ids = [](const json& k) {
    std::string out;
    for (const auto& e : k["evidence"]) out += e["id"].get<std::string>();
    return out;
  };
  const auto k = rule(evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z"), "kpis", "handle_p50");
  EXPECT_EQ(ids(k), "cefad");  // 50 (c, e: ties in item order), 40, 30, 20
  std::reverse(items.begin(), items.end());
  EXPECT_EQ(ids(rule(evaluate_month(c, items, "2026-10", "2026-11-02T00:00:00Z"), "kpis", "handle_p50")), "cefad");
}

// 6. The digest covers the inputs of the period only: a September deal or an old open ticket does
// not change October's.
TEST(AuditRegressions, TheDigestCoversOnlyItemsThatCountInThePeriod) {
  const auto c = contract(
      "kpis:\n  - id: won\n    source: deals\n    counted_by: closed\n    measure: {count: true}\n    objective: {target: \">= 1\"}\n"
      "  - id: reply\n    source: tickets\n    measure: {ratio: first_reply <= 1h}\n    objective: {target: \">= 50%\"}\n");
  std::vector<core::Item> base{
      item("deals", "D10", "2026-10-01T08:00:00Z", R"({"closed_at":"2026-10-10T08:00:00Z"})"),
      item("tickets", "T10", "2026-10-05T08:00:00Z", R"({"agent_replies":["2026-10-05T08:10:00Z"]})")};
  const auto before = evaluate_month(c, base, "2026-10", "2026-11-02T00:00:00Z");
  EXPECT_EQ(before["input"]["items"], 2);
  auto more = base;
  more.push_back(item("deals", "D09", "2026-09-01T08:00:00Z", R"({"closed_at":"2026-09-10T08:00:00Z"})"));
  more.push_back(item("tickets", "T09", "2026-09-20T08:00:00Z", "{}"));  // created in September, still open
  const auto after = evaluate_month(c, more, "2026-10", "2026-11-02T00:00:00Z");
  EXPECT_EQ(after["input"], before["input"]);
  // A change to an input changes it.
  more[1].payload = R"({"agent_replies":["2026-10-05T09:10:00Z"]})";
  EXPECT_NE(evaluate_month(c, more, "2026-10", "2026-11-02T00:00:00Z")["input"]["digest"], before["input"]["digest"]);
}

// 8. Items are identified by kind too: a rating sharing a ticket's id is another item.
TEST(AuditRegressions, ARatingWithATicketsIdIsAnotherItem) {
  const auto c = contract(
      "kpis:\n  - id: tickets\n    source: tickets\n    measure: {count: true}\n    objective: {target: \">= 1\"}\n"
      "  - id: csat\n    source: surveys\n    measure: {count: true}\n    objective: {target: \">= 1\"}\n");
  PeriodState state(c, always(), *period_by_label(c, always(), "2026-10"), T("2026-11-02T00:00:00Z"));
  state.upsert(item("tickets", "42", "2026-10-05T08:00:00Z", "{}"));
  state.upsert(item("surveys", "42", "2026-10-05T09:00:00Z", R"({"score":"good"})"));
  const auto doc = state.evaluate();
  EXPECT_EQ(doc["input"]["items"], 2);
  EXPECT_EQ(rule(doc, "kpis", "tickets")["value"], "1");
  EXPECT_EQ(rule(doc, "kpis", "csat")["value"], "1");
  state.erase("desk", "surveys", "42");
  EXPECT_EQ(rule(state.evaluate(), "kpis", "tickets")["value"], "1");
}

// --- Found by the property test against the reference evaluator (tests/property) ----------------

// The pending entries' deadlines, by item id.
std::map<std::string, std::string> deadlines(const json& kpi) {
  std::map<std::string, std::string> out;
  for (const auto& p : kpi.at("pending")) out[p.at("id").get<std::string>()] = p.value("breach_at", "none");
  return out;
}

// An absent status, priority or reopens is a missing value (pending), not an empty label or zero.
TEST(AuditRegressions, AbsentFieldsAreMissingNotEmptyOrZero) {
  const auto c = contract(
      "kpis:\n  - id: open\n    source: tickets\n    measure: {ratio: status != \"solved\"}\n    objective: {target: \">= 50%\"}\n"
      "  - id: low\n    source: tickets\n    measure: {ratio: priority != \"low\"}\n    objective: {target: \">= 50%\"}\n"
      "  - id: reopens\n    source: tickets\n    measure: {ratio: reopens <= 1}\n    objective: {target: \">= 50%\"}\n");
  auto bare = item("tickets", "bare", "2026-10-05T08:00:00Z", "{}");
  bare.priority.clear();
  auto full = item("tickets", "full", "2026-10-05T08:00:00Z", R"({"reopens":0})");
  full.status = "open";
  const auto doc = evaluate_month(c, {bare, full}, "2026-10", "2026-11-02T00:00:00Z");
  for (const char* id : {"open", "low", "reopens"}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(rule(doc, "kpis", id)["denominator"], 1);
    EXPECT_EQ(rule(doc, "kpis", id)["numerator"], 1);
    EXPECT_EQ(deadlines(rule(doc, "kpis", id)), (std::map<std::string, std::string>{{"bare", "none"}}));
  }
}

// A total already past a `<=` target cannot recover: breached, even while the period is open; one
// short of a `>=` target may still reach it (at risk).
TEST(AuditRegressions, ATotalPastAnUpperTargetIsBreachedInAnOpenPeriod) {
  const auto c = contract(
      "kpis:\n  - id: at_most\n    source: tickets\n    measure: {count: true}\n    objective: {target: \"<= 1\"}\n"
      "  - id: exactly\n    source: tickets\n    measure: {count: true}\n    objective: {target: \"== 1\"}\n"
      "  - id: at_least\n    source: tickets\n    measure: {count: true}\n    objective: {target: \">= 5\"}\n");
  std::vector<core::Item> items{item("tickets", "1", "2026-10-05T08:00:00Z", "{}"),
                                 item("tickets", "2", "2026-10-06T08:00:00Z", "{}")};
  const auto doc = evaluate_month(c, items, "2026-10", "2026-10-10T00:00:00Z");
  EXPECT_EQ(rule(doc, "kpis", "at_most")["status"], "breached");
  EXPECT_EQ(rule(doc, "kpis", "exactly")["status"], "breached");
  EXPECT_EQ(rule(doc, "kpis", "at_least")["status"], "at_risk");
}

// next_reply: a reply at the very instant of a customer comment answers it; a cycle still open keeps
// the timer going (pending, due when it reaches the target) even beside a longer answered one.
TEST(AuditRegressions, NextReplyCyclesAnsweredAtTheInstantAndStillOpen) {
  const auto c = contract(
      "kpis:\n  - id: next\n    source: tickets\n    measure: {ratio: next_reply <= 1h}\n    objective: {target: \">= 50%\"}\n");
  const auto same = item("tickets", "same", "2026-10-05T08:00:00Z",
                         R"({"customer_comments":["2026-10-05T09:00:00Z"],"agent_replies":["2026-10-05T09:00:00Z"]})");
  const auto open = item("tickets", "open", "2026-10-05T08:00:00Z",
                         R"({"customer_comments":["2026-10-05T09:00:00Z","2026-10-05T11:00:00Z"],)"
                         R"("agent_replies":["2026-10-05T09:40:00Z"]})");
  const auto doc = evaluate_month(c, {same, open}, "2026-10", "2026-10-05T11:30:00Z");
  const auto& k = rule(doc, "kpis", "next");
  EXPECT_EQ(k["numerator"], 1);
  EXPECT_EQ(k["denominator"], 1);
  EXPECT_EQ(deadlines(k), (std::map<std::string, std::string>{{"open", "2026-10-05T12:00:00Z"}}));
}

// breach_at is the earliest instant the whole condition turns false if the running timers keep
// running: with the timer on either side, under `not`, `==`, `or`, and exactly at the target (the
// due time, which is the as-of instant here). A condition timers can only make true has none.
TEST(AuditRegressions, BreachAtIsWhenTheWholeConditionTurnsFalse) {
  const auto c = contract(
      "kpis:\n"
      "  - id: right\n    source: tickets\n    measure: {ratio: 1h >= first_reply}\n    objective: {target: \">= 50%\"}\n"
      "  - id: negated\n    source: tickets\n    measure: {ratio: not (first_reply > 1h)}\n    objective: {target: \">= 50%\"}\n"
      "  - id: either\n    source: tickets\n    measure: {ratio: first_reply <= 1h or priority == \"low\"}\n"
      "    objective: {target: \">= 50%\"}\n"
      "  - id: both\n    source: tickets\n    measure: {ratio: first_reply <= 2h and first_reply < 1h}\n"
      "    objective: {target: \">= 50%\"}\n"
      "  - id: equal\n    source: tickets\n    measure: {ratio: first_reply == 1h}\n    objective: {target: \">= 50%\"}\n"
      "  - id: grows_true\n    source: tickets\n    measure: {ratio: first_reply > 1h}\n    objective: {target: \">= 50%\"}\n");
  std::vector<core::Item> items{item("tickets", "A", "2026-10-05T08:00:00Z", "{}")};
  const auto doc = evaluate_month(c, items, "2026-10", "2026-10-05T08:30:00Z");
  const std::map<std::string, std::string> due{{"A", "2026-10-05T09:00:00Z"}};
  for (const char* id : {"right", "negated", "either", "both", "equal"}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(deadlines(rule(doc, "kpis", id)), due);
  }
  EXPECT_EQ(deadlines(rule(doc, "kpis", "grows_true")), (std::map<std::string, std::string>{{"A", "none"}}));
  // Exactly at the target: not decided yet (`<=` still holds), due now.
  const auto at_target = evaluate_month(c, items, "2026-10", "2026-10-05T09:00:00Z");
  EXPECT_EQ(deadlines(rule(at_target, "kpis", "right")), due);
}

// A deal's registration approval is a running timer with a deadline like a ticket's.
TEST(AuditRegressions, RegistrationApprovalHasADeadline) {
  const auto c = contract(
      "kpis:\n  - id: approval\n    source: deals\n    measure: {ratio: registration_approval <= 2h}\n"
      "    objective: {target: \">= 50%\"}\n");
  std::vector<core::Item> items{item("deals", "D", "2026-10-05T08:00:00Z", R"({"registered_at":"2026-10-05T08:00:00Z"})")};
  const auto doc = evaluate_month(c, items, "2026-10", "2026-10-05T09:00:00Z");
  EXPECT_EQ(deadlines(rule(doc, "kpis", "approval")), (std::map<std::string, std::string>{{"D", "2026-10-05T10:00:00Z"}}));
}

}  // namespace
}  // namespace pactwatch::engine
