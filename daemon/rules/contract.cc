#include "pactwatch/rules/contract.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/core/events.h"
#include "pactwatch/config/yaml_check.h"
#include "compensation_parse.h"
#include "parse_helpers.h"
#include "pactwatch/rules/partners.h"

namespace pactwatch::rules {

using config::YamlReport;

namespace {

using detail::FileContext;
using detail::required_scalar;
using detail::scalar_or_error;

bool is_rule_id(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();  // std::map: keys come out sorted
      for (const auto& kv : n) o[kv.first.Scalar()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& v : n) a.push_back(to_json(v));
      return a;
    }
    case YAML::NodeType::Scalar: return n.Scalar();
    default: return nullptr;
  }
}

std::shared_ptr<const Expr> condition(const YAML::Node& node, SourceKind kind, const std::string& where, FileContext& ctx,
                                      std::string& text_out) {
  const std::string text = scalar_or_error(node, where, ctx.report);
  if (text.empty()) return nullptr;
  text_out = text;
  auto e = parse_condition(text, kind);
  if (!e) {
    ctx.report.error(ctx.at_offset(node, e.error().column - 1), where + ": " + e.error().message);
    return nullptr;
  }
  return std::shared_ptr<const Expr>(std::move(*e));
}

std::optional<Threshold> threshold(const YAML::Node& node, const std::string& where, ValueType expected,
                                   const std::string& currency, FileContext& ctx) {
  const std::string text = scalar_or_error(node, where, ctx.report);
  if (text.empty()) return std::nullopt;
  auto t = parse_threshold(text);
  if (!t) {
    ctx.report.error(ctx.at_offset(node, t.error().column - 1), where + ": " + t.error().message);
    return std::nullopt;
  }
  if (t->type != expected && !(expected == ValueType::dynamic && t->type == ValueType::number)) {
    ctx.report.error(node, where + ": the measure is a " + std::string(to_string(expected)) + ", but '" + text +
                               "' is a " + std::string(to_string(t->type)));
    return std::nullopt;
  }
  if (t->type == ValueType::money) {
    const auto& m = std::get<core::Money>(t->value);
    if (m.currency().code() != currency) {
      ctx.report.error(node, where + ": the amount is in " + std::string(m.currency().code()) + ", the contract in " + currency);
      return std::nullopt;
    }
  }
  return *t;
}

void parse_measure(const YAML::Node& node, Kpi& k, const std::string& where, FileContext& ctx) {
  YamlReport& report = ctx.report;
  if (!node || !node.IsMap()) {
    report.error(node ? node.Mark() : YAML::Mark::null_mark(),
                 where + ": measure must be one of {ratio: COND}, {percentile: N, of: FIELD}, {mean: FIELD}, {sum: FIELD}, {count: true}");
    return;
  }
  report.check_keys(node, {"ratio", "percentile", "of", "mean", "sum", "count"}, where + ": measure");
  const int forms = (node["ratio"] ? 1 : 0) + (node["percentile"] ? 1 : 0) + (node["mean"] ? 1 : 0) +
                    (node["sum"] ? 1 : 0) + (node["count"] ? 1 : 0);
  if (forms != 1) {
    report.error(node, where + ": measure needs exactly one of ratio, percentile, mean, sum, count");
    return;
  }
  auto field_of = [&](const YAML::Node& f) -> std::optional<FieldInfo> {
    const std::string name = scalar_or_error(f, where + ": measured field", report);
    if (name.empty()) {
      report.error(node, where + ": name the field measured");
      return std::nullopt;
    }
    auto info = find_field(name, k.source);
    if (!info) {
      report.error(f, where + ": " + info.error());
      return std::nullopt;
    }
    if (info->type != ValueType::number && info->type != ValueType::duration && info->type != ValueType::money &&
        info->type != ValueType::dynamic) {
      report.error(f, where + ": '" + name + "' is a " + std::string(to_string(info->type)) + "; measure numbers, durations or money");
      return std::nullopt;
    }
    return *info;
  };
  Measure& m = k.measure;
  if (node["ratio"]) {
    m.kind = MeasureKind::ratio;
    m.type = ValueType::number;
    m.condition = condition(node["ratio"], k.source, where + ": ratio", ctx, m.condition_text);
  } else if (node["percentile"]) {
    m.kind = MeasureKind::percentile;
    const std::string p = scalar_or_error(node["percentile"], where + ": percentile", report);
    int value = 0;
    try {
      std::size_t used = 0;
      value = std::stoi(p, &used);
      if (used != p.size()) value = 0;
    } catch (const std::exception&) {
      value = 0;
    }
    if (value < 1 || value > 99) report.error(node["percentile"], where + ": percentile must be a whole number from 1 to 99");
    m.percentile = value;
    if (!node["of"]) {
      report.error(node, where + ": a percentile needs 'of: FIELD'");
    } else if (auto f = field_of(node["of"])) {
      m.of = std::string(f->name);
      m.type = f->type;
    }
  } else if (node["mean"] || node["sum"]) {
    m.kind = node["mean"] ? MeasureKind::mean : MeasureKind::sum;
    if (auto f = field_of(node["mean"] ? node["mean"] : node["sum"])) {
      m.of = std::string(f->name);
      m.type = f->type;
    }
  } else {
    m.kind = MeasureKind::count;
    m.type = ValueType::number;
  }
  if (node["of"] && m.kind != MeasureKind::percentile) report.error(node["of"], where + ": 'of' goes with percentile");
}

