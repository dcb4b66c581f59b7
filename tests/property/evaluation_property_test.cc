// Property test: the engine against the reference evaluator (tests/reference/), written from the
// docs alone, on random contracts and random items.
//
// Each case draws a calendar (from a pool of random calendars in DST zones), a contract as YAML
// text parsed by the real rules parser (every measure, `where`, `counted_by`, timers with
// `pause_in`, month, quarter and rolling periods, min_sample, warning levels, weights), and items
// as import records (status histories with pauses, reopens, re-solves and late solves, replies
// exactly on a target, items still open at the as-of instant, mixed-type survey scores and custom
// fields, ids shared across kinds), imported by the real importer. Each case is evaluated for four
// (period, as-of) pairs (open, closed, as of the period's end, the period before) and the engine's
// document is compared with the reference field by field; on one evaluation in eight the digest is
// checked to cover exactly the inputs the reference names. A smaller share of cases goes through
// the store on SQLite and PostgreSQL: items are imported in batches, each followed by an
// incremental run of the evaluation runner (kept across batches as the daemon does, and afresh per
// batch as `import --evaluate` does), and every stored document must be byte-identical to a full
// evaluation of the final data and agree with the reference.
//
// Environment (docs/development.md):
//   PACTWATCH_PROPERTY_SEED=N       repeat a run (`random` explores); the seed is printed
//   PACTWATCH_PROPERTY_CASE=S       run one case alone (each failure prints its case seed)
//   PACTWATCH_PROPERTY_CASES=N      how many cases in memory (default 2,600: 10,400 periods)
//   PACTWATCH_PROPERTY_STORE_CASES=N  how many through the store (default 16 SQLite, 8 PostgreSQL)
//   PACTWATCH_PROPERTY_PRINT=N      how many failing cases to print, shrunk (default 3; 1 store)
//   PACTWATCH_PROPERTY_FOCUS=TEXT   print the failures of one kind, e.g. "kpis[percentile].value"
//   PACTWATCH_PROPERTY_DUMP=1       print the engine's document of each shrunk case
//   PACTWATCH_PROPERTY_AVOID=a,b    leave kinds of input out of the draw, to look past a known
//                                   difference: kind-ids, labels, absent, resolves, ms,
//                                   timer-negation, compound, next-reply, registration-timer,
//                                   upper-totals, currencies, inputs (no input/digest checks)
// A failure prints its case as a calendar file, a contract file, NDJSON items and an as-of
// instant, shrunk to the rule that differs and the fewest items that still show the difference.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/rules/contract.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/import.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "test_store.h"
#include "reference_evaluator.h"
#include "temp_dir.h"

namespace pactwatch {
namespace {

using core::Instant;
using nlohmann::json;
using reference::Record;
using namespace std::chrono_literals;

constexpr int kCases = 2600;            // contracts; four evaluations each: 10,400 contract-periods
constexpr int kStoreCases = 16;         // SQLite, both incremental paths; PostgreSQL: half as many
constexpr std::size_t kEvidenceCap = engine::kMaxEvidence;
const char* const kPartner = "p-main";
const char* const kOtherPartner = "p-other";

// --- seeds -----------------------------------------------------------------------------------

std::uint64_t base_seed() {
  const char* env = std::getenv("PACTWATCH_PROPERTY_SEED");
  if (env == nullptr || *env == '\0') return 20261201;
  if (std::string_view(env) == "random") return std::random_device{}();
  return std::strtoull(env, nullptr, 10);
}

std::optional<std::uint64_t> only_case() {
  const char* env = std::getenv("PACTWATCH_PROPERTY_CASE");
  if (env == nullptr || *env == '\0') return std::nullopt;
  return std::strtoull(env, nullptr, 10);
}

// An exploration aid: PACTWATCH_PROPERTY_AVOID=a,b,… leaves kinds of input out of the draw, to look
// past a known difference (docs/development.md lists them). The default draws everything.
bool avoid(std::string_view what) {
  static const std::string list = std::string(",") + (std::getenv("PACTWATCH_PROPERTY_AVOID") ? std::getenv("PACTWATCH_PROPERTY_AVOID") : "") + ",";
  return list.find("," + std::string(what) + ",") != std::string::npos;
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(std::uint64_t seed) : g(seed) {}
  int below(int n) { return n <= 0 ? 0 : static_cast<int>(g() % static_cast<std::uint64_t>(n)); }
  std::int64_t range(std::int64_t lo, std::int64_t hi) {  // [lo, hi]
    return lo + static_cast<std::int64_t>(g() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  bool percent(int p) { return below(100) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(static_cast<int>(v.size())))];
  }
};

Instant T(const char* s) { return *core::parse_rfc3339(s); }
std::string rfc(Instant t) { return core::format_rfc3339(t); }

// --- calendars -------------------------------------------------------------------------------

constexpr const char* kZones[] = {"Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"};

struct CalendarCase {
  std::string name;
  std::string yaml;  // empty for the built-in 24x7
  std::shared_ptr<calendar::Calendar> cal;
};

std::string random_calendar_yaml(Rng& rng) {
  std::ostringstream y;
  y << "description: generated\ntimezone: " << kZones[rng.below(static_cast<int>(std::size(kZones)))] << "\nhours:\n";
  const char* days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  const std::vector<std::string> plain = {"[\"09:00-17:00\"]", "[\"08:00-12:00\", \"13:00-18:00\"]", "[\"07:30-19:45\"]",
                                          "[\"00:00-24:00\"]", "[\"09:00-12:30\", \"13:30-17:00\"]"};
  const bool night_shift = rng.percent(40);
  for (int d = 0; d < 7; ++d) {
    std::string hours;
    if (d < 5) hours = rng.pick(plain);
    else if (rng.percent(50)) hours = d == 6 ? "[\"01:00-05:00\", \"10:00-16:00\"]" : "[\"08:00-12:00\"]";  // Sunday night: DST hours
    if (d == 4 && night_shift) hours = "[\"09:00-17:00\", \"22:00-06:00\"]";  // Saturday starts 08:00 or is closed
    if (!hours.empty()) y << "  " << days[d] << ": " << hours << "\n";
  }
  const std::vector<std::string> dates = {"2026-03-29", "2026-03-30", "2026-04-05", "2026-05-01", "2026-10-04",
                                          "2026-10-25", "2026-10-26", "2026-11-02", "2026-12-24", "2026-12-31",
                                          "2026-06-15", "2026-09-01"};
  if (rng.percent(70)) {
    y << "holidays:\n";
    for (auto i = rng.range(1, 3); i > 0; --i) y << "  - " << rng.pick(dates) << "\n";
    if (rng.percent(30)) y << "  - {yearly: \"01-01\", name: New Year}\n";
  }
  if (rng.percent(40)) y << "overrides:\n  - {date: " << rng.pick(dates) << ", hours: [\"10:00-14:00\"]}\n";
  if (rng.percent(40)) y << "breaks:\n  - {date: " << rng.pick(dates) << ", hours: [\"12:00-13:00\"]}\n";
  return y.str();
}

// A pool of calendars, compiled once (over 2025-2027 only, which keeps compiling fast).
const std::vector<CalendarCase>& calendar_pool() {
  static const std::vector<CalendarCase> pool = [] {
    std::vector<CalendarCase> out;
    out.push_back({"24x7", "", std::make_shared<calendar::Calendar>(calendar::Calendar::always_open())});
    Rng rng(mix(base_seed(), 0xCA1));
    for (int i = 0; out.size() < 16; ++i) {
      const std::string name = "cal" + std::to_string(i);
      const std::string yaml = random_calendar_yaml(rng);
      auto spec = calendar::parse_calendar(yaml, "calendars/" + name + ".yaml", "/");
      if (!spec) throw std::runtime_error("generated calendar does not parse: " + spec.error()[0].to_string() + "\n" + yaml);
      spec->name = name;
      auto cal = calendar::Calendar::compile(*spec, {2025, 2027});
      if (!cal) throw std::runtime_error(cal.error());
      out.push_back({name, yaml, std::make_shared<calendar::Calendar>(std::move(*cal))});
    }
    return out;
  }();
  return pool;
}

// --- contracts -------------------------------------------------------------------------------

struct RuleText {
  std::string section;  // kpis, obligations, brand_standards
  std::string id;
  std::string body;     // YAML lines of the rule after "- id: ...", each starting with "    "
  std::optional<std::string> weight;
};

struct ContractText {
  std::string calendar;
  std::string period;
  std::string timers;
  std::vector<RuleText> rules;

