#include <unistd.h>

#include <cctype>
#include <iostream>
#include <map>
#include <regex>

#include "context.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/config/yaml_check.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/import.h"
#include "pactwatch/sources/sync.h"
#include "pactwatch/store/store.h"

namespace pactwatch::cli {

namespace {

using nlohmann::json;

void print(const core::Diagnostics& ds) {
  for (const auto& d : ds) std::cerr << d.to_string() << '\n';
}

// The rules with enforcement left to the store's recorded approvals (enforce_recorded_or_report).
std::optional<rules::RuleSet> rules_or_report(const std::string& dir) {
  auto r = rules::load_rule_set(dir, rules::Enforcement::recorded_later);
  if (!r) {
    print(r.error());
    std::cerr << dir << ": " << r.error().size() << " problem(s); run 'pactwatch check'\n";
    return std::nullopt;
  }
  return std::move(*r);
}

}  // namespace

std::unique_ptr<store::Store> open_store(const config::Config& c, const std::string& url_override, bool migrate) {
  const std::string url = url_override.empty() ? c.database_url : url_override;
  auto password = config::read_secret(c.database_password, "database password");
  if (!password) {
    std::cerr << password.error() << '\n';
    return nullptr;
  }
  auto db = store::Store::open({url, *password, c.database_pool_size, 0, std::chrono::seconds(c.database_statement_timeout_s)});
  if (!db) {
    std::cerr << db.error() << '\n';
    return nullptr;
  }
  try {
    if (migrate) (*db)->migrate(core::SystemClock().now());
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return nullptr;
  }
  return std::move(*db);
}

namespace {

const char* colour(const std::string& status, bool tty) {
  if (!tty) return "";
  if (status == "met") return "\033[32m";
  if (status == "warning" || status == "at_risk") return "\033[33m";
  if (status == "breached") return "\033[31m";
  return "\033[90m";
}

std::string cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("text")) return v["text"].get<std::string>() + (v.contains("running") ? "+" : "");
  return v.dump();
}

void print_table(const json& doc) {
  const bool tty = ::isatty(1) != 0;
  const char* reset = tty ? "\033[0m" : "";
  const auto& c = doc["contract"];
  std::cout << c["id"].get<std::string>() << " v" << c["version"].get<int>() << "  partner " << c["partner"].get<std::string>()
            << "  period " << doc["period"]["label"].get<std::string>() << (doc["period"]["open"].get<bool>() ? " (open)" : "")
            << "  as of " << doc["as_of"].get<std::string>() << "  " << c["status"].get<std::string>() << '\n';
  char line[256];
  std::snprintf(line, sizeof line, "  %-26s %-14s %-14s %-8s %s\n", "KPI", "value", "target", "sample", "status");
  std::cout << line;
  auto rows = [&](const json& list, const char* prefix) {
    for (const auto& k : list) {
      std::string sample = k.contains("denominator") ? std::to_string(k["numerator"].get<std::int64_t>()) + "/" +
                                                           std::to_string(k["denominator"].get<std::int64_t>())
                                                     : std::to_string(k.value("sample", 0));
      const std::string status = k["status"].get<std::string>();
      std::snprintf(line, sizeof line, "  %-26s %-14s %-14s %-8s ", (std::string(prefix) + k["id"].get<std::string>()).c_str(),
                    cell(k["value"]).c_str(), k["target"].get<std::string>().c_str(), sample.c_str());
      std::cout << line << colour(status, tty) << status << reset << '\n';
    }
  };
  rows(doc["kpis"], "");
  rows(doc["obligations"], "brand: ");
  for (const auto& s : doc["brand_standards"]) {
    const std::string status = s["status"].get<std::string>();
    std::snprintf(line, sizeof line, "  %-26s %-14s %-14s %-8s ", ("standard: " + s["id"].get<std::string>()).c_str(),
                  (std::to_string(s["violations"].get<std::int64_t>()) + " violation(s)").c_str(),
                  s["severity"].get<std::string>().c_str(), std::to_string(s["checked"].get<std::int64_t>()).c_str());
    std::cout << line << colour(status, tty) << status << reset << '\n';
  }
  if (doc.contains("score")) std::cout << "  score " << cell(doc["score"]["value"]) << '\n';
}

