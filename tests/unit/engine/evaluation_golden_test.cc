// Evaluation documents byte for byte against committed golden files (tests/golden/evaluations/):
// a fixed set of contracts and items — the shipped example scenarios and a seeded generated data
// set — each evaluated open and closed, with the stored evidence cap and a small one. A change to
// how documents are built or rendered that changes no byte passes; any other change shows the
// first differing case. PACTWATCH_GOLDEN_UPDATE=1 writes the files anew (review the diff).
// The same cases check that a document read back (engine::parse_evaluation) renders to the same
// bytes and keeps every typed field.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "pactwatch/config/yaml_check.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/engine/evaluation_json.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/generate.h"
#include "pactwatch/sources/import.h"
#include "temp_dir.h"

namespace pactwatch::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kGoldenDir = fs::path(PACTWATCH_SOURCE_DIR) / "tests/golden/evaluations";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A scenario's record as NDJSON reads it (the same reading as `pactwatch test`).
json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.Scalar()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& v : n) a.push_back(yaml_to_json(v));
    return a;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& v = n.Scalar();
  if (n.Tag() != "!") {
    static const std::regex kNull("null|Null|NULL|~|"), kTrue("true|True|TRUE"), kFalse("false|False|FALSE");
    static const std::regex kNumber("[-+]?[0-9]+(\\.[0-9]+)?");
    if (std::regex_match(v, kNull)) return nullptr;
    if (std::regex_match(v, kTrue)) return true;
    if (std::regex_match(v, kFalse)) return false;
    if (std::regex_match(v, kNumber)) {
      const json number = json::parse(v[0] == '+' ? v.substr(1) : v, nullptr, false);
      if (number.is_number()) return number;
    }
  }
  return v;
}

struct Case {
  std::string name;
  const rules::ContractVersion* contract = nullptr;
  const calendar::Calendar* cal = nullptr;
  const std::vector<core::Item>* items = nullptr;
  PeriodWindow window;
  core::Instant as_of{};
  std::size_t limit = kMaxEvidence;
};

// Everything the cases point into, kept alive for the whole suite.
struct World {
  std::vector<rules::RuleSet> sets;
  std::vector<std::vector<core::Item>> item_lists;
  std::vector<Case> cases;
};

void add_cases(World& w, const std::string& name, const rules::ContractVersion& c, const calendar::Calendar& cal,
               const std::vector<core::Item>& items, const PeriodWindow& window, core::Instant closed_as_of) {
  const core::Instant open_as_of = window.start + (window.end - window.start) / 2;
  for (const auto& [suffix, as_of] : {std::pair{"open", open_as_of}, {"closed", closed_as_of}}) {
    for (const std::size_t limit : {kMaxEvidence, std::size_t{2}}) {
      w.cases.push_back({name + "-" + suffix + (limit == kMaxEvidence ? "" : "-cap2"), &c, &cal, &items, window, as_of, limit});
    }
  }
}

void add_scenarios(World& w) {
  const fs::path dir = fs::path(PACTWATCH_SOURCE_DIR) / "rules/examples/scenarios";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  auto set = rules::load_rule_set(dir / "..");
  if (!set) throw std::runtime_error("the example rules do not load");
  w.sets.push_back(std::move(*set));
  const auto& rules = w.sets.back();
  for (const auto& file : files) {
    config::YamlReport report{file.string()};
    const YAML::Node doc = config::parse_yaml(read_text(file), report);
    const std::string contract_id = doc["contract"].Scalar();
    const rules::ContractVersion* contract = nullptr;
    for (const auto& c : rules.contracts) {
      if (c.contract == contract_id && (!contract || c.version > contract->version)) contract = &c;
    }
    std::vector<core::Item> items;
    for (const auto& kv : doc["items"]) {
      std::string ndjson;
      for (const auto& rec : kv.second) ndjson += yaml_to_json(rec).dump() + "\n";
      sources::ImportOptions opt;
      opt.kind = kv.first.Scalar();
      opt.source = "scenario";
      auto parsed = sources::parse_import(ndjson, file.string(), opt, rules.partners);
      items.insert(items.end(), parsed.items.begin(), parsed.items.end());
    }
    w.item_lists.push_back(std::move(items));
    const auto& cal = rules.calendars.at(contract->calendar);
    const auto window = period_by_label(*contract, cal, doc["period"].Scalar());
    add_cases(w, "scenario-" + file.stem().string(), *contract, cal, w.item_lists.back(), *window,
              *core::parse_rfc3339(doc["as_of"].Scalar()));
  }
}