  [[nodiscard]] std::string render(const std::vector<std::size_t>* only = nullptr, bool weights = true) const {
    std::ostringstream y;
    y << "contract: generated\nversion: 1\npartner: " << kPartner << "\neffective: {from: 2020-01-01}\n"
      << "currency: EUR\ncalendar: " << calendar << "\nperiod: " << period << "\n";
    if (!timers.empty()) y << "timers:\n" << timers;
    for (const char* section : {"kpis", "brand_standards", "obligations"}) {
      bool any = false;
      for (std::size_t i = 0; i < rules.size(); ++i) {
        if (rules[i].section != section) continue;
        if (only && std::find(only->begin(), only->end(), i) == only->end()) continue;
        if (!any) y << section << ":\n";
        any = true;
        y << "  - id: " << rules[i].id << "\n" << rules[i].body;
        if (weights && rules[i].weight) y << "    weight: " << *rules[i].weight << "\n";
      }
    }
    return y.str();
  }
};

std::string quoted(const std::string& s) { return "'" + s + "'"; }  // no single quotes in generated text

// The durations a contract's timer conditions compare with, so items can hit them exactly.
using Targets = std::map<std::string, std::vector<std::int64_t>>;

struct ContractDraw {
  ContractText text;
  Targets targets;
};

const std::vector<std::string> kDurations = {"30m", "1h", "90m", "2h", "4h", "8h", "16h", "1d", "2d"};
std::int64_t duration_ms(const std::string& d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(*core::parse_duration(d)).count();
}

std::string timer_comparison(Rng& rng, const std::vector<std::string>& timers, Targets& targets) {
  const std::string timer = rng.pick(timers);
  const std::string d = rng.pick(kDurations);
  targets[timer].push_back(duration_ms(d));
  const std::vector<std::string> ops = {"<=", "<=", "<=", "<", ">=", ">"};
  const std::vector<std::string> upper = {"<=", "<"};
  return timer + " " + rng.pick(avoid("timer-negation") ? upper : ops) + " " + d;
}

// A boolean condition over items of `source` (ratios and `each`).
std::string condition(Rng& rng, const std::string& source, Targets& targets, int depth = 0) {
  std::vector<std::string> atoms;
  if (source == "tickets") {
    const std::vector<std::string> timers = {"first_reply", "first_reply", avoid("next-reply") ? "resolution" : "next_reply",
                                             "resolution", "resolution", "requester_wait", "agent_work", "brand_ack", "on_site"};
    for (int i = 0; i < 4; ++i) atoms.push_back(timer_comparison(rng, timers, targets));
    atoms.insert(atoms.end(), {"reopens <= 1", "replies >= 2", "solved == true", "first_contact_resolution == true",
                               "fixed_first_visit == true", "satisfaction == \"good\"", "\"vip\" in tags",
                               "custom.size >= 4", "custom.region == \"emea\"", "status != \"pending\"",
                               "channel in [\"email\", \"web\"]"});
  } else if (source == "deals") {
    atoms = {"won == true", "won == true", "amount >= EUR 1000.00", "closed == true", "refunded == false",
             "approved == true", "time_to_close <= 30d", "custom.size >= 4", "stage == \"closed_won\""};
    if (!avoid("registration-timer")) atoms.push_back(timer_comparison(rng, {"registration_approval"}, targets));
  } else if (source == "surveys") {
    atoms = {"score >= 4", "score >= 4", "score == \"good\"", "score != \"bad\"", "score > 3.5", "score <= 2",
             "custom.size >= 4", "comment != \"\""};
  } else {
    atoms = {"duration <= 20s", "duration < 1m", "late == false", "value >= 10", "value < 2.5",
             "amount >= EUR 50.00", "custom.size >= 4"};
  }
  std::string a = rng.pick(atoms);
  if (depth < 1 && rng.percent(25) && !avoid("compound")) {
    const std::string b = condition(rng, source, targets, depth + 1);
    switch (rng.below(3)) {
      case 0: return "(" + a + ") and (" + b + ")";
      case 1: return "(" + a + ") or (" + b + ")";
      default: return avoid("timer-negation") ? a : "not (" + a + ")";
    }
  }
  return a;
}

// A `where` over fields every generated item has, so it is always decided.
std::string where_clause(Rng& rng, const std::string& source) {
  std::vector<std::string> w;
  if (source == "tickets") {
    w = {"priority == \"urgent\"", "priority in [\"high\", \"urgent\"]", "not (\"vip\" in tags)", "\"vip\" in tags",
         "solved == true", "priority != \"low\" and solved == true", "custom.region == \"emea\""};
  } else if (source == "deals") {
    w = {"type == \"new business\"", "won == true", "registered == true", "not (\"strategic\" in tags)", "closed == true"};
  } else if (source == "surveys") {
    w = {"type == \"csat\"", "type in [\"csat\", \"qa\"]", "type != \"nps\""};
  } else {
    w = {"name == \"call_offered\"", "name in [\"call_offered\", \"delivery\"]", "name != \"certification\""};
  }
  return rng.pick(w);
}

struct MeasureDraw {
  std::string measure;  // YAML flow mapping
  std::string kind;     // ratio, percentile, mean, sum, count
  std::string type;     // duration, money, number (measured field); "ratio" for ratios
};

MeasureDraw measure(Rng& rng, const std::string& source, Targets& targets, bool standard_free) {
  (void)standard_free;
  struct Field {
    std::string name;
    std::string type;
  };
  std::vector<Field> fields;
  if (source == "tickets") {
    fields = {{"resolution", "duration"}, {"first_reply", "duration"}, {avoid("next-reply") ? "resolution" : "next_reply", "duration"},
              {"agent_work", "duration"}, {"requester_wait", "duration"}, {"brand_ack", "duration"},
              {"reopens", "number"},      {"replies", "number"}};
  } else if (source == "deals") {
    fields = {{"amount", "money"}, {"amount", "money"}, {"time_to_close", "duration"}, {"registration_approval", "duration"}};
  } else if (source == "surveys") {
    fields = {{"score", "number"}};
  } else {
    fields = {{"value", "number"}, {"amount", "money"}, {"duration", "duration"}};
  }
  const int k = rng.below(100);
  if (k < 40) return {"{ratio: " + quoted(condition(rng, source, targets)) + "}", "ratio", "ratio"};
  if (k < 88) {
    const Field f = rng.pick(fields);
    if (f.type == "duration") targets[f.name];  // timers measured: items may hit the objective exactly
    if (k < 64) {
      const std::vector<int> ps = {50, 90, 90, 95, 99, 10, 1, 33, 66};
      return {"{percentile: " + std::to_string(rng.pick(ps)) + ", of: " + f.name + "}", "percentile", f.type};
    }
    if (k < 78) return {"{mean: " + f.name + "}", "mean", f.type};
    return {"{sum: " + f.name + "}", "sum", f.type};
  }
  return {"{count: true}", "count", "number"};
}

std::string objective_value(Rng& rng, const std::string& type, const std::string& kind) {
  if (kind == "ratio") {
    const std::vector<std::string> p = {"50%", "75%", "80%", "90%", "95%", "100%", "0%", "66.5%", "20%"};
    return rng.pick(p);
  }
  if (kind == "count") return std::to_string(rng.range(0, 12));
  if (type == "duration") return rng.pick(kDurations);
  if (type == "money") {
    const std::vector<std::string> m = {"EUR 100.00", "EUR 1000.00", "EUR 5000.50", "EUR 25000.00", "EUR 0.01"};
    return rng.pick(m);
  }
  const std::vector<std::string> n = {"1", "2", "2.5", "3.5", "4", "4.25", "10", "0"};
  return rng.pick(n);
}

ContractDraw draw_contract(Rng& rng, const std::string& calendar_name) {
  ContractDraw c;
  c.text.calendar = calendar_name;
  switch (rng.below(8)) {
    case 0:
    case 1:
    case 2:
    case 3: c.text.period = "month"; break;
    case 4:
    case 5: c.text.period = "quarter"; break;
    case 6: c.text.period = "{rolling: 30d}"; break;
    default: c.text.period = "{rolling: " + std::to_string(rng.range(1, 60)) + "d}"; break;
  }
  std::ostringstream timers;
  for (const char* t : {"first_reply", "next_reply", "resolution"}) {
    if (!rng.percent(55)) continue;
    const std::vector<std::string> sets = {"[]", "[pending]", "[pending, hold]", "[hold]", "[new]", "[pending, hold, new]"};
    timers << "  " << t << ": {pause_in: " << rng.pick(sets) << "}\n";
  }
  c.text.timers = timers.str();

  const std::vector<std::string> sources = {"tickets", "tickets", "tickets", "deals", "surveys", "events"};
  const int kpis = static_cast<int>(rng.range(1, 5));
  const bool weighted = rng.percent(60);
  int weight_left = 100;
  int n = 0;
  auto kpi_like = [&](const std::string& section, const std::string& id) {
    RuleText r;
    r.section = section;
    r.id = id;
    const std::string source = rng.pick(sources);
    std::ostringstream b;
    b << "    source: " << source << "\n";
    if (rng.percent(60)) b << "    where: " << quoted(where_clause(rng, source)) << "\n";
    if (source == "tickets" && rng.percent(35)) b << "    counted_by: solved\n";
    if (source == "deals" && rng.percent(60)) b << "    counted_by: " << (rng.percent(50) ? "closed" : "registered") << "\n";
    if (source != "tickets" && source != "deals" && rng.percent(10)) b << "    counted_by: created\n";
    const MeasureDraw m = measure(rng, source, c.targets, false);
    b << "    measure: " << m.measure << "\n";
    std::vector<std::string> ops = {">=", ">=", "<=", ">", "<"};
    std::string op = rng.pick(ops);
    if (avoid("upper-totals") && (m.kind == "sum" || m.kind == "count") && (op == "<" || op == "<=")) op = ">=";
    const std::string target = objective_value(rng, m.type, m.kind);
    b << "    objective: {target: \"" << op << " " << target << "\"";
    if (rng.percent(40)) b << ", warning: \"" << op << " " << objective_value(rng, m.type, m.kind) << "\"";
    b << "}\n";
    if (rng.percent(50)) b << "    min_sample: " << rng.range(1, 8) << "\n";
    r.body = b.str();
    return r;
  };
  for (int i = 0; i < kpis; ++i) {
    RuleText r = kpi_like("kpis", "k" + std::to_string(++n));
    if (weighted) {
      const int w = i + 1 == kpis ? weight_left : static_cast<int>(rng.range(0, weight_left));
      weight_left -= w;
      r.weight = std::to_string(w);
    }
    c.text.rules.push_back(std::move(r));
  }
  for (int i = rng.below(3); i > 0; --i) c.text.rules.push_back(kpi_like("obligations", "o" + std::to_string(++n)));
  for (int i = rng.below(3); i > 0; --i) {
    RuleText r;
    r.section = "brand_standards";
    r.id = "s" + std::to_string(++n);
    const std::string source = rng.pick(sources);
    std::ostringstream b;
    b << "    source: " << source << "\n";
    if (rng.percent(40)) b << "    where: " << quoted(where_clause(rng, source)) << "\n";
    b << "    each: " << quoted(condition(rng, source, c.targets)) << "\n";
    const std::vector<std::string> sev = {"minor", "major", "critical"};
    b << "    severity: " << rng.pick(sev) << "\n";
    r.body = b.str();
    c.text.rules.push_back(std::move(r));
  }
  return c;
}

// --- items -----------------------------------------------------------------------------------

// Where interesting instants are: period boundaries, as-of instants, business-hours edges.
struct World {
  Rng& rng;
  const calendar::Calendar& cal;
  Instant lo, hi;  // most instants fall in [lo, hi]
  std::vector<Instant> marks;  // boundaries and as-of instants
  const Targets& targets;