void parse_kpi(const YAML::Node& node, Kpi& k, const std::string& section, const std::string& currency, bool weighted,
               FileContext& ctx) {
  YamlReport& report = ctx.report;
  std::string where = section;
  if (node["id"] && node["id"].IsScalar()) where = section + " '" + node["id"].Scalar() + "'";
  std::vector<std::string_view> keys{"id",      "description", "rationale",  "source",    "where",
                                     "measure", "objective",   "min_sample", "counted_by"};
  if (weighted) keys.push_back("weight");
  report.check_keys(node, keys, where);
  k.id = required_scalar(node, "id", where, report);
  if (!k.id.empty() && !is_rule_id(k.id)) report.error(node["id"], where + ": id must be lower-case letters, digits and '_', starting with a letter");
  k.description = scalar_or_error(node["description"], where + ": description", report);
  k.rationale = scalar_or_error(node["rationale"], where + ": rationale", report);
  const std::string source = required_scalar(node, "source", where, report);
  if (!source.empty()) {
    auto s = parse_source_kind(source);
    if (!s) {
      report.error(node["source"], where + ": " + s.error());
      return;
    }
    k.source = *s;
  } else {
    return;
  }
  if (node["where"]) k.where = condition(node["where"], k.source, where + ": where", ctx, k.where_text);
  if (node["counted_by"]) {
    k.counted_by = scalar_or_error(node["counted_by"], where + ": counted_by", report);
    const bool valid = k.counted_by == "created" ||
                       (k.source == SourceKind::tickets && k.counted_by == "solved") ||
                       (k.source == SourceKind::deals && (k.counted_by == "closed" || k.counted_by == "registered"));
    if (!valid) {
      report.error(node["counted_by"], where + ": counted_by for " + std::string(to_string(k.source)) + " is " +
                                           (k.source == SourceKind::tickets ? "created or solved"
                                            : k.source == SourceKind::deals ? "created, closed or registered"
                                                                            : "created"));
    }
  }
  if (!node["measure"]) {
    report.error(node, where + ": missing required key 'measure'");
  } else {
    parse_measure(node["measure"], k, where, ctx);
  }
  const YAML::Node obj = node["objective"];
  if (!obj || !obj.IsMap()) {
    report.error(obj ? obj.Mark() : node.Mark(), where + ": objective must be {target: \">= 95%\", warning: \">= 97%\"}");
  } else {
    report.check_keys(obj, {"target", "warning"}, where + ": objective");
    if (!obj["target"]) {
      report.error(obj, where + ": objective needs a target");
    } else if (auto t = threshold(obj["target"], where + ": target", k.measure.type, currency, ctx)) {
      k.objective.target = *t;
    }
    if (obj["warning"]) k.objective.warning = threshold(obj["warning"], where + ": warning", k.measure.type, currency, ctx);
  }
  if (node["min_sample"]) {
    const std::string v = scalar_or_error(node["min_sample"], where + ": min_sample", report);
    try {
      std::size_t used = 0;
      k.min_sample = std::stoi(v, &used);
      if (used != v.size() || k.min_sample < 1) throw std::invalid_argument(v);
    } catch (const std::exception&) {
      report.error(node["min_sample"], where + ": min_sample must be a whole number of at least 1");
    }
  }
  if (weighted && node["weight"]) {
    auto w = core::Ratio::parse(scalar_or_error(node["weight"], where + ": weight", report));
    if (!w || w->numerator < 0) report.error(node["weight"], where + ": weight must be a number of at least 0");
    else k.weight = *w;
  }
}