void add_generated(World& w) {
  const testutils::TempDir tmp;
  sources::GenerateOptions opt;
  opt.partners = 3;
  opt.tickets = 1500;
  opt.seed = 20;
  if (!sources::generate(tmp.path(), opt)) throw std::runtime_error("gen failed");
  // A contract whose timers are still running in an open period (a mean, a percentile and a
  // ratio counted by creation: running values and pending items), and a total.
  const auto first = rules::load_rule_set(tmp.path() / "rules");
  if (!first) throw std::runtime_error("the generated rules do not load");
  tmp.write("rules/contracts/running.yaml",
            "contract: running\nversion: 1\npartner: " + first->contracts.front().partner +
                "\neffective: {from: 2026-01-01}\ncurrency: EUR\ncalendar: desk\nperiod: month\nkpis:\n"
                "  - {id: reply_mean, source: tickets, measure: {mean: first_reply}, objective: {target: \"<= 4h\", warning: \"<= 2h\"}}\n"
                "  - {id: resolution_p50, source: tickets, measure: {percentile: 50, of: resolution}, objective: {target: \"<= 8h\"}, min_sample: 3}\n"
                "  - {id: handled, source: tickets, measure: {count: true}, objective: {target: \">= 100000\"}}\n"
                "  - {id: solved_in_time, source: tickets, measure: {ratio: resolution <= 100h}, objective: {target: \">= 90%\"}}\n"
                "  - {id: quick_solved, source: tickets, where: resolution <= 200h, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 50%\"}}\n"
                "  - {id: score_mean, source: surveys, measure: {mean: score}, objective: {target: \">= 3\"}}\n");
  auto set = rules::load_rule_set(tmp.path() / "rules");
  if (!set) throw std::runtime_error("the generated rules do not load");
  w.sets.push_back(std::move(*set));
  const auto& rules = w.sets.back();
  std::vector<core::Item> items;
  for (const char* kind : {"tickets", "surveys"}) {
    sources::ImportOptions io;
    io.kind = kind;
    io.source = "gen";
    auto parsed = sources::parse_import(read_text(tmp.path() / (std::string(kind) + ".ndjson")), kind, io, rules.partners);
    items.insert(items.end(), parsed.items.begin(), parsed.items.end());
  }
  w.item_lists.push_back(std::move(items));
  for (const auto& c : rules.contracts) {
    const auto& cal = rules.calendars.at(c.calendar);
    for (const char* label : {"2026-04", "2026-10"}) {
      const auto window = period_by_label(c, cal, label);
      add_cases(w, "gen-" + c.contract + "-" + label, c, cal, w.item_lists.back(), *window, window->end + std::chrono::hours(24));
    }
  }
}

const World& world() {
  static const World w = [] {
    World out;
    out.sets.reserve(2);
    out.item_lists.reserve(16);
    add_scenarios(out);
    add_generated(out);
    return out;
  }();
  return w;
}

std::string rendered(const Case& c) {
  PeriodState state(*c.contract, *c.cal, c.window, c.as_of);
  state.set_evidence_limit(c.limit);
  for (const auto& i : *c.items) state.upsert(i);
  return state.render_document().text;
}

TEST(EvaluationGolden, DocumentsAreByteIdenticalToTheGoldenFiles) {
  const bool update = std::getenv("PACTWATCH_GOLDEN_UPDATE") != nullptr;
  if (update) fs::create_directories(kGoldenDir);
  const auto& w = world();
  ASSERT_GE(w.cases.size(), 20u);
  for (const auto& c : w.cases) {
    const std::string text = rendered(c);
    const fs::path file = kGoldenDir / (c.name + ".json");
    if (update) {
      std::ofstream(file, std::ios::binary) << text;
      continue;
    }
    ASSERT_TRUE(fs::exists(file)) << file << " is missing (PACTWATCH_GOLDEN_UPDATE=1 writes it)";
    EXPECT_EQ(text, read_text(file)) << c.name;
    // The one-shot form gives the same document.
    EXPECT_EQ(evaluate_contract(*c.contract, *c.cal, *c.items, c.window, c.as_of, c.limit).dump(), text) << c.name;
  }
}