  Instant instant() {
    const std::int64_t span = (hi - lo).count();
    Instant t = lo + std::chrono::milliseconds(rng.range(0, span));
    t = std::chrono::floor<std::chrono::seconds>(t);
    switch (rng.below(12)) {
      case 0:
        if (!marks.empty()) return rng.pick(marks);
        break;
      case 1:
        if (!marks.empty()) return rng.pick(marks) - (rng.percent(50) ? 1ms : 1s);
        break;
      case 2:
        if (auto n = cal.next_open(t)) return *n;
        break;
      case 3:
        if (!avoid("ms")) return t + std::chrono::milliseconds(rng.range(1, 999));
        break;
      default: break;
    }
    return std::chrono::floor<std::chrono::minutes>(t);
  }
  // An instant after `t`: soon, or exactly on one of the contract's targets (or a second off).
  Instant after(Instant t, const std::string& timer = "") {
    auto it = targets.find(timer);
    if (it != targets.end() && !it->second.empty() && rng.percent(35)) {
      const std::int64_t d = rng.pick(it->second);
      if (auto x = cal.add(t, std::chrono::milliseconds(d))) {
        const int nudge = rng.below(4);
        return nudge == 0 ? *x - 1s : nudge == 1 ? *x + 1s : *x;
      }
    }
    switch (rng.below(6)) {
      case 0: return t + std::chrono::minutes(rng.range(1, 90));
      case 1: return t + std::chrono::hours(rng.range(1, 30));
      case 2: return t + std::chrono::hours(rng.range(24, 24 * 12));
      case 3:
        if (!marks.empty()) {
          const Instant m = rng.pick(marks);
          if (m > t) return m;
        }
        return t + std::chrono::minutes(rng.range(1, 600));
      default: return t + std::chrono::minutes(rng.range(5, 60 * 16));
    }
  }
};

json common_fields(Rng& rng, const std::string& id) {
  json r;
  const int id_form = rng.below(10);
  if (id_form == 0 && !avoid("kind-ids")) r["id"] = rng.range(1, 40);  // an integer id
  else r["id"] = id;
  r["source"] = rng.percent(70) ? "zendesk" : "import";
  const int p = rng.below(20);
  if (p == 0) r["partner"] = kOtherPartner;
  else if (p != 1) r["partner"] = kPartner;  // else unattributed
  json custom = json::object();
  const std::vector<std::string> regions = {"emea", "apac", "amer"};
  if (rng.percent(90)) custom["region"] = rng.pick(regions);
  switch (rng.below(8)) {
    case 0: custom["size"] = 5; break;
    case 1: custom["size"] = avoid("labels") ? json(4.5) : json("4.5"); break;
    case 2: custom["size"] = avoid("labels") ? json(6) : json("good"); break;
    case 3: custom["size"] = 3.25; break;
    case 4:
      if (avoid("labels")) custom["size"] = 1;
      else custom["size"] = true;
      break;
    case 5:
      if (avoid("absent")) custom["size"] = 2;
      break;
    default: custom["size"] = rng.range(0, 8); break;
  }
  if (!custom.empty()) r["custom"] = custom;
  return r;
}

json ticket(World& w, const std::string& id) {
  Rng& rng = w.rng;
  json r = common_fields(rng, id);
  const Instant created = w.instant();
  r["created_at"] = rfc(created);
  const std::vector<std::string> priorities = {"low", "normal", "high", "urgent"};
  r["priority"] = rng.pick(priorities);
  if (rng.percent(80) || avoid("absent")) {
    const std::vector<std::string> channels = {"email", "web", "chat", "phone"};
    r["channel"] = rng.pick(channels);
  }
  json tags = json::array();
  for (const char* t : {"vip", "escalated_to_brand", "card_number_detected"}) {
    if (rng.percent(25)) tags.push_back(t);
  }
  if (!tags.empty() || rng.percent(50)) r["tags"] = tags;
  if (rng.percent(60) || avoid("absent")) {
    const std::vector<std::string> s = {"good", "bad", "offered"};
    r["satisfaction"] = rng.pick(s);
  }
  const bool all = avoid("absent");
  if (rng.percent(85) || all) r["reopens"] = rng.range(0, 3);
  if (rng.percent(85) || all) r["replies"] = rng.range(0, 4);
  if (rng.percent(80) || all) r["first_contact_resolution"] = rng.percent(60);
  if (rng.percent(50) || all) r["fixed_first_visit"] = rng.percent(60);

  // The status history: a walk through the statuses, some steps on a target or an as-of instant.
  json history = json::array();
  Instant t = created;
  std::string status = "new";
  std::optional<Instant> first_solve, last_solve;
  const int steps = rng.below(8);
  if (rng.percent(40)) {
    history.push_back({{"at", rfc(created)}, {"status", "open"}});
    status = "open";
  }
  for (int i = 0; i < steps; ++i) {
    std::vector<std::string> next;
    if (status == "new") next = {"open", "pending", "solved"};
    else if (status == "open") next = {"pending", "hold", "solved", "solved"};
    else if (status == "pending" || status == "hold") next = {"open", "solved"};
    else if (status == "solved") next = {"open", "closed"};  // a reopen, or closed
    if (status == "solved" && avoid("resolves")) next = {"closed"};
    else break;  // closed is final
    const std::string s = rng.pick(next);
    t = w.after(t, s == "solved" ? "resolution" : "");
    history.push_back({{"at", rfc(t)}, {"status", s}});
    if (s == "solved") {
      if (!first_solve) first_solve = t;
      last_solve = t;
    }
    status = s;
  }
  const bool keep_history = !history.empty() && rng.percent(85);
  if (keep_history) r["status_history"] = history;
  // solved_at: the first solve, the last, a late one, or none; alone when there is no history.
  const int s = avoid("resolves") ? 0 : rng.below(10);
  if (keep_history && first_solve) {
    if (s < 3) r["solved_at"] = rfc(*first_solve);
    else if (s < 5) r["solved_at"] = rfc(*last_solve);
    else if (s < 6) r["solved_at"] = rfc(w.after(*last_solve));
  } else if (keep_history) {
    if (s < 2) r["solved_at"] = rfc(w.after(t, "resolution"));  // ignored: the history says otherwise
  } else if (s < 6) {
    r["solved_at"] = rfc(w.after(created, "resolution"));
  }
  if (rng.percent(40) || all) {
    if (keep_history) r["status"] = status;
    else r["status"] = r.contains("solved_at") ? "solved" : "new";
  }

  // Replies and comments.
  json replies = json::array();
  Instant rt = created;
  for (int i = static_cast<int>(rng.range(0, 3)); i > 0; --i) {
    rt = w.after(rt, replies.empty() ? "first_reply" : "next_reply");
    replies.push_back(rfc(rt));
  }
  const int rf = rng.below(10);
  if (rf < 6 && !replies.empty()) r["agent_replies"] = replies;
  if (rf < 2 && !replies.empty()) r["first_reply_at"] = replies[0];
  if (rf == 7 && !replies.empty()) r["first_reply_at"] = replies[0];  // only the first reply is known
  if (rng.percent(50)) {
    json comments = json::array();
    Instant ct = replies.empty() ? created : *core::parse_rfc3339(replies[0].get<std::string>());
    for (int i = static_cast<int>(rng.range(1, 3)); i > 0; --i) {
      ct = w.after(ct);
      comments.push_back(rfc(ct));
    }
    r["customer_comments"] = comments;
  }
  if (rng.percent(35)) {
    const Instant esc = w.after(created);
    r["escalated_at"] = rfc(esc);
    if (rng.percent(75)) r["brand_ack_at"] = rfc(w.after(esc, "brand_ack"));
  }
  if (rng.percent(30)) r["on_site_at"] = rfc(w.after(created, "on_site"));
  return r;
}

json deal(World& w, const std::string& id) {
  Rng& rng = w.rng;
  json r = common_fields(rng, id);
  const Instant created = w.instant();
  if (rng.percent(92)) r["created_at"] = rfc(created);
  if (rng.percent(88)) {
    const std::vector<std::string> amounts = {"1000.00", "999.99", "25000.00", "0.01", "120.50", "5000.50", "-300.00"};
    r["amount"] = rng.pick(amounts);
    r["currency"] = rng.percent(85) || avoid("currencies") ? "EUR" : "USD";
  }
  const std::vector<std::string> types = {"new business", "renewal", "upsell"};
  r["type"] = rng.pick(types);
  const std::vector<std::string> stages = {"open", "closed_won", "closed_lost"};
  r["stage"] = rng.pick(stages);
  r["won"] = rng.percent(50);
  if (rng.percent(25)) r["tags"] = json::array({"strategic"});
  if (rng.percent(60)) {
    const Instant reg = rng.percent(50) ? created : std::max(created, w.instant());
    r["registered_at"] = rfc(reg);
    if (rng.percent(70)) r["approved_at"] = rfc(w.after(reg, "registration_approval"));
  }
  if (rng.percent(55)) {
    const Instant closed = rng.percent(50) ? w.after(created) : std::max(created, w.instant());
    r["closed_at"] = rfc(closed);
    if (rng.percent(15)) r["refunded_at"] = rfc(w.after(closed));
  }
  return r;
}

json survey(World& w, const std::string& id) {
  Rng& rng = w.rng;
  json r = common_fields(rng, id);
  r["submitted_at"] = rfc(w.instant());
  switch (avoid("labels") ? 3 + 3 * rng.below(2) : rng.below(12)) {
    case 0: r["score"] = "good"; break;
    case 1: r["score"] = "bad"; break;
    case 2: r["score"] = "4.5"; break;
    case 3: r["score"] = 4.25; break;
    case 4: r["score"] = "-2"; break;
    case 5: r["score"] = "4,5"; break;
    case 6: r["score"] = 3.1234565; break;  // seven decimals: read half-even to six
    case 7: r["score"] = "2.0000005"; break;
    default: r["score"] = rng.range(0, 10); break;
  }
  const std::vector<std::string> types = {"csat", "csat", "qa", "nps"};
  r["type"] = rng.pick(types);
  if (rng.percent(40)) r["comment"] = rng.percent(50) ? "" : "fine";
  return r;
}

json event(World& w, const std::string& id) {
  Rng& rng = w.rng;
  json r = common_fields(rng, id);
  r["at"] = rfc(w.instant());
  const std::vector<std::string> names = {"call_offered", "call_offered", "delivery", "certification"};
  r["name"] = rng.pick(names);
  switch (rng.below(6)) {
    case 0: r["value"] = avoid("labels") ? json(12) : json("12.5"); break;
    case 1: r["value"] = avoid("labels") ? json(-2) : json("-2"); break;
    case 2:
      if (avoid("absent")) r["value"] = 3;
      break;
    default: r["value"] = rng.range(0, 20); break;
  }
  if (rng.percent(80) || avoid("absent")) r["duration_seconds"] = rng.percent(20) ? 20 : rng.range(0, 90);
  if (rng.percent(40)) {
    const std::vector<std::string> amounts = {"50.00", "49.99", "1200.00"};
    r["amount"] = rng.pick(amounts);
    r["currency"] = rng.percent(85) || avoid("currencies") ? "EUR" : "GBP";
  }
  if (rng.percent(85) || avoid("absent")) r["late"] = rng.percent(30);
  return r;
}

// --- one case ---------------------------------------------------------------------------------

struct Evaluation {
  Instant t;      // the period is the one containing t (rolling: ending at as_of)
  Instant as_of;
};

struct Case {
  std::uint64_t seed = 0;
  const CalendarCase* calendar = nullptr;
  ContractText contract_text;
  std::vector<Record> records;
  std::vector<Evaluation> evaluations;
};

Case draw_case(std::uint64_t seed) {
  Rng rng(seed);
  Case c;
  c.seed = seed;
  const auto& pool = calendar_pool();
  c.calendar = &pool[static_cast<std::size_t>(rng.below(static_cast<int>(pool.size())))];
  ContractDraw contract = draw_contract(rng, c.calendar->name);
  c.contract_text = contract.text;
  auto parsed = rules::parse_contract(c.contract_text.render(), "contracts/generated.yaml");
  if (!parsed) throw std::runtime_error("generated contract does not parse: " + parsed.error()[0].to_string() + "\n" + c.contract_text.render());

  // An anchor in 2026, often on a DST change or a month end; four (period, as-of) pairs around it.
  const std::vector<Instant> anchors = {T("2026-03-29T01:30:00Z"), T("2026-03-08T07:00:00Z"), T("2026-04-05T15:00:00Z"),
                                        T("2026-10-04T15:30:00Z"), T("2026-10-25T00:30:00Z"), T("2026-11-01T06:00:00Z"),
                                        T("2026-12-31T23:59:00Z"), T("2026-06-30T22:00:00Z"), T("2026-09-30T12:00:00Z")};
  Instant anchor = rng.percent(50) ? rng.pick(anchors) : T("2026-02-01T00:00:00Z") + std::chrono::minutes(rng.range(0, 60 * 24 * 300));
  const auto& tz = c.calendar->cal->timezone();
  const auto p = reference::period_containing(*parsed, tz, anchor, anchor);
  const bool rolling = parsed->period.kind == rules::Period::Kind::rolling;
  const std::int64_t len = (p.end - p.start).count();
  auto inside = [&](const reference::Window& w) {
    const Instant t = w.start + std::chrono::milliseconds(rng.range(0, (w.end - w.start).count() - 1));
    return avoid("ms") ? std::chrono::floor<std::chrono::seconds>(t) : t;
  };
  if (rolling) {
    c.evaluations = {{anchor, anchor},
                     {anchor, anchor + std::chrono::hours(rng.range(1, 24 * 20))},
                     {anchor, anchor - std::chrono::hours(rng.range(1, 24 * 20))},
                     {anchor, std::chrono::floor<std::chrono::hours>(anchor)}};
  } else {
    const Instant open_as_of = rng.percent(30) ? anchor : inside(p);
    const auto prev = reference::period_containing(*parsed, tz, p.start - 1ms, open_as_of);
    c.evaluations = {{anchor, open_as_of},
                     {anchor, p.end + std::chrono::hours(rng.range(0, 24 * 25))},
                     {anchor, p.end},
                     {prev.start, open_as_of}};
  }
  std::vector<Instant> marks = {p.start, p.end};
  for (const auto& e : c.evaluations) marks.push_back(e.as_of);
  World w{rng, *c.calendar->cal, p.start - std::chrono::milliseconds(len / 2) - 72h, p.end + 72h, marks, contract.targets};
  if (!rolling) w.lo = p.start - std::chrono::milliseconds(len) - 240h;

  // Which kinds the contract measures get most of the items; the rest still appear.
  std::set<std::string> used;
  for (const auto& k : parsed->kpis) used.insert(std::string(rules::to_string(k.source)));
  for (const auto& k : parsed->obligations) used.insert(std::string(rules::to_string(k.source)));
  for (const auto& s : parsed->brand_standards) used.insert(std::string(rules::to_string(s.source)));
  const int size_class = rng.below(20);
  const int many = size_class == 0 ? static_cast<int>(rng.range(110, 160)) : size_class < 4 ? 0 : static_cast<int>(rng.range(4, 30));
  int serial = 0;
  for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
    const int n = used.contains(kind) ? many : static_cast<int>(rng.range(0, 3));
    std::set<std::pair<std::string, std::string>> ids;
    for (int i = 0; i < n; ++i) {
      // Ids shared across kinds on purpose: identity is (source, kind, id).
      const std::string id = (rng.percent(30) && !avoid("kind-ids") ? "X" : std::string(1, static_cast<char>(std::toupper(kind[0])))) +
                             std::to_string(rng.percent(50) ? ++serial : rng.range(1, 400));
      json rec = std::string(kind) == "tickets" ? ticket(w, id)
                 : std::string(kind) == "deals" ? deal(w, id)
                 : std::string(kind) == "surveys" ? survey(w, id)
                                                  : event(w, id);
      const auto key = std::pair(rec["source"].get<std::string>(), reference::key_of({kind, rec}).id);
      if (!ids.insert(key).second) continue;  // one record per (source, id) and kind
      c.records.push_back({kind, std::move(rec)});
    }
  }
  return c;
}

// --- running the engine ----------------------------------------------------------------------

std::vector<rules::PartnerDef> partners() {
  rules::PartnerDef a;
  a.id = kPartner;
  a.name = "Main partner";
  a.kind = "outsourcer";
  rules::PartnerDef b = a;
  b.id = kOtherPartner;
  b.name = "Other partner";
  return {a, b};
}

std::string ndjson(const std::vector<Record>& records, const std::string& kind) {
  std::string out;
  for (const auto& r : records) {
    if (r.kind == kind) out += r.fields.dump() + "\n";
  }
  return out;
}

// The records as the importer turns them into items.
std::vector<store::Item> import_items(const std::vector<Record>& records) {
  std::vector<store::Item> items;
  for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
    sources::ImportOptions o;
    o.kind = kind;
    auto parsed = sources::parse_import(ndjson(records, kind), std::string(kind) + ".ndjson", o, partners());
    if (!parsed.bad_lines.empty()) throw std::runtime_error("generated record rejected: " + parsed.bad_lines[0].to_string());
    items.insert(items.end(), parsed.items.begin(), parsed.items.end());
  }
  return items;
}