void parse_standard(const YAML::Node& node, BrandStandard& s, FileContext& ctx) {
  YamlReport& report = ctx.report;
  std::string where = "brand standard";
  if (node["id"] && node["id"].IsScalar()) where = "brand standard '" + node["id"].Scalar() + "'";
  report.check_keys(node, {"id", "description", "rationale", "source", "where", "each", "severity"}, where);
  s.id = required_scalar(node, "id", where, report);
  if (!s.id.empty() && !is_rule_id(s.id)) report.error(node["id"], where + ": id must be lower-case letters, digits and '_', starting with a letter");
  s.description = scalar_or_error(node["description"], where + ": description", report);
  s.rationale = scalar_or_error(node["rationale"], where + ": rationale", report);
  const std::string source = required_scalar(node, "source", where, report);
  if (source.empty()) return;
  auto k = parse_source_kind(source);
  if (!k) {
    report.error(node["source"], where + ": " + k.error());
    return;
  }
  s.source = *k;
  if (node["where"]) s.where = condition(node["where"], s.source, where + ": where", ctx, s.where_text);
  if (!node["each"]) report.error(node, where + ": missing required key 'each' (the condition every item must meet)");
  else s.each = condition(node["each"], s.source, where + ": each", ctx, s.each_text);
  const std::string sev = required_scalar(node, "severity", where, report);
  if (sev == "minor") s.severity = Severity::minor;
  else if (sev == "major") s.severity = Severity::major;
  else if (sev == "critical") s.severity = Severity::critical;
  else if (!sev.empty()) report.error(node["severity"], where + ": severity must be minor, major or critical");
}

template <typename T, typename F>
void parse_list(const YAML::Node& node, const char* key, std::vector<T>& out, YamlReport& report, F&& each) {
  if (!node || node.IsNull()) return;
  if (!node.IsSequence()) {
    report.error(node, std::string(key) + ": expected a list");
    return;
  }
  for (const auto& item : node) {
    if (!item.IsMap()) {
      report.error(item, std::string(key) + ": each entry must be a mapping");
      continue;
    }
    T value;
    each(item, value);
    out.push_back(std::move(value));
  }
}

}  // namespace

std::string_view to_string(MeasureKind k) {
  switch (k) {
    case MeasureKind::ratio: return "ratio";
    case MeasureKind::percentile: return "percentile";
    case MeasureKind::mean: return "mean";
    case MeasureKind::sum: return "sum";
    case MeasureKind::count: return "count";
  }
  return "ratio";
}

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::minor: return "minor";
    case Severity::major: return "major";
    case Severity::critical: return "critical";
  }
  return "major";
}