TEST(EvaluationGolden, TheCasesCoverEveryKindOfRuleAndForecast) {
  // The goldens prove something only if they hold every shape a document can take.
  std::set<std::string> seen;
  for (const auto& c : world().cases) {
    const json doc = json::parse(read_text(kGoldenDir / (c.name + ".json")));
    for (const auto& k : doc["kpis"]) {
      seen.insert("kpi:" + k["measure"].get<std::string>());
      if (k.contains("forecast")) seen.insert("forecast");
      if (k.contains("evidence_truncated")) seen.insert("evidence_truncated");
      if (k.contains("pending_truncated")) seen.insert("pending_truncated");
      if (k.contains("running")) seen.insert("running");
      if (k.contains("missing_values")) seen.insert("missing_values");
      if (k.contains("where_undetermined")) seen.insert("where_undetermined");
      seen.insert("status:" + k["status"].get<std::string>());
    }
    if (!doc["obligations"].empty()) seen.insert("obligation");
    if (!doc["brand_standards"].empty()) seen.insert("standard");
    if (doc.contains("score")) seen.insert(doc["score"]["value"].is_null() ? "score:null" : "score");
  }
  for (const char* want : {"kpi:ratio", "kpi:percentile", "kpi:mean", "kpi:sum", "kpi:count", "forecast", "evidence_truncated",
                           "pending_truncated", "running", "missing_values", "where_undetermined", "obligation", "standard", "score", "score:null", "status:met",
                           "status:warning", "status:at_risk", "status:breached", "status:insufficient_data"}) {
    EXPECT_TRUE(seen.contains(want)) << want;
  }
}

// Every typed field of an evaluation, as text: what a round trip must keep.
std::string describe(const Value& v) {
  switch (v.kind) {
    case Value::Kind::null: return "null";
    case Value::Kind::duration: return std::to_string(v.duration.count()) + "ms" + (v.running ? "+" : "");
    case Value::Kind::number: return "n" + std::to_string(v.number);
    case Value::Kind::money: return v.money->to_string();
    default: return value_json(v).dump();
  }
}

template <typename Entry>
std::string describe(const CappedList<Entry>& l) {
  std::string out = std::to_string(l.total) + "[";
  for (const auto& e : l.shown) {
    if constexpr (std::is_same_v<Entry, PendingEntry>) {
      out += e.entry->source + "/" + e.entry->id + (e.breach_at ? "@" + core::format_rfc3339(*e.breach_at) : "") + " ";
    } else {
      out += e->source + "/" + e->id + " " + e->json;
    }
  }
  return out + "]";
}

std::string describe(const KpiResult& k) {
  std::string out = k.id + " " + std::string(rules::to_string(k.measure)) + " " + std::string(core::to_string(k.status)) +
                    " " + std::to_string(k.numerator) + "/" + std::to_string(k.denominator) + " s" + std::to_string(k.sample) +
                    " m" + std::to_string(k.missing_values) + " r" + std::to_string(k.running) + " w" +
                    std::to_string(k.where_undetermined) + " v=" + (k.value ? describe(*k.value) : "none") + " " + k.target +
                    (k.warning ? *k.warning : "") + (k.weight ? rules::literal_text(*k.weight) : "") + " ";
  if (k.forecast) {
    out += "f" + std::to_string(static_cast<int>(k.forecast->method)) + ":" + std::to_string(k.forecast->pending_due_in_period);
    if (k.forecast->share) {
      out += ":" + std::to_string(k.forecast->share->numerator) + "/" + std::to_string(k.forecast->share->denominator) +
             (k.forecast->meets_target ? "+" : "-");
    }
  }
  return out + " e" + describe(k.evidence) + " p" + describe(k.pending);
}