// --- comparison ------------------------------------------------------------------------------

json capped_pending(const std::vector<reference::Listed>& list) {
  json out = json::array();
  for (std::size_t i = 0; i < list.size() && i < kEvidenceCap; ++i) {
    out.push_back({list[i].source, list[i].id, list[i].breach_at ? json(rfc(*list[i].breach_at)) : json(nullptr)});
  }
  return out;
}
json capped_evidence(const std::vector<reference::Listed>& list) {
  json out = json::array();
  for (std::size_t i = 0; i < list.size() && i < kEvidenceCap; ++i) out.push_back({list[i].source, list[i].id});
  return out;
}

// The comparable fields of the reference's document.
json normalize(const reference::Document& d, bool rolling) {
  json out;
  out["period"] = {{"start", rfc(d.period.start)}, {"end", rfc(d.period.end)}, {"open", d.open}};
  if (!rolling) out["period"]["label"] = d.period.label;
  if (!avoid("inputs")) out["input_items"] = d.inputs.size();
  out["score"] = d.score;
  for (const auto* list : {&d.kpis, &d.obligations, &d.brand_standards}) {
    for (const auto& r : *list) {
      json j;
      j["_measure"] = r.measure;
      j["status"] = r.status;
      if (r.measure == "standard") {
        j["checked"] = r.checked;
        j["violations"] = r.violations;
        j["pending"] = r.pending_count;
      } else {
        j["value"] = r.value;
        if (r.measure == "ratio") {
          j["numerator"] = *r.numerator;
          j["denominator"] = *r.denominator;
          j["interval95"] = r.interval95 ? json::array({r.interval95->first, r.interval95->second}) : json(nullptr);
          j["forecast"] = r.has_forecast ? json{{"value", r.forecast_value},
                                               {"pending_due_in_period", r.pending_due},
                                               {"meets_target", r.forecast_meets_target}}
                                         : json(nullptr);
          j["pending"] = capped_pending(r.pending);
          j["pending_total"] = r.pending.size();
        } else {
          j["sample"] = *r.sample;
          if (r.measure != "count") {
            j["missing_values"] = r.missing_values;
            j["running"] = r.running;
          }
        }
      }
      j["evidence"] = capped_evidence(r.evidence);
      j["evidence_total"] = r.evidence.size();
      out[r.section][r.id] = j;
    }
  }
  return out;
}