// The versions of a partner's contracts whose effective range meets the period.
std::vector<const rules::ContractVersion*> versions_for(const rules::RuleSet& set, const std::string& partner) {
  std::vector<const rules::ContractVersion*> out;
  for (const auto& c : set.contracts) {
    if (partner.empty() || c.partner == partner) out.push_back(&c);
  }
  return out;
}

}  // namespace

int cmd_import(const config::Config& config, const StoreArgs& s, const ImportArgs& a) {
  const core::SystemClock clock;
  auto set = rules_or_report(s.rules_dir.empty() ? config.rules_dir : s.rules_dir);
  if (!set) return 1;
  auto text = core::read_file(a.file);
  if (!text) {
    std::cerr << a.file << ": cannot read the file\n";
    return 1;
  }
  sources::ImportOptions opt;
  opt.kind = a.kind;
  opt.source = a.source;
  opt.skip_bad = a.skip_bad;
  const bool csv = a.format == "csv" || (a.format.empty() && a.file.size() > 4 && a.file.substr(a.file.size() - 4) == ".csv");
  opt.format = csv ? sources::ImportFormat::csv : sources::ImportFormat::ndjson;
  auto parsed = sources::parse_import(*text, a.file, opt, set->partners);
  if (!parsed.bad_lines.empty()) {
    print(parsed.bad_lines);
    if (!a.skip_bad) {
      std::cerr << a.file << ": " << parsed.bad_lines.size() << " bad line(s); nothing imported (--skip-bad imports the rest)\n";
      return 1;
    }
    std::cerr << a.file << ": skipped " << parsed.bad_lines.size() << " bad line(s) listed above\n";
  }
  auto db = open_store(config, s.db_url, true);
  if (!db || !enforce_recorded_or_report(*set, *db)) return 1;
  try {
    std::vector<store::Item> previous;
    if (a.evaluate) {
      // The stored versions, read in batches (one statement per 500 items, not one per item).
      for (auto& old : sources::stored_versions(*db, parsed.items)) {
        if (old) previous.push_back(std::move(*old));
      }
    }
    const auto counts = db->items().upsert(parsed.items);
    std::cout << "imported " << parsed.items.size() << " " << a.kind << " from " << a.file << ": " << counts.written
              << " written, " << counts.unchanged << " unchanged; "
              << static_cast<std::int64_t>(parsed.items.size()) - parsed.unattributed << " attributed to a partner, "
              << parsed.unattributed << " unattributed\n";
    if (a.evaluate) {
      const auto now = clock.now();
      app::EvaluationRunner runner(*set, *db);
      const auto stats = runner.run_incremental(parsed.items, previous, now, now);
      std::cout << "re-evaluated " << stats.evaluations << " contract period(s): " << stats.status_changes
                << " status change(s)\n";
    }
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << "; nothing imported\n";
    return 1;
  }
  return 0;
}