std::expected<std::string, core::Diagnostics> canonical_contract(std::string_view text, const std::string& file) {
  YamlReport report{file};
  YAML::Node root = config::parse_yaml(text, report);
  if (!report.ok()) return std::unexpected(std::move(report.diagnostics()));
  if (!root.IsMap()) return std::unexpected(core::Diagnostics{{file, 1, 1, "a contract must be a mapping"}});
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) return std::unexpected(core::Diagnostics{{file, 1, 1, "contract keys must be plain names"}});
  }
  nlohmann::json j = to_json(root);
  j.erase("approvals");
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::expected<std::string, std::string> canonical_of(const ContractVersion& v) {
  std::ifstream in(v.file, std::ios::binary);
  if (!in) return std::unexpected(v.file + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  auto canonical = canonical_contract(text.str(), v.file);
  if (!canonical) return std::unexpected(canonical.error().front().to_string());
  if (core::sha256_hex(*canonical) != v.sha256) {
    return std::unexpected(v.file + " changed since the rules were loaded (its content hash differs); reload first");
  }
  return std::move(*canonical);
}

std::expected<std::string, core::Diagnostics> contract_hash(std::string_view text, const std::string& file) {
  auto canonical = canonical_contract(text, file);
  if (!canonical) return std::unexpected(canonical.error());
  return core::sha256_hex(*canonical);
}

namespace {

// The contract's id, version, partner and description.
void parse_identity(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  c.contract = required_scalar(root, "contract", "contract", report);
  if (!c.contract.empty() && !is_slug(c.contract)) {
    report.error(root["contract"], "contract: the id must be a slug of lower-case letters, digits and '-'");
  }
  const std::string version = required_scalar(root, "version", "contract", report);
  if (!version.empty()) {
    try {
      std::size_t used = 0;
      c.version = std::stoi(version, &used);
      if (used != version.size() || c.version < 1) throw std::invalid_argument(version);
    } catch (const std::exception&) {
      report.error(root["version"], "version: must be a whole number of at least 1");
    }
  }
  c.partner = required_scalar(root, "partner", "contract", report);
  if (root["description"]) c.description = scalar_or_error(root["description"], "contract: description", report);
}

// effective: {from, until}.
void parse_effective(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  const YAML::Node eff = root["effective"];
  if (!eff) {
    report.error(root, "contract: missing required key 'effective' ({from: YYYY-MM-DD, until: YYYY-MM-DD})");
  } else if (!eff.IsMap()) {
    report.error(eff, "effective: expected {from: YYYY-MM-DD, until: YYYY-MM-DD}");
  } else {
    report.check_keys(eff, {"from", "until"}, "effective");
    auto date = [&](const char* key) -> std::optional<calendar::LocalDate> {
      const std::string s = scalar_or_error(eff[key], std::string("effective: ") + key, report);
      if (s.empty()) return std::nullopt;
      auto d = calendar::parse_date(s);
      if (!d) {
        report.error(eff[key], std::string("effective: ") + key + ": " + d.error());
        return std::nullopt;
      }
      return *d;
    };
    if (!eff["from"]) report.error(eff, "effective: missing required key 'from'");
    if (auto from = date("from")) c.effective_from = *from;
    c.effective_until = date("until");
    if (c.effective_until && *c.effective_until < c.effective_from) {
      report.error(eff["until"], "effective: 'until' is before 'from'");
    }
  }
}

// The currency, the calendar and the period.
void parse_currency_calendar_period(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  c.currency = required_scalar(root, "currency", "contract", report);
  if (!c.currency.empty()) {
    if (auto cur = core::Currency::from_code(c.currency); !cur) report.error(root["currency"], "currency: " + cur.error());
  }
  c.calendar = required_scalar(root, "calendar", "contract", report);
  const YAML::Node period = root["period"];
  if (!period || period.IsNull() || (period.IsScalar() && period.Scalar() == "month")) {
    c.period.kind = Period::Kind::month;
  } else if (period.IsScalar() && period.Scalar() == "quarter") {
    c.period.kind = Period::Kind::quarter;
  } else if (period.IsMap() && period["rolling"]) {
    report.check_keys(period, {"rolling"}, "period");
    auto d = core::parse_duration(scalar_or_error(period["rolling"], "period: rolling", report));
    if (!d || d->count() < 86400 || d->count() % 86400 != 0) {
      report.error(period["rolling"], "period: rolling must be a whole number of days, e.g. 30d");
    } else {
      c.period = {Period::Kind::rolling, *d};
    }
  } else {
    report.error(period, "period: expected month, quarter or {rolling: 30d}");
  }
}

// timers: the statuses each timer pauses in.
void parse_timers(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  if (const YAML::Node timers = root["timers"]; timers && !timers.IsNull()) {
    if (!timers.IsMap()) {
      report.error(timers, "timers: expected a mapping from timer name to {pause_in: [statuses]}");
    } else {
      report.check_keys(timers, {"first_reply", "next_reply", "resolution"}, "timers");
      for (const auto& kv : timers) {
        const std::string name = kv.first.Scalar();
        const YAML::Node t = kv.second;
        if (!t.IsMap()) {
          report.error(t, "timers: " + name + ": expected {pause_in: [statuses]}");
          continue;
        }
        report.check_keys(t, {"pause_in"}, "timers: " + name);
        const YAML::Node p = t["pause_in"];
        if (!p || !p.IsSequence()) {
          report.error(t, "timers: " + name + ": pause_in must be a list of statuses");
          continue;
        }
        for (const auto& s : p) {
          static const std::vector<std::string_view> kPausable{"new", "open", "pending", "hold"};
          const std::string status = s.IsScalar() ? s.Scalar() : "";
          if (std::find(kPausable.begin(), kPausable.end(), status) == kPausable.end()) {
            report.error(s, "timers: " + name + ": '" + status + "' is not a status that can pause (new, open, pending, hold)");
          } else {
            c.pause_in[name].insert(status);
          }
        }
      }
    }
  }
}

// KPIs, brand standards and obligations; rule ids are unique within the contract.
void parse_rules(const YAML::Node& root, ContractVersion& c, FileContext& ctx, YamlReport& report) {
  parse_list(root["kpis"], "kpis", c.kpis, report,
             [&](const YAML::Node& n, Kpi& k) { parse_kpi(n, k, "kpi", c.currency, true, ctx); });
  parse_list(root["brand_standards"], "brand_standards", c.brand_standards, report,
             [&](const YAML::Node& n, BrandStandard& s) { parse_standard(n, s, ctx); });
  parse_list(root["obligations"], "obligations", c.obligations, report,
             [&](const YAML::Node& n, Kpi& k) { parse_kpi(n, k, "obligation", c.currency, false, ctx); });
  if (c.kpis.empty() && c.brand_standards.empty() && c.obligations.empty()) {
    report.error(root, "contract: nothing to evaluate (no kpis, brand_standards or obligations)");
  }
  // Rule ids are unique within the contract.
  std::set<std::string> ids;
  auto unique = [&](const std::string& id, const YAML::Node& list, std::size_t i) {
    if (!id.empty() && !ids.insert(id).second) report.error(list[i]["id"], "'" + id + "' is used twice in this contract");
  };
  for (std::size_t i = 0; i < c.kpis.size(); ++i) unique(c.kpis[i].id, root["kpis"], i);
  for (std::size_t i = 0; i < c.brand_standards.size(); ++i) unique(c.brand_standards[i].id, root["brand_standards"], i);
  for (std::size_t i = 0; i < c.obligations.size(); ++i) unique(c.obligations[i].id, root["obligations"], i);
}

// Weights: when any KPI is weighted, the weights make a score out of 100.
void check_weights(const YAML::Node& root, const ContractVersion& c, YamlReport& report) {
  core::Ratio total{0, 1};
  bool any_weight = false;
  for (const auto& k : c.kpis) {
    if (!k.weight) continue;
    any_weight = true;
    const auto num = static_cast<core::Int128>(total.numerator) * k.weight->denominator +
                     static_cast<core::Int128>(k.weight->numerator) * total.denominator;
    const auto den = static_cast<core::Int128>(total.denominator) * k.weight->denominator;
    if (num > INT64_MAX || den > INT64_MAX) break;
    total = {static_cast<std::int64_t>(num), static_cast<std::int64_t>(den)};
  }
  if (any_weight && static_cast<core::Int128>(total.numerator) != static_cast<core::Int128>(total.denominator) * 100) {
    report.error(root["kpis"], "kpis: weights must add up to 100 (they add up to " +
                                   literal_text(core::Ratio{total.numerator, total.denominator}) + ")");
  }
}

// approvals: [{party, by, at, sha256}].
void parse_approvals(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  if (const YAML::Node appr = root["approvals"]; appr && !appr.IsNull()) {
    if (!appr.IsSequence()) {
      report.error(appr, "approvals: expected a list of {party, by, at, sha256}");
    } else {
      for (const auto& a : appr) {
        if (!a.IsMap()) {
          report.error(a, "approvals: each approval is {party, by, at, sha256}");
          continue;
        }
        report.check_keys(a, {"party", "by", "at", "sha256"}, "approval");
        Approval ap;
        ap.party = required_scalar(a, "party", "approval", report);
        if (!ap.party.empty() && ap.party != "brand" && ap.party != "partner") {
          report.error(a["party"], "approval: party must be brand or partner");
        }
        ap.by = required_scalar(a, "by", "approval", report);
        if (!ap.by.empty() && ap.by.find('@') == std::string::npos) report.error(a["by"], "approval: 'by' must be an email address");
        const std::string at = required_scalar(a, "at", "approval", report);
        if (!at.empty()) {
          auto t = core::parse_rfc3339(at);
          if (!t) report.error(a["at"], "approval: " + t.error());
          else ap.at = *t;
        }
        ap.sha256 = required_scalar(a, "sha256", "approval", report);
        if (!ap.sha256.empty() && (ap.sha256.size() != 64 || ap.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)) {
          report.error(a["sha256"], "approval: sha256 must be 64 lower-case hex digits (pactwatch contract hash FILE)");
        }
        c.approvals.push_back(std::move(ap));
      }
    }
  }
}

// notify: {brand: [EVENT, ...], partner: [EVENT, ...]}.
void parse_notify(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  if (const YAML::Node n = root["notify"]; n && !n.IsNull()) {
    static const std::vector<std::string_view> kEvents(core::kRuleEvents.begin(), core::kRuleEvents.end());
    if (!n.IsMap()) {
      report.error(n, "notify: expected {brand: [EVENT, ...], partner: [EVENT, ...]}");
    } else {
      report.check_keys(n, {"brand", "partner"}, "notify");
      auto events = [&](const char* key) {
        std::vector<std::string> out;
        const YAML::Node list = n[key];
        if (!list || !list.IsSequence()) {
          report.error(list ? list.Mark() : n.Mark(), std::string("notify: ") + key + ": expected a list of event types");
          return out;
        }
        for (const auto& e : list) {
          const std::string t = e.IsScalar() ? e.Scalar() : "";
          if (core::is_contract_event(t)) {
            report.error(e, std::string("notify: ") + key + ": '" + t + "' is not routed by a contract's notify block: the acts on "
                            "an agreement or a dispute go to the party that did not act (docs/notifications.md); a channel's events filter can narrow them");
          } else if (std::find(kEvents.begin(), kEvents.end(), t) == kEvents.end()) {
            std::string msg = std::string("notify: ") + key + ": unknown event type '" + t + "'";
            if (auto hint = core::did_you_mean(t, kEvents); !hint.empty()) msg += " (" + hint + ")";
            report.error(e, msg);
          } else {
            out.push_back(t);
          }
        }
        return out;
      };
      if (n["brand"]) c.notify_brand = events("brand");
      if (n["partner"]) c.notify_partner = events("partner");
    }
  }
}

// Enforced when both parties approved this content's hash; the note says why (not).
void set_approval_status(ContractVersion& c) {
  const Approval* brand = nullptr;
  const Approval* partner = nullptr;
  const Approval* stale = nullptr;
  for (const auto& a : c.approvals) {
    if (a.sha256 != c.sha256) {
      stale = &a;
      continue;
    }
    if (a.party == "brand" && !brand) brand = &a;
    if (a.party == "partner" && !partner) partner = &a;
  }
  c.enforced = brand && partner;
  if (c.enforced) {
    c.status_note = "approved by " + brand->by + " and " + partner->by;
  } else if (stale) {
    c.status_note = "the " + stale->party + " approval by " + stale->by + " is for other content (" +
                    stale->sha256.substr(0, 12) + "…, now " + c.sha256.substr(0, 12) + "…)";
  } else if (c.approvals.empty()) {
    c.status_note = "not approved";
  } else {
    c.status_note = std::string("missing the ") + (brand ? "partner" : "brand") + " approval";
  }
}

}  // namespace

// disputes: {window: 10d, categories: [CATEGORY, ...], pre_agreed: [CATEGORY, ...]}.
void parse_disputes(const YAML::Node& root, ContractVersion& c, YamlReport& report) {
  const YAML::Node n = root["disputes"];
  if (!n || n.IsNull()) return;
  const char* shape = "disputes: expected {window: 10d, categories: [misattributed, ...], pre_agreed: [brand_caused]}";
  if (!n.IsMap()) {
    report.error(n, shape);
    return;
  }
  report.check_keys(n, {"window", "categories", "pre_agreed"}, "disputes");
  DisputeTerms t;
  const std::string window = scalar_or_error(n["window"], "disputes: window", report);
  if (!window.empty()) {
    const auto d = core::parse_duration(window);
    if (!d || d->count() < 86400 || d->count() % 86400 != 0) {
      report.error(n["window"], "disputes: window must be a whole number of days, e.g. 10d (calendar days after the period ends)");
    } else {
      t.window_days = static_cast<int>(d->count() / 86400);
    }
  }
  std::vector<std::string_view> names;
  for (const auto cat : core::dispute_categories()) names.push_back(core::to_string(cat));
  auto categories = [&](const char* key, bool required) {
    std::vector<core::DisputeCategory> out;
    const YAML::Node list = n[key];
    if (!list) {
      if (required) report.error(n, std::string("disputes: missing required key '") + key + "'");
      return out;
    }
    if (!list.IsSequence()) {
      report.error(list, std::string("disputes: ") + key + ": expected a list of categories");
      return out;
    }
    for (const auto& e : list) {
      const std::string s = e.IsScalar() ? e.Scalar() : "";
      if (auto cat = core::dispute_category_from(s)) {
        if (std::find(out.begin(), out.end(), *cat) == out.end()) out.push_back(*cat);
      } else {
        std::string msg = std::string("disputes: ") + key + ": unknown category '" + s + "'";
        if (auto hint = core::did_you_mean(s, names); !hint.empty()) msg += " (" + hint + ")";
        report.error(e, msg);
      }
    }
    return out;
  };
  t.categories = categories("categories", true);
  t.pre_agreed = categories("pre_agreed", false);
  for (const auto cat : t.pre_agreed) {
    if (!t.allows(cat)) {
      report.error(n["pre_agreed"], "disputes: pre_agreed: '" + std::string(core::to_string(cat)) + "' is not among the categories");
    }
  }
  c.disputes = std::move(t);
}

std::expected<ContractVersion, core::Diagnostics> parse_contract(std::string_view text, const std::string& file) {
  YamlReport report{file};
  FileContext ctx{text, report};
  ContractVersion c;
  c.file = file;
  YAML::Node root = config::parse_yaml(text, report);
  if (report.ok() && !root.IsMap()) report.error(root, "a contract file must be a mapping");
  if (report.ok()) {
    report.check_keys(root, {"contract", "version", "partner", "effective", "approvals", "currency", "calendar", "period",
                             "timers", "kpis", "brand_standards", "obligations", "compensation", "notify", "disputes", "description"},
                      "contract");
    parse_identity(root, c, report);
    parse_effective(root, c, report);
    parse_currency_calendar_period(root, c, report);
    parse_timers(root, c, report);
    parse_rules(root, c, ctx, report);
    check_weights(root, c, report);
    parse_approvals(root, c, report);
    for (const auto& kv : root) {
      c.positions[kv.first.Scalar()] = {kv.second.Mark().line + 1, kv.second.Mark().column + 1};
    }
    c.compensation_json = to_json(root["compensation"]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    detail::parse_compensation(root["compensation"], c, ctx);
    c.notify_json = to_json(root["notify"]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    parse_notify(root, c, report);
    parse_disputes(root, c, report);
  }
  auto& ds = report.diagnostics();
  core::sort_by_position(ds);
  if (!ds.empty()) return std::unexpected(std::move(ds));

  c.sha256 = *contract_hash(text, file);
  set_approval_status(c);
  return c;
}

std::expected<ContractVersion, core::Diagnostics> load_contract(const std::filesystem::path& file) {
  auto text = core::read_file(file);
  if (!text) return std::unexpected(core::Diagnostics{{file.string(), 0, 0, "cannot read the contract file"}});
  return parse_contract(*text, file.string());
}

}  // namespace pactwatch::rules