json normalize_value(const json& v) {
  if (v.is_object() && v.contains("seconds")) {
    json o;
    if (v.contains("milliseconds")) o["milliseconds"] = v["milliseconds"];
    else o["milliseconds"] = static_cast<std::int64_t>(std::llround(v["seconds"].get<double>() * 1000));
    o["text"] = v.value("text", "");
    return o;
  }
  return v;
}

std::int64_t count_of(const json& rule, const char* key) {
  if (!rule.contains(key)) return 0;
  const json& v = rule[key];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_array()) return static_cast<std::int64_t>(v.size());
  return -1;
}

// The same fields of the engine's document.
json normalize(const json& doc, bool rolling) {
  json out;
  out["period"] = {{"start", doc["period"]["start"]}, {"end", doc["period"]["end"]}, {"open", doc["period"]["open"]}};
  if (!rolling) out["period"]["label"] = doc["period"]["label"];
  if (!avoid("inputs")) out["input_items"] = doc["input"]["items"];
  const json score = doc.contains("score") ? doc["score"] : json("(absent)");
  out["score"] = score.is_object() && score.contains("value") ? score["value"] : score;
  for (const char* section : {"kpis", "obligations", "brand_standards"}) {
    if (!doc.contains(section)) continue;
    for (const auto& r : doc[section]) {
      json j;
      const std::string measure = r.contains("measure") ? r["measure"].get<std::string>() : "standard";
      j["_measure"] = std::string(section) == "brand_standards" ? "standard" : measure;
      j["status"] = r["status"];
      if (std::string(section) == "brand_standards") {
        j["checked"] = r.value("checked", -1);
        j["violations"] = r.value("violations", -1);
        j["pending"] = count_of(r, "pending");
      } else {
        j["value"] = r.contains("value") ? normalize_value(r["value"]) : json(nullptr);
        if (measure == "ratio") {
          j["numerator"] = r.value("numerator", -1);
          j["denominator"] = r.value("denominator", -1);
          j["interval95"] = r.contains("interval95") && r["interval95"].is_object()
                                ? json::array({r["interval95"]["low"], r["interval95"]["high"]})
                                : json(nullptr);
          if (r.contains("forecast") && r["forecast"].contains("value")) {
            j["forecast"] = {{"value", r["forecast"]["value"]},
                             {"pending_due_in_period", r["forecast"].value("pending_due_in_period", -1)},
                             {"meets_target", r["forecast"].value("meets_target", false)}};
          } else {
            j["forecast"] = nullptr;
          }
          json pending = json::array();
          for (const auto& p : r.value("pending", json::array())) {
            pending.push_back({p.value("source", ""), p.value("id", ""),
                               p.contains("breach_at") && !p["breach_at"].is_null() ? p["breach_at"] : json(nullptr)});
          }
          j["pending"] = pending;
          j["pending_total"] = r.contains("pending_truncated") ? r["pending_truncated"] : json(pending.size());
        } else {
          j["sample"] = r.value("sample", -1);
          if (measure != "count") {
            j["missing_values"] = r.value("missing_values", 0);
            j["running"] = r.value("running", 0);
          }
        }
      }
      json evidence = json::array();
      for (const auto& e : r.value("evidence", json::array())) evidence.push_back({e.value("source", ""), e.value("id", "")});
      j["evidence"] = evidence;
      j["evidence_total"] = r.contains("evidence_truncated") ? r["evidence_truncated"] : json(evidence.size());
      out[section][r["id"].get<std::string>()] = j;
    }
  }
  return out;
}

void diff(const json& engine, const json& ref, const std::string& path, std::vector<std::string>& out,
          const char* left = "engine", const char* right = "reference") {
  if (engine.is_object() && ref.is_object()) {
    std::set<std::string> keys;
    for (const auto& [k, v] : engine.items()) keys.insert(k);
    for (const auto& [k, v] : ref.items()) keys.insert(k);
    for (const auto& k : keys) {
      if (k.starts_with("_")) continue;
      diff(engine.contains(k) ? engine[k] : json("(absent)"), ref.contains(k) ? ref[k] : json("(absent)"),
           path.empty() ? k : path + "." + k, out, left, right);
    }
    return;
  }
  if (engine != ref) out.push_back(path + ": " + left + " " + engine.dump() + ", " + right + " " + ref.dump());
}