int cmd_eval(const config::Config& config, const StoreArgs& s, const EvalArgs& a) {
  const core::SystemClock clock;
  core::Instant as_of = clock.now();
  if (!a.as_of.empty()) {
    auto t = core::parse_rfc3339(a.as_of);
    if (!t) {
      std::cerr << "pactwatch: --as-of: " << t.error() << '\n';
      return 1;
    }
    as_of = *t;
  }
  auto set = rules_or_report(s.rules_dir.empty() ? config.rules_dir : s.rules_dir);
  if (!set) return 1;
  if (!a.partner.empty() && !set->partner(a.partner)) {
    std::cerr << "pactwatch: unknown partner '" << a.partner << "'\n";
    return 1;
  }
  auto db = open_store(config, s.db_url, true);
  if (!db || !enforce_recorded_or_report(*set, *db)) return 1;
  json all = json::array();
  // One partner and period at a time: only the items that can count in it are in memory.
  std::map<std::string, std::vector<const rules::ContractVersion*>> by_partner;
  for (const auto* c : versions_for(*set, a.partner)) by_partner[c->partner].push_back(c);
  for (const auto& [partner, versions] : by_partner) {
    for (const auto* c : versions) {
      const auto& cal = set->calendars.at(c->calendar);
      auto window = a.period.empty() ? engine::period_containing(*c, cal, as_of) : engine::period_by_label(*c, cal, a.period);
      if (!window) {
        std::cerr << "pactwatch: " << window.error() << '\n';
        return 1;
      }
      if (!engine::in_effect_during(*c, *window)) continue;
      std::vector<store::Item> items;
      std::vector<engine::Exclusion> exclusions;
      try {
        items = db->items().for_period(partner, window->start, window->end);
        exclusions = ledger::exclusions_for(db->disputes().accepted_all(c->contract), *c, *window, as_of);
      } catch (const store::StoreError& e) {
        std::cerr << e.what() << '\n';
        return 1;
      }
      all.push_back(engine::evaluate_contract(*c, cal, items, *window, as_of, engine::kMaxEvidence, exclusions));
    }
  }
  if (a.save) {
    // One durable transaction, as the daemon's runs: stored whole or not at all.
    std::vector<store::EvaluationRecord> records;
    for (const auto& doc : all) records.push_back(app::evaluation_record(doc));
    try {
      for (const auto& change : db->evaluations().save_all(records, clock.now())) {
        std::cerr << "status: " << change.contract << " v" << change.version << " " << change.period << " "
                  << change.rule << ": " << change.from.value_or("(new)") << " -> " << change.to << '\n';
      }
    } catch (const store::StoreError& e) {
      std::cerr << e.what() << '\n';
      return 1;
    }
  }
  if (a.format == "json") {
    std::cout << json{{"evaluations", all}}.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    if (all.empty()) std::cout << "no contract in effect for that partner and period\n";
    for (const auto& doc : all) {
      print_table(doc);
      std::cout << '\n';
    }
  }
  return 0;
}

// --- scenario tests ------------------------------------------------------------------------

namespace {

std::string expect_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : ""; }

// A scenario's item as the import reads the same record in NDJSON (YAML 1.2's core schema): plain
// true/false are booleans, plain integers and decimals numbers, plain null or ~ absent; quoted
// scalars and everything else are strings.
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
    static const std::regex kNull("null|Null|NULL|~|");
    static const std::regex kTrue("true|True|TRUE"), kFalse("false|False|FALSE");
    static const std::regex kInt("[-+]?[0-9]+");
    static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
    if (std::regex_match(v, kNull)) return nullptr;
    if (std::regex_match(v, kTrue)) return true;
    if (std::regex_match(v, kFalse)) return false;
    if (std::regex_match(v, kInt)) {
      try {
        return std::stoll(v);
      } catch (const std::exception&) {  // too long for an integer: a decimal, as JSON reads it
      }
    }
    if (std::regex_match(v, kFloat)) {
      // As an NDJSON reader takes the same digits: a JSON number (".5" and "1." written out fully).
      std::string text = v[0] == '+' ? v.substr(1) : v;
      if (auto dot = text.find('.'); dot != std::string::npos) {
        if (dot == 0 || text[dot - 1] == '-') text.insert(dot, "0");
        dot = text.find('.');
        if (dot + 1 == text.size() || !std::isdigit(static_cast<unsigned char>(text[dot + 1]))) text.insert(dot + 1, "0");
      }
      const json number = json::parse(text, nullptr, false);
      if (number.is_number()) return number;
    }
  }
  return v;
}

std::string actual_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("text")) return v["text"].get<std::string>();
  if (v.is_null()) return "null";
  return v.dump();
}