std::string describe(const Evaluation& e) {
  std::string out = e.engine_version + " " + e.contract.id + " v" + std::to_string(e.contract.version) + " " + e.contract.sha256 +
                    (e.contract.enforced ? " enforced " : " draft ") + e.contract.partner + " " + e.period.label + " " +
                    core::format_rfc3339(e.period.start) + " " + core::format_rfc3339(e.period.end) + (e.open ? " open " : " closed ") +
                    core::format_rfc3339(e.as_of) + " " + std::to_string(e.input_items) + " " + e.input_digest + "\n";
  for (const auto& p : e.problems) out += "problem " + p.source + "/" + p.id + ": " + p.problem + "\n";
  for (const auto& k : e.kpis) out += "kpi " + describe(k) + "\n";
  for (const auto& k : e.obligations) out += "obligation " + describe(k) + "\n";
  for (const auto& s : e.brand_standards) {
    out += "standard " + s.id + " " + std::string(rules::to_string(s.severity)) + " " + std::to_string(s.checked) + " " +
           std::to_string(s.pending) + " " + describe(s.violations) + "\n";
  }
  if (const auto score = e.score()) out += "score " + std::to_string(score->numerator) + "/" + std::to_string(score->denominator);
  return out;
}

TEST(EvaluationJson, EveryGoldenDocumentReadsBackToTheSameBytes) {
  for (const auto& c : world().cases) {
    const std::string text = read_text(kGoldenDir / (c.name + ".json"));
    const auto e = parse_evaluation(text);
    ASSERT_TRUE(e) << c.name << ": " << e.error();
    EXPECT_EQ(render_evaluation(*e), text) << c.name;
  }
}

TEST(EvaluationJson, AnEvaluationSurvivesRenderingAndReadingBack) {
  for (const auto& c : world().cases) {
    const Evaluation e = evaluate_period(*c.contract, *c.cal, *c.items, c.window, c.as_of, c.limit);
    const auto back = parse_evaluation(render_evaluation(e));
    ASSERT_TRUE(back) << c.name << ": " << back.error();
    EXPECT_EQ(describe(*back), describe(e)) << c.name;
  }
}

TEST(EvaluationJson, AnUncappedEvaluationListsEveryItem) {
  // The API's evidence route asks for every entry (SIZE_MAX): nothing is left out, nothing truncated.
  std::int64_t listed = 0;
  for (const auto& c : world().cases) {
    const Evaluation e = evaluate_period(*c.contract, *c.cal, *c.items, c.window, c.as_of, SIZE_MAX);
    for (const auto& k : e.kpis) {
      EXPECT_EQ(static_cast<std::int64_t>(k.evidence.shown.size()), k.evidence.total) << c.name << " " << k.id;
      EXPECT_EQ(static_cast<std::int64_t>(k.pending.shown.size()), k.pending.total) << c.name << " " << k.id;
      listed += k.evidence.total;
    }
    for (const auto& s : e.brand_standards) EXPECT_FALSE(s.violations.truncated()) << c.name << " " << s.id;
  }
  EXPECT_GT(listed, 100);
}

TEST(EvaluationJson, ADocumentThatIsNotOneIsAnError) {
  EXPECT_FALSE(parse_evaluation(std::string_view("not json")));
  EXPECT_FALSE(parse_evaluation(std::string_view("{}")));
  const auto& c = world().cases.front();
  json doc = json::parse(read_text(kGoldenDir / (c.name + ".json")));
  doc["kpis"][0]["status"] = "fine";
  const auto bad = evaluation_from_json(doc);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("unknown status"), std::string::npos) << bad.error();
}

TEST(EvaluationJson, PlottedValuesAreTheNumbersTheDocumentShows) {
  KpiResult ratio;
  ratio.numerator = 187;
  ratio.denominator = 200;
  EXPECT_EQ(ratio.plotted(), 93.5);
  KpiResult p90;
  p90.measure = rules::MeasureKind::percentile;
  EXPECT_EQ(p90.plotted(), std::nullopt);
  Value d;
  d.kind = Value::Kind::duration;
  d.duration = Millis(1667);
  p90.value = d;
  EXPECT_EQ(p90.plotted(), 1.667);
  Value n;
  n.kind = Value::Kind::number;
  n.number = 86'500'000;
  p90.value = n;
  EXPECT_EQ(p90.plotted(), 86.5);
}

}  // namespace
}  // namespace pactwatch::engine