// "kpis.k3.value: …" -> "kpis[ratio].value", to tally differences by kind.
std::string signature(const std::string& difference, const json& normalized) {
  const auto colon = difference.find(':');
  std::string path = difference.substr(0, colon);
  const auto d1 = path.find('.');
  if (d1 == std::string::npos) return path;
  const std::string section = path.substr(0, d1);
  const auto d2 = path.find('.', d1 + 1);
  if (section != "kpis" && section != "obligations" && section != "brand_standards") return path;
  const std::string id = path.substr(d1 + 1, d2 == std::string::npos ? std::string::npos : d2 - d1 - 1);
  std::string measure = "?";
  if (normalized.contains(section) && normalized[section].contains(id)) measure = normalized[section][id].value("_measure", "?");
  return section + "[" + measure + "]" + (d2 == std::string::npos ? "" : path.substr(d2));
}

struct Outcome {
  std::vector<std::string> differences;
  json reference;  // normalized
};

// Evaluates one (period, as-of) with the engine and the reference and lists their differences.
Outcome compare_one(const rules::ContractVersion& contract, const calendar::Calendar& cal, const std::vector<Record>& records,
                    const std::vector<store::Item>& items, const Evaluation& e, bool check_digest, Rng* rng) {
  Outcome out;
  const bool rolling = contract.period.kind == rules::Period::Kind::rolling;
  const auto window = reference::period_containing(contract, cal.timezone(), e.t, e.as_of);
  const auto engine_window = engine::period_containing(contract, cal, rolling ? e.as_of : e.t);
  if (!engine_window) {
    out.differences.push_back("period: engine error " + engine_window.error());
    return out;
  }
  if (engine_window->start != window.start || engine_window->end != window.end || (!rolling && engine_window->label != window.label)) {
    out.differences.push_back("period_containing: engine " + engine_window->label + " [" + rfc(engine_window->start) + ", " +
                              rfc(engine_window->end) + "), reference " + window.label + " [" + rfc(window.start) + ", " +
                              rfc(window.end) + ")");
  }
  const engine::PeriodWindow pw{rolling ? engine_window->label : window.label, window.start, window.end};
  const json doc = engine::evaluate_contract(contract, cal, items, pw, e.as_of);
  const reference::Document ref = reference::evaluate(contract, cal, records, window, e.as_of);
  out.reference = normalize(ref, rolling);
  diff(normalize(doc, rolling), out.reference, "", out.differences);

  // The digest covers exactly the inputs: the same without every other item, different when an
  // input changes (docs/evaluation.md, "The document").
  if (check_digest && !ref.inputs.empty() && !avoid("inputs")) {
    std::set<reference::ItemKey> inputs(ref.inputs.begin(), ref.inputs.end());
    std::vector<Record> only;
    for (const auto& r : records) {
      if (inputs.contains(reference::key_of(r))) only.push_back(r);
    }
    const std::string digest = doc["input"]["digest"].get<std::string>();
    const json alone = engine::evaluate_contract(contract, cal, import_items(only), pw, e.as_of);
    if (alone["input"]["digest"] != digest) {
      out.differences.push_back("input.digest: changes when only the " + std::to_string(only.size()) +
                                " input(s) the reference names are given (it covers more than the inputs)");
    }
    auto changed = only;
    auto& victim = changed[static_cast<std::size_t>(rng->below(static_cast<int>(changed.size())))];
    victim.fields["custom"]["digest_probe"] = "changed";
    const json after = engine::evaluate_contract(contract, cal, import_items(changed), pw, e.as_of);
    if (after["input"]["digest"] == digest) {
      out.differences.push_back("input.digest: unchanged when input " + reference::key_of(victim).kind + " " +
                                reference::key_of(victim).id + " changes");
    }
  }
  return out;
}

std::string describe_case(const Case& c, const std::string& contract_yaml, const std::vector<Record>& records,
                          const Evaluation& e, const rules::ContractVersion& contract) {
  std::ostringstream o;
  const auto window = reference::period_containing(contract, c.calendar->cal->timezone(), e.t, e.as_of);
  o << "--- calendar " << c.calendar->name << (c.calendar->yaml.empty() ? " (built in)\n" : ":\n") << c.calendar->yaml;
  o << "--- contract:\n" << contract_yaml;
  for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
    const std::string lines = ndjson(records, kind);
    if (!lines.empty()) o << "--- " << kind << ".ndjson:\n" << lines;
  }
  o << "--- period " << (window.label.empty() ? "(rolling)" : window.label) << " [" << rfc(window.start) << ", "
    << rfc(window.end) << "), as of " << rfc(e.as_of) << "\n";
  return o.str();
}

std::string path_of(const std::string& difference) { return difference.substr(0, difference.find(':')); }

// Shrinks a failing evaluation around one of its differences: the contract down to the rule it is
// in (unweighted), then the records one at a time while a difference at the same path stays.
std::string shrink(const Case& c, const Evaluation& e, const std::string& target) {
  const std::string path = path_of(target);
  std::string rule_id;
  for (const char* section : {"kpis.", "obligations.", "brand_standards."}) {
    if (path.starts_with(section)) {
      const auto start = std::string(section).size();
      rule_id = path.substr(start, path.find('.', start) - start);
    }
  }
  std::string yaml = c.contract_text.render();
  if (!rule_id.empty()) {
    std::vector<std::size_t> only;
    for (std::size_t i = 0; i < c.contract_text.rules.size(); ++i) {
      if (c.contract_text.rules[i].id == rule_id) only.push_back(i);
    }
    yaml = c.contract_text.render(&only, false);
  }
  auto contract = rules::parse_contract(yaml, "contracts/generated.yaml");
  const auto full_contract = rules::parse_contract(c.contract_text.render(), "contracts/generated.yaml");
  if (!contract) return describe_case(c, c.contract_text.render(), c.records, e, *full_contract);
  const bool digest = path == "input.digest";
  auto differences = [&](const std::vector<Record>& records) {
    Rng rng(c.seed);
    return compare_one(*contract, *c.calendar->cal, records, import_items(records), e, digest, &rng).differences;
  };
  auto still_fails = [&](const std::vector<Record>& records) {
    for (const auto& d : differences(records)) {
      if (path_of(d) == path) return true;
    }
    return false;
  };
  std::vector<Record> records = c.records;
  if (!still_fails(records)) return describe_case(c, c.contract_text.render(), c.records, e, *full_contract);
  for (std::size_t i = records.size(); i-- > 0;) {
    auto fewer = records;
    fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(i));
    if (still_fails(fewer)) records = std::move(fewer);
  }
  std::string text = describe_case(c, yaml, records, e, *contract) + "--- differences of the shrunk case:\n";
  for (const auto& d : differences(records)) text += "  " + d + "\n";
  if (std::getenv("PACTWATCH_PROPERTY_DUMP")) {
    const auto window = reference::period_containing(*contract, c.calendar->cal->timezone(), e.t, e.as_of);
    const auto doc = engine::evaluate_contract(*contract, *c.calendar->cal, import_items(records),
                                               {window.label, window.start, window.end}, e.as_of);
    text += "--- the engine's document:\n" + doc.dump(2) + "\n";
  }
  return text;
}

struct Tally {
  int evaluations = 0;
  int failing_evaluations = 0;
  int failing_cases = 0;
  int printed = 0;
  std::map<std::string, int> by_signature;
  std::map<std::string, std::uint64_t> first_seed;
};

void report(Tally& tally, const Case& c, std::size_t k, const std::vector<std::string>& differences, const json& normalized) {
  ++tally.failing_evaluations;
  std::set<std::string> seen;
  for (const auto& d : differences) {
    const std::string s = signature(d, normalized);
    if (!seen.insert(s).second) continue;
    ++tally.by_signature[s];
    tally.first_seed.emplace(s, c.seed);
  }
  const int limit = std::getenv("PACTWATCH_PROPERTY_PRINT") ? std::atoi(std::getenv("PACTWATCH_PROPERTY_PRINT")) : 3;
  if (tally.printed >= limit) return;
  // The difference to shrink around: the first one PACTWATCH_PROPERTY_FOCUS names (a part of its
  // kind, e.g. "kpis[mean].value"), else the first in a rule, else the first.
  const char* focus = std::getenv("PACTWATCH_PROPERTY_FOCUS");
  std::optional<std::string> target;
  for (const auto& d : differences) {
    const std::string s = signature(d, normalized);
    if (focus ? s.find(focus) != std::string::npos : s.find('[') != std::string::npos) {
      target = d;
      break;
    }
  }
  if (!target && focus) return;
  if (!target) target = differences.front();
  ++tally.printed;
  std::ostringstream o;
  o << "\n=== evaluation property: case seed " << c.seed << " (PACTWATCH_PROPERTY_CASE=" << c.seed
    << " repeats it alone), evaluation " << k << " differs:\n";
  for (std::size_t i = 0; i < differences.size() && i < 25; ++i) o << "  " << differences[i] << "\n";
  if (differences.size() > 25) o << "  … " << differences.size() - 25 << " more\n";
  o << "--- shrunk around " << path_of(*target) << ":\n" << shrink(c, c.evaluations[k], *target);
  std::cout << o.str() << std::flush;
}