// Compares the expected fields of one rule with its evaluation; returns (checks, failures).
std::pair<int, int> compare_rule(const std::string& file, const std::string& section, const std::string& id,
                                 const YAML::Node& expected, const json& list) {
  int checks = 0, failures = 0;
  const json* found = nullptr;
  for (const auto& r : list) {
    if (r["id"] == id) found = &r;
  }
  if (!found) {
    std::cout << "FAIL " << file << ": " << section << " '" << id << "' is not in the contract\n";
    return {1, 1};
  }
  for (const auto& kv : expected) {
    ++checks;
    const std::string key = kv.first.Scalar();
    const std::string want = expect_text(kv.second);
    // `excluded`: how many items exclusions left out of the rule.
    const std::string got = key == "excluded" ? (found->contains("excluded") ? (*found)["excluded"]["items"].dump() : "0")
                            : found->contains(key) ? actual_text((*found)[key])
                                                   : "(absent)";
    if (got != want) {
      ++failures;
      std::cout << "FAIL " << file << ": " << section << " '" << id << "' " << key << ": expected " << want << ", got "
                << got << '\n';
    }
  }
  return {checks, failures};
}

// A scenario's `exclusions` (docs/evaluation.md, "Scenario tests"): accepted disputes and
// corrections as the evaluation applies them. Each names what excludes (`by`), the rules, and
// one item (`item: {kind, id}`, of source `scenario` unless it says), a window of creation
// instants (`created: {from, until}`), or neither (the whole rules).
std::expected<std::vector<engine::Exclusion>, std::string> scenario_exclusions(const std::string& file, const YAML::Node& list,
                                                                                const rules::ContractVersion& contract) {
  std::vector<engine::Exclusion> out;
  if (!list) return out;
  auto at = [&](const YAML::Node& n, const std::string& what) {
    return file + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1) + ": exclusions: " + what;
  };
  if (!list.IsSequence()) return std::unexpected(at(list, "expected a list"));
  auto has_rule = [&](const std::string& id) {
    auto named = [&](const auto& rs) { return std::any_of(rs.begin(), rs.end(), [&](const auto& r) { return r.id == id; }); };
    return named(contract.kpis) || named(contract.obligations) || named(contract.brand_standards);
  };
  for (const auto& n : list) {
    if (!n.IsMap()) return std::unexpected(at(n, "each is a mapping with by, rules and item or created"));
    for (const auto& kv : n) {
      const auto key = kv.first.Scalar();
      if (key != "by" && key != "rules" && key != "item" && key != "created") {
        return std::unexpected(at(kv.first, "unknown key '" + key + "' (expected by, rules, item or created)"));
      }
    }
    engine::Exclusion x;
    x.by = n["by"] && n["by"].IsScalar() ? n["by"].Scalar() : "";
    if (x.by.empty()) return std::unexpected(at(n, "by: say what excludes (\"dispute 12\", \"correction 3\")"));
    if (!n["rules"] || !n["rules"].IsSequence() || n["rules"].size() == 0) return std::unexpected(at(n, "rules: a list of rule ids"));
    for (const auto& r : n["rules"]) {
      if (!r.IsScalar() || !has_rule(r.Scalar())) {
        return std::unexpected(at(r, "rules: '" + (r.IsScalar() ? r.Scalar() : std::string("?")) + "' is not a rule of " + contract.contract));
      }
      x.rules.push_back(r.Scalar());
    }
    if (n["item"] && n["created"]) return std::unexpected(at(n, "an exclusion is of one item or of a window, not both"));
    if (const auto& i = n["item"]; i) {
      if (!i.IsMap() || !i["kind"] || !i["id"]) return std::unexpected(at(i, "item: {kind, id} (and source, default scenario)"));
      x.source = i["source"] ? i["source"].Scalar() : "scenario";
      x.kind = i["kind"].Scalar();
      x.id = i["id"].Scalar();
    } else if (const auto& w = n["created"]; w) {
      if (!w.IsMap() || !w["from"]) return std::unexpected(at(w, "created: {from, until}"));
      auto from = core::parse_rfc3339(w["from"].Scalar());
      if (!from) return std::unexpected(at(w["from"], "created.from: " + from.error()));
      x.created_from = *from;
      if (w["until"]) {
        auto until = core::parse_rfc3339(w["until"].Scalar());
        if (!until) return std::unexpected(at(w["until"], "created.until: " + until.error()));
        if (*until <= *from) return std::unexpected(at(w["until"], "created.until must come after created.from"));
        x.created_until = *until;
      }
    }
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

int cmd_test(const std::vector<std::string>& files) {
  int scenarios = 0, failed_scenarios = 0, checks = 0, failures = 0, broken = 0;
  // One scenario; its failed checks (or being broken) count against it.
  auto run_one = [&](const std::string& file) {
    auto text = core::read_file(file);
    config::YamlReport report{file};
    YAML::Node doc = text ? config::parse_yaml(*text, report) : YAML::Node();
    if (!text || !report.ok() || !doc.IsMap()) {
      if (!text) std::cout << "FAIL " << file << ": cannot read the file\n";
      for (const auto& d : report.diagnostics()) std::cout << "FAIL " << d.to_string() << '\n';
      if (text && report.ok()) std::cout << "FAIL " << file << ": a scenario is a mapping\n";
      ++broken;
      return;
    }
    report.check_keys(doc, {"description", "rules", "contract", "version", "period", "as_of", "items", "exclusions", "expect"},
                      "scenario");
    const auto dir = std::filesystem::path(file).parent_path();
    auto set = rules::load_rule_set(dir / expect_text(doc["rules"]));
    const auto as_of = core::parse_rfc3339(expect_text(doc["as_of"]));
    if (!report.ok() || !set || !as_of) {
      for (const auto& d : report.diagnostics()) std::cout << "FAIL " << d.to_string() << '\n';
      if (!set) {
        for (const auto& d : set.error()) std::cout << "FAIL " << d.to_string() << '\n';
      }
      if (!as_of) std::cout << "FAIL " << file << ": as_of: " << as_of.error() << '\n';
      ++broken;
      return;
    }
    const std::string contract_id = expect_text(doc["contract"]);
    const rules::ContractVersion* contract = nullptr;
    for (const auto& c : set->contracts) {
      if (c.contract != contract_id) continue;
      if (doc["version"] ? std::to_string(c.version) == expect_text(doc["version"]) : !contract || c.version > contract->version) {
        contract = &c;
      }
    }
    if (!contract) {
      std::cout << "FAIL " << file << ": no contract '" << contract_id << "' in the rules\n";
      ++broken;
      return;
    }
    // Items use the import schema, one list per kind.
    std::vector<store::Item> items;
    bool items_ok = true;
    if (const YAML::Node lists = doc["items"]; lists && lists.IsMap()) {
      for (const auto& kv : lists) {
        std::string ndjson;
        for (const auto& rec : kv.second) ndjson += yaml_to_json(rec).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
        sources::ImportOptions opt;
        opt.kind = kv.first.Scalar();
        opt.source = "scenario";
        auto parsed = sources::parse_import(ndjson, file + " items." + opt.kind, opt, set->partners);
        for (const auto& d : parsed.bad_lines) {
          std::cout << "FAIL " << d.to_string() << '\n';
          items_ok = false;
        }
        items.insert(items.end(), parsed.items.begin(), parsed.items.end());
      }
    }
    if (!items_ok) {
      ++broken;
      return;
    }
    const auto& cal = set->calendars.at(contract->calendar);
    auto window = doc["period"] ? engine::period_by_label(*contract, cal, expect_text(doc["period"]))
                                : engine::period_containing(*contract, cal, *as_of);
    if (!window) {
      std::cout << "FAIL " << file << ": " << window.error() << '\n';
      ++broken;
      return;
    }
    auto exclusions = scenario_exclusions(file, doc["exclusions"], *contract);
    if (!exclusions) {
      std::cout << "FAIL " << exclusions.error() << '\n';
      ++broken;
      return;
    }
    const json result = engine::evaluate_contract(*contract, cal, items, *window, *as_of, engine::kMaxEvidence, *exclusions);
    const YAML::Node expect = doc["expect"];
    for (const char* section : {"kpis", "brand_standards", "obligations"}) {
      if (!expect[section]) continue;
      for (const auto& kv : expect[section]) {
        auto [c, f] = compare_rule(file, section, kv.first.Scalar(), kv.second, result[section]);
        checks += c;
        failures += f;
      }
    }
    if (expect["score"]) {
      ++checks;
      const std::string got = result.contains("score") ? actual_text(result["score"]["value"]) : "(absent)";
      if (got != expect_text(expect["score"])) {
        ++failures;
        std::cout << "FAIL " << file << ": score: expected " << expect_text(expect["score"]) << ", got " << got << '\n';
      }
    }
  };
  for (const auto& file : files) {
    ++scenarios;
    const int before = failures + broken;
    run_one(file);
    if (failures + broken > before) ++failed_scenarios;
  }
  std::cout << scenarios << " scenario(s) (" << (scenarios - failed_scenarios) << " passed, " << failed_scenarios << " failed), "
            << checks + broken << " check(s): " << (checks - failures) << " passed, " << failures + broken << " failed\n";
  return failures + broken == 0 ? 0 : 1;
}

void register_item_commands(CLI::App& app, Context& ctx) {
  auto& import_args = ctx.hold<ImportArgs>();
  auto* import = app.add_subcommand("import", "Load items from an NDJSON or CSV file (see docs/import.md)");
  import->add_option("KIND", import_args.kind, "tickets, deals, surveys or events")
      ->required()
      ->check(CLI::IsMember({"tickets", "deals", "surveys", "events"}));
  import->add_option("FILE", import_args.file, "NDJSON (one object per line) or CSV with a header row")->required();
  import->add_option("--source", import_args.source, "Source of records that name none")->capture_default_str();
  import->add_option("--format", import_args.format, "ndjson or csv (default: from the file name)")
      ->check(CLI::IsMember({"ndjson", "csv"}));
  import->add_flag("--skip-bad", import_args.skip_bad, "Import the good lines and list the bad ones");
  import->add_flag("--evaluate", import_args.evaluate,
                   "Re-evaluate (and store) the contract periods the imported items affect, as of now");
  ctx.add_store_args(import);
  import->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_import(*c, ctx.store, import_args) : kExitFailure;
  });
  auto& eval_args = ctx.hold<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "Evaluate contracts over the stored items (see docs/evaluation.md)");
  eval->add_option("--partner", eval_args.partner, "Only this partner");
  eval->add_option("--period", eval_args.period, "Period label: 2026-10 (month) or 2026-Q4 (quarter); default: the one containing --as-of");
  eval->add_option("--as-of", eval_args.as_of, "Evaluate as of this instant (default: now)");
  eval->add_option("--format", eval_args.format, "table (for people) or json (stable)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  eval->add_flag("--save", eval_args.save, "Store the results and record status changes (printed on stderr)");
  ctx.add_store_args(eval);
  eval->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_eval(*c, ctx.store, eval_args) : kExitFailure;
  });
}

void register_test_command(CLI::App& app, Context& ctx) {
  auto& scenario_files = ctx.hold<std::vector<std::string>>();
  auto* test = app.add_subcommand("test", "Run contract scenario tests: items, an as-of instant, expected results");
  test->add_option("FILE", scenario_files, "Scenario files")->required();
  test->callback([&] { ctx.rc = cmd_test(scenario_files); });
}

}  // namespace pactwatch::cli