void print_tally(const Tally& t, std::uint64_t seed) {
  std::cout << "evaluation property seed " << seed << ": " << t.evaluations << " contract-periods compared, "
            << t.failing_evaluations << " differ (" << t.failing_cases << " case(s))\n";
  for (const auto& [s, n] : t.by_signature) {
    std::cout << "  " << n << " x " << s << " (first: PACTWATCH_PROPERTY_CASE=" << t.first_seed.at(s) << ")\n";
  }
}

TEST(EvaluationProperty, EngineMatchesReference) {
  const std::uint64_t seed = base_seed();
  std::cout << "evaluation property seed: " << seed << " (PACTWATCH_PROPERTY_SEED to repeat)\n";
  const auto started = std::chrono::steady_clock::now();
  Tally tally;
  std::vector<std::uint64_t> seeds;
  if (auto one = only_case()) {
    seeds.push_back(*one);
  } else {
    const int cases = std::getenv("PACTWATCH_PROPERTY_CASES") ? std::atoi(std::getenv("PACTWATCH_PROPERTY_CASES")) : kCases;
    for (int i = 0; i < cases; ++i) seeds.push_back(mix(seed, static_cast<std::uint64_t>(i)));
  }
  // Cases are drawn and compared on two threads (the engine and the reference are pure functions;
  // the calendar pool is built before they start); failures are reported afterwards, in case order.
  struct Differing {
    std::size_t evaluation;
    std::vector<std::string> differences;
    json reference;
  };
  std::vector<std::vector<Differing>> results(seeds.size());
  std::vector<std::string> errors(seeds.size());
  std::vector<std::size_t> compared(seeds.size(), 0);
  (void)calendar_pool();
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < seeds.size(); i = next++) {
      try {
        const Case c = draw_case(seeds[i]);
        const auto contract = rules::parse_contract(c.contract_text.render(), "contracts/generated.yaml");
        if (!contract) throw std::runtime_error("generated contract does not parse");
        const auto items = import_items(c.records);
        Rng rng(mix(seeds[i], 7));
        for (std::size_t k = 0; k < c.evaluations.size(); ++k) {
          auto o = compare_one(*contract, *c.calendar->cal, c.records, items, c.evaluations[k], rng.percent(12), &rng);
          ++compared[i];
          if (!o.differences.empty()) results[i].push_back({k, std::move(o.differences), std::move(o.reference)});
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  };
  std::thread helper(worker);
  worker();
  helper.join();
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    ASSERT_TRUE(errors[i].empty()) << "case seed " << seeds[i] << ": " << errors[i];
    tally.evaluations += static_cast<int>(compared[i]);
    if (results[i].empty()) continue;
    ++tally.failing_cases;
    const Case c = draw_case(seeds[i]);
    for (const auto& d : results[i]) report(tally, c, d.evaluation, d.differences, d.reference);
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  print_tally(tally, seed);
  std::cout << "  in " << seconds << " s\n";
  EXPECT_EQ(tally.failing_evaluations, 0) << "the engine and the reference differ; see the cases printed above";
  if (!only_case() && !std::getenv("PACTWATCH_PROPERTY_CASES")) {
    EXPECT_GE(tally.evaluations, 10'000);
  }
}

// --- through the store, incrementally ---------------------------------------------------------

using store::Backend;

class EvaluationStoreProperty : public ::testing::TestWithParam<Backend> {
 protected:
  std::unique_ptr<store::Store> fresh_store(const std::string& name) {
    return testutils::fresh_store(GetParam(), dir_, "property_" + name, T("2026-01-01T00:00:00Z"));
  }
  testutils::TempDir dir_;
};

// A later version of a record: more history, another priority or score, a close, another partner.
Record changed(Rng& rng, const Record& r, Instant as_of) {
  Record c = r;
  json& f = c.fields;
  switch (rng.below(5)) {
    case 0:
      if (c.kind == "tickets") {
        json h = f.value("status_history", json::array());
        Instant last = *core::parse_rfc3339(f["created_at"].get<std::string>());
        for (const auto& e : h) last = std::max(last, *core::parse_rfc3339(e["at"].get<std::string>()));
        const bool solved = !h.empty() && (h.back()["status"] == "solved" || h.back()["status"] == "closed");
        h.push_back({{"at", rfc(last + std::chrono::minutes(rng.range(1, 60 * 48)))}, {"status", solved ? "open" : "solved"}});
        f["status_history"] = h;
      } else if (c.kind == "deals") {
        f["closed_at"] = rfc(as_of - std::chrono::hours(rng.range(1, 24 * 40)));
      } else if (c.kind == "surveys") {
        f["score"] = rng.percent(50) ? json("good") : json(rng.range(0, 5));
      } else {
        f["value"] = rng.range(0, 20);
      }
      break;
    case 1: f["partner"] = f.value("partner", "") == kPartner ? kOtherPartner : kPartner; break;
    case 2:
      if (c.kind == "tickets") f["priority"] = f.value("priority", "") == "urgent" ? "low" : "urgent";
      else f["tags"] = json::array({"strategic", "vip"});
      break;
    case 3:
      // A late solve or registration, not before the record's creation.
      if (c.kind == "tickets" || c.kind == "deals") {
        const Instant created = core::parse_rfc3339(f.value("created_at", "")).value_or(Instant{});
        const Instant t = std::max(created, as_of - std::chrono::hours(rng.range(1, 24 * 35)));
        f[c.kind == "tickets" ? "solved_at" : "registered_at"] = rfc(t);
      }
      break;
    default: f["custom"]["region"] = "apac"; break;
  }
  f["updated_at"] = rfc(T("2027-06-01T00:00:00Z") + std::chrono::minutes(rng.range(0, 1000)));  // newer than any default
  return c;
}

// The records in a random order in three batches, then later versions of some of them.
std::vector<std::vector<Record>> batches_of(const Case& c, Rng& rng, Instant as_of) {
  std::vector<Record> order = c.records;
  std::shuffle(order.begin(), order.end(), rng.g);
  std::vector<std::vector<Record>> batches(3);
  for (std::size_t k = 0; k < order.size(); ++k) batches[k % 3].push_back(order[k]);
  std::vector<Record> updates;
  for (const auto& r : order) {
    if (rng.percent(30)) updates.push_back(changed(rng, r, as_of));
  }
  batches.push_back(updates);
  return batches;
}

struct StoreRun {
  std::vector<std::string> differences;  // each prefixed with the comparison it comes from
  json reference;                        // normalized, for signatures
  int documents = 0;
  int byte_checks = 0;
};

// Imports the batches into two fresh stores, each batch followed by an incremental run (one runner
// kept across batches as the daemon does; a new one per batch as `import --evaluate` does), then
// compares every stored document of a period any version of a record counts in with a full
// evaluation of the final data (bytes) and with the reference.
enum Paths { kDaemon = 1, kImport = 2 };

StoreRun run_store_case(const Case& c, const std::vector<std::vector<Record>>& batches, Instant as_of,
                        const std::function<std::unique_ptr<store::Store>(const std::string&)>& fresh_store, int paths) {
  StoreRun out;
  const Instant now = as_of + 5s;
  rules::RuleSet rules;
  rules.partners = partners();
  rules.calendars.emplace(c.calendar->name, *c.calendar->cal);
  auto contract = rules::parse_contract(c.contract_text.render(), "contracts/generated.yaml");
  if (!contract) throw std::runtime_error("generated contract does not parse");
  rules.contracts.push_back(*contract);
  const auto& cal = rules.calendars.at(c.calendar->name);
  const bool rolling = contract->period.kind == rules::Period::Kind::rolling;

  std::map<reference::ItemKey, Record> final_records;
  std::vector<Record> every_version;
  for (const auto& b : batches) {
    for (const auto& r : b) {
      final_records[reference::key_of(r)] = r;
      every_version.push_back(r);
    }
  }
  auto daemon_db = paths & kDaemon ? fresh_store("daemon") : nullptr;
  auto cli_db = paths & kImport ? fresh_store("cli") : nullptr;
  std::vector<store::Store*> dbs;
  for (auto* db : {daemon_db.get(), cli_db.get()}) {
    if (db) dbs.push_back(db);
  }
  std::optional<app::EvaluationRunner> daemon_runner;
  if (daemon_db) daemon_runner.emplace(rules, *daemon_db);
  for (const auto& batch : batches) {
    const auto items = import_items(batch);
    for (auto* db : dbs) {
      std::vector<store::Item> previous;
      for (const auto& item : items) {
        if (auto old = db->items().find(item.source, item.kind, item.external_id)) previous.push_back(*old);
      }
      db->items().upsert(items);
      if (db == daemon_db.get()) {
        daemon_runner->run_incremental(items, previous, as_of, now);
      } else {
        app::EvaluationRunner once(rules, *db);
        once.run_incremental(items, previous, as_of, now);
      }
    }
  }

  // Every period any version of any record can count in, as of as_of, that has started.
  std::map<std::string, Instant> periods;
  for (const auto& r : every_version) {
    for (const auto& t : reference::counting_instants(*contract, r, as_of)) {
      const auto w = reference::period_containing(*contract, cal.timezone(), t, as_of);
      if (w.start > as_of) continue;
      if (rolling && (t < w.start || t >= w.end)) continue;
      periods.emplace(rolling ? std::string("rolling") : w.label, t);
    }
  }
  std::vector<Record> final_list;
  for (const auto& [k, r] : final_records) final_list.push_back(r);
  for (const auto& [label, t] : periods) {
    const auto w = reference::period_containing(*contract, cal.timezone(), t, as_of);
    const auto ew = engine::period_containing(*contract, cal, rolling ? as_of : t);
    if (!ew) throw std::runtime_error(ew.error());
    const auto full = engine::evaluate_contract(*contract, cal, dbs.front()->items().for_period(kPartner, ew->start, ew->end), *ew, as_of);
    const std::string full_text = full.dump();
    const auto ref = normalize(reference::evaluate(*contract, cal, final_list, w, as_of), rolling);
    out.reference = ref;
    for (auto* db : dbs) {
      const std::string path = db == daemon_db.get() ? "daemon runner" : "import --evaluate";
      ++out.documents;
      const auto stored = db->evaluations().document(contract->contract, contract->version, ew->label);
      if (!stored) {
        out.differences.push_back("store: no document for period " + ew->label + " stored by the " + path +
                                  " (a record counts in it)");
        continue;
      }
      ++out.byte_checks;
      const json stored_doc = json::parse(*stored);
      if (*stored != full_text) {
        std::vector<std::string> d;
        diff(normalize(stored_doc, rolling), normalize(full, rolling), "", d, "incremental", "full");
        if (d.empty()) d.push_back(ew->label + ": the documents differ in bytes");
        for (const auto& x : d) out.differences.push_back("incremental (" + path + ") vs full: " + x);
      }
      std::vector<std::string> d;
      diff(normalize(stored_doc, rolling), ref, "", d);
      for (const auto& x : d) out.differences.push_back("stored (" + path + ") vs reference: " + x);
    }
  }
  return out;
}

TEST_P(EvaluationStoreProperty, IncrementalEqualsFullAndReference) {
  const std::uint64_t seed = base_seed();
  const bool sqlite = GetParam() == Backend::sqlite;
  std::cout << "evaluation store property seed: " << seed << "\n";
  Tally tally;
  int documents = 0, byte_checks = 0;
  int made = 0;
  struct Failed {
    Case c;
    std::vector<std::vector<Record>> batches;
    Instant as_of;
    std::vector<std::string> differences;
    int paths;
  };
  std::vector<Failed> failed;
  auto fresh = [&](const std::string& name) { return fresh_store(name + std::to_string(++made)); };
  const int cases = std::getenv("PACTWATCH_PROPERTY_STORE_CASES") ? std::atoi(std::getenv("PACTWATCH_PROPERTY_STORE_CASES"))
                    : sqlite                                     ? kStoreCases
                                                                 : kStoreCases / 2;
  for (int i = 0; i < cases; ++i) {
    const std::uint64_t case_seed = mix(seed ^ (sqlite ? 0x51 : 0x96), static_cast<std::uint64_t>(i) + 1'000'000);
    if (auto one = only_case(); one && *one != case_seed) continue;
    const Case c = draw_case(case_seed);
    Rng rng(mix(case_seed, 11));
    const Instant as_of = c.evaluations[0].as_of;  // the open period's as-of (rolling: the anchor)
    const auto batches = batches_of(c, rng, as_of);
    // SQLite takes both paths for every case; PostgreSQL (slower to set up) one path per case, in turn.
    const int paths = sqlite ? kDaemon | kImport : i % 2 == 0 ? kDaemon : kImport;
    const StoreRun run = run_store_case(c, batches, as_of, fresh, paths);
    documents += run.documents;
    byte_checks += run.byte_checks;
    tally.evaluations += run.documents;
    if (run.differences.empty()) continue;
    ++tally.failing_evaluations;
    ++tally.failing_cases;
    std::set<std::string> seen;
    for (const auto& d : run.differences) {
      const auto colon = d.find(": ");
      const std::string sig = d.substr(0, colon + 2) + signature(d.substr(colon + 2), run.reference);
      if (!seen.insert(sig).second) continue;
      ++tally.by_signature[sig];
      tally.first_seed.emplace(sig, c.seed);
    }
    failed.push_back({c, batches, as_of, run.differences, paths});
  }
  // The failing cases with differences of the incremental path first (they are the store's own).
  auto own = [](const Failed& f) {
    return std::any_of(f.differences.begin(), f.differences.end(),
                       [](const std::string& d) { return d.starts_with("store:") || d.starts_with("incremental"); });
  };
  std::stable_sort(failed.begin(), failed.end(), [&](const Failed& a, const Failed& b) { return own(a) && !own(b); });
  const int limit = std::getenv("PACTWATCH_PROPERTY_PRINT") ? std::atoi(std::getenv("PACTWATCH_PROPERTY_PRINT")) : 1;
  for (const auto& f : failed) {
    if (tally.printed >= limit) break;
    ++tally.printed;
    const Case& c = f.c;
    const auto& batches = f.batches;
    const Instant as_of = f.as_of;
    const auto& run_differences = f.differences;
    // Shrink around the first difference of the incremental path if there is one (they are the
    // store's own), else the first: drop records (every version of one at a time) while a
    // difference of the same kind stays.
    std::string target = run_differences.front();
    for (const auto& d : run_differences) {
      if (d.starts_with("store:") || d.starts_with("incremental")) {
        target = d;
        break;
      }
    }
    const std::string kind = target.substr(0, target.find(": ") + 2) + path_of(target.substr(target.find(": ") + 2));
    auto shrunk = batches;
    auto still = [&](const std::vector<std::vector<Record>>& b) {
      for (const auto& d : run_store_case(c, b, as_of, fresh, f.paths).differences) {
        if (d.starts_with(kind)) return true;
      }
      return false;
    };
    std::vector<reference::ItemKey> keys;
    for (const auto& r : c.records) keys.push_back(reference::key_of(r));
    // Each try imports and evaluates afresh; stop after 20 seconds (PostgreSQL is slow to set up).
    const auto shrink_started = std::chrono::steady_clock::now();
    for (std::size_t k = keys.size(); k-- > 0 && std::chrono::steady_clock::now() - shrink_started < 20s;) {
      auto fewer = shrunk;
      for (auto& b : fewer) {
        std::erase_if(b, [&](const Record& r) { return reference::key_of(r) == keys[k]; });
      }
      if (still(fewer)) shrunk = std::move(fewer);
    }
    std::ostringstream o;
    o << "\n=== evaluation store property (" << (sqlite ? "SQLite" : "PostgreSQL") << "): case seed " << c.seed
      << " (PACTWATCH_PROPERTY_CASE=" << c.seed << "):\n";
    for (std::size_t k = 0; k < run_differences.size() && k < 20; ++k) o << "  " << run_differences[k] << "\n";
    o << "--- shrunk around " << kind << ":\n--- calendar " << c.calendar->name << ":\n" << c.calendar->yaml
      << "--- contract:\n" << c.contract_text.render();
    for (std::size_t b = 0; b < shrunk.size(); ++b) {
      for (const char* k : {"tickets", "deals", "surveys", "events"}) {
        const std::string lines = ndjson(shrunk[b], k);
        if (!lines.empty()) o << "--- batch " << b + 1 << ", import " << k << " --evaluate:\n" << lines;
      }
    }
    o << "--- as of " << rfc(as_of) << "; differences of the shrunk case:\n";
    for (const auto& d : run_store_case(c, shrunk, as_of, fresh, f.paths).differences) o << "  " << d << "\n";
    std::cout << o.str() << std::flush;
  }
  print_tally(tally, seed);
  std::cout << "  " << documents << " stored documents checked, " << byte_checks << " byte-compared with a full evaluation\n";
  EXPECT_EQ(tally.failing_evaluations, 0);
  if (!only_case()) {
    EXPECT_GT(byte_checks, cases * 2);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, EvaluationStoreProperty, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param) { return param.param == Backend::sqlite ? "SQLite" : "PostgreSQL"; });

}  // namespace
}  // namespace pactwatch
