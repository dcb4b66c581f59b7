#include "pactwatch/engine/evaluation_json.h"

#include <cstdio>

#include "pactwatch/engine/evaluate.h"

namespace pactwatch::engine {

namespace {

using nlohmann::json;

constexpr std::string_view kForecastPending = "pending items due in the period fail";
constexpr std::string_view kForecastNone = "no forecast for totals (they grow until the period ends)";
constexpr std::string_view kScoreMethod =
    "share of the weight of KPIs met (warning and at_risk count as met); KPIs with insufficient data are left out";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// Seconds as a JSON number, exact to the millisecond: whole seconds as an integer, otherwise the
// decimal (a double whose shortest form is that decimal, e.g. 1.667).
json seconds_json(Millis d) {
  if (d.count() % 1000 == 0) return d.count() / 1000;
  return static_cast<double>(d.count()) / 1000.0;
}

// Lists of evidence texts, spliced into the document where their placeholders stand.
struct Splices {
  std::vector<const void*> lists;  // a CappedList<Evidence> or CappedList<PendingEntry>
  std::vector<bool> pending;
  // A placeholder string value, unique in the document; render() swaps it for the list's text.
  json add(const void* list, bool is_pending) {
    lists.push_back(list);
    pending.push_back(is_pending);
    return "@" + std::to_string(lists.size() - 1);
  }
};

void append_entry(std::string& out, const Evidence& e) { out += e->json; }

void append_entry(std::string& out, const PendingEntry& p) {
  if (!p.breach_at) {
    out += p.entry->json;
    return;
  }
  // The deadline first: "breach_at" sorts before "id".
  out += "{\"breach_at\":\"";
  out += core::format_rfc3339(*p.breach_at);
  out += "\",";
  out.append(p.entry->json, 1, std::string::npos);
}

template <typename Entry>
void append_list(std::string& out, const CappedList<Entry>& list) {
  out += '[';
  for (std::size_t i = 0; i < list.shown.size(); ++i) {
    if (i) out += ',';
    append_entry(out, list.shown[i]);
  }
  out += ']';
}

json forecast_json(const KpiResult& k) {
  const Forecast& f = *k.forecast;
  if (f.method == Forecast::Method::none) return json{{"method", kForecastNone}};
  json out{{"method", kForecastPending}, {"pending_due_in_period", f.pending_due_in_period}};
  if (f.share) {
    out["value"] = core::percent_text(*f.share);
    out["meets_target"] = f.meets_target;
  }
  return out;
}

json excluded_json(const RuleExclusions& x) {
  json entries = json::array();
  for (const auto& e : x.items.shown) entries.push_back({{"by", e.by}, {"source", e.source}, {"id", e.id}});
  return {{"by", x.by}, {"whole_rule", x.whole_rule}, {"items", x.items.total}, {"entries", std::move(entries)}};
}

json kpi_json(const KpiResult& k, Splices* splices) {
  json out{{"id", k.id}, {"description", k.description}, {"source", std::string(rules::to_string(k.source))},
           {"measure", std::string(rules::to_string(k.measure))}, {"counted_by", k.counted_by},
           {"target", k.target}, {"min_sample", k.min_sample}};
  if (k.warning) out["warning"] = *k.warning;
  if (k.where) out["where"] = *k.where;
  if (k.condition) out["condition"] = *k.condition;
  if (k.weight) out["weight"] = rules::literal_text(*k.weight);
  if (k.where_undetermined) out["where_undetermined"] = k.where_undetermined;
  if (k.is_ratio()) {
    out["numerator"] = k.numerator;
    out["denominator"] = k.denominator;
    out["pending"] = splices ? splices->add(&k.pending, true) : json::array();
    if (k.pending.truncated()) out["pending_truncated"] = k.pending.total;
    if (k.denominator > 0) {
      const auto [lo, hi] = wilson_interval(k.numerator, k.denominator);
      out["interval95"] = {{"low", fixed4(lo)}, {"high", fixed4(hi)}, {"method", "wilson"}};
    }
  } else {
    out["sample"] = k.sample;
    if (k.missing_values) out["missing_values"] = k.missing_values;
    if (k.running) out["running"] = k.running;
    if (k.value && k.measure == rules::MeasureKind::percentile) out["method"] = "nearest rank";
  }
  out["value"] = value_json(k);
  if (k.forecast) out["forecast"] = forecast_json(k);
  out["status"] = std::string(core::to_string(k.status));
  out["evidence"] = splices ? splices->add(&k.evidence, false) : json::array();
  if (k.evidence.truncated()) out["evidence_truncated"] = k.evidence.total;
  if (k.excluded.any()) out["excluded"] = excluded_json(k.excluded);
  return out;
}

json standard_json(const StandardResult& s, Splices* splices) {
  json out{{"id", s.id}, {"description", s.description}, {"rule", s.rule},
           {"severity", std::string(rules::to_string(s.severity))}, {"checked", s.checked}, {"pending", s.pending},
           {"violations", s.violations.total}, {"status", std::string(core::to_string(s.status()))}};
  out["evidence"] = splices ? splices->add(&s.violations, false) : json::array();
  if (s.excluded.any()) out["excluded"] = excluded_json(s.excluded);
  return out;
}

json skeleton(const Evaluation& e, Splices* splices) {
  json doc;
  doc["engine_version"] = e.engine_version;
  const ContractRef& c = e.contract;
  doc["contract"] = {{"id", c.id}, {"version", c.version}, {"sha256", c.sha256}, {"status", c.enforced ? "enforced" : "draft"},
                     {"note", c.note}, {"partner", c.partner}, {"calendar", c.calendar}, {"currency", c.currency}};
  doc["period"] = period_json(e);
  doc["as_of"] = core::format_rfc3339(e.as_of);
  json problems = json::array();
  for (const auto& p : e.problems) problems.push_back({{"source", p.source}, {"id", p.id}, {"problem", p.problem}});
  doc["input"] = {{"items", e.input_items}, {"digest", e.input_digest}, {"problems", std::move(problems)}};
  if (!e.exclusions.empty()) doc["input"]["exclusions"] = exclusions_json(e.exclusions);
  json kpis = json::array();
  for (const auto& k : e.kpis) kpis.push_back(kpi_json(k, splices));
  json obligations = json::array();
  for (const auto& o : e.obligations) obligations.push_back(kpi_json(o, splices));
  json standards = json::array();
  for (const auto& s : e.brand_standards) standards.push_back(standard_json(s, splices));
  doc["kpis"] = std::move(kpis);
  doc["brand_standards"] = std::move(standards);
  doc["obligations"] = std::move(obligations);
  if (e.scored()) doc["score"] = {{"method", kScoreMethod}, {"value", score_json(e)}};  // only when KPIs are weighted
  return doc;
}

// Serializes a document whose evidence lists are placeholders. A placeholder is found as the text
// `":"@N"`; no string value can produce it, because quotes inside strings are always escaped.
std::string splice(const std::string& text, const Splices& splices) {
  std::string out;
  out.reserve(text.size() + 256 * splices.lists.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t hit = text.find("\":\"@", pos);
    if (hit == std::string::npos) break;
    const std::size_t digits = hit + 4;
    std::size_t end = digits;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (end == digits || end >= text.size() || text[end] != '"') {
      out.append(text, pos, digits - pos);
      pos = digits;
      continue;
    }
    out.append(text, pos, hit + 2 - pos);
    const std::size_t n = std::stoul(text.substr(digits, end - digits));
    if (splices.pending.at(n)) append_list(out, *static_cast<const CappedList<PendingEntry>*>(splices.lists[n]));
    else append_list(out, *static_cast<const CappedList<Evidence>*>(splices.lists[n]));
    pos = end + 1;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace

std::string duration_text(Millis d) {
  const std::int64_t ms = d.count();
  const std::int64_t whole = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac == 0) return core::format_duration(core::Duration(whole));
  std::string out = ms < 0 ? "-" : "";
  const std::int64_t mag = whole < 0 ? -whole : whole;
  if (frac < 0) frac = -frac;
  const std::int64_t days = mag / 86400, hours = mag % 86400 / 3600, minutes = mag % 3600 / 60, seconds = mag % 60;
  if (days) out += std::to_string(days) + "d";
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  char buf[8];
  std::snprintf(buf, sizeof buf, "%03lld", static_cast<long long>(frac));
  std::string f = buf;
  while (f.back() == '0') f.pop_back();
  out += std::to_string(seconds) + "." + f + "s";
  return out;
}

json value_json(const Value& v) {
  switch (v.kind) {
    case Value::Kind::null: return nullptr;
    case Value::Kind::boolean: return v.boolean;
    case Value::Kind::string: return v.string;
    case Value::Kind::number: return format_number(v.number);
    case Value::Kind::duration: {
      json d{{"milliseconds", v.duration.count()}, {"seconds", seconds_json(v.duration)}, {"text", duration_text(v.duration)}};
      if (v.running) d["running"] = true;
      return d;
    }
    case Value::Kind::money: return v.money->to_string();
    case Value::Kind::list: return v.list;
  }
  return nullptr;
}

json value_json(const KpiResult& k) {
  if (k.is_ratio()) return k.share() ? json(core::percent_text(*k.share())) : json(nullptr);
  return k.value ? value_json(*k.value) : json(nullptr);
}

Evidence make_evidence(std::string source, std::string id, std::vector<std::pair<std::string, Value>> values) {
  auto e = std::make_shared<EvidenceEntry>();
  json shown = json::object();
  for (const auto& [field, v] : values) shown[field] = value_json(v);
  e->json = dump(json{{"source", source}, {"id", id}, {"values", std::move(shown)}});
  e->source = std::move(source);
  e->id = std::move(id);
  e->values = std::move(values);
  return e;
}

json rule_json(const KpiResult& k) { return kpi_json(k, nullptr); }
json rule_json(const StandardResult& s) { return standard_json(s, nullptr); }

json exclusions_json(std::span<const Exclusion> exclusions) {
  json out = json::array();
  for (const auto& x : exclusions) {
    json j{{"by", x.by}, {"rules", x.rules}};
    if (x.one_item()) {
      j["item"] = {{"source", x.source}, {"kind", x.kind}, {"id", x.id}};
    } else if (x.created_from) {
      j["created"] = {{"from", core::format_rfc3339(*x.created_from)},
                      {"until", x.created_until ? json(core::format_rfc3339(*x.created_until)) : json(nullptr)}};
    } else {
      j["whole_rule"] = true;
    }
    out.push_back(std::move(j));
  }
  return out;
}

json period_json(const Evaluation& e) {
  return {{"label", e.period.label}, {"start", core::format_rfc3339(e.period.start)},
          {"end", core::format_rfc3339(e.period.end)}, {"open", e.open}};
}

json score_json(const Evaluation& e) {
  const auto share = e.score();
  return share ? json(core::percent_text(*share)) : json(nullptr);
}

std::string render_evaluation(const Evaluation& e) {
  Splices splices;
  return splice(dump(skeleton(e, &splices)), splices);
}

json evaluation_skeleton(const Evaluation& e) {
  Splices splices;
  return skeleton(e, &splices);
}

}  // namespace pactwatch::engine

// --- reading a document back -----------------------------------------------------------------

namespace pactwatch::engine {

namespace {

// A document that is not one: thrown inside the parser, returned as the error.
struct Malformed {
  std::string what;
};

core::Instant instant_at(const json& j, const char* key) {
  auto t = core::parse_rfc3339(j.at(key).get<std::string>());
  if (!t) throw Malformed{std::string(key) + ": " + t.error()};
  return *t;
}

template <typename Enum>
Enum enum_at(const json& j, const char* key, std::initializer_list<Enum> all) {
  const std::string text = j.at(key).get<std::string>();
  for (const Enum e : all) {
    if (rules::to_string(e) == text) return e;
  }
  throw Malformed{std::string(key) + ": unknown '" + text + "'"};
}

std::optional<std::string> optional_text(const json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  return j.at(key).get<std::string>();
}

// An evidence value: the text of a number or an amount stays text (the contract knows its type).
Value item_value(const json& j) {
  Value v;
  if (j.is_boolean()) {
    v.kind = Value::Kind::boolean;
    v.boolean = j.get<bool>();
  } else if (j.is_string()) {
    v.kind = Value::Kind::string;
    v.string = j.get<std::string>();
  } else if (j.is_object()) {
    v.kind = Value::Kind::duration;
    v.duration = Millis(j.at("milliseconds").get<std::int64_t>());
    v.running = j.value("running", false);
  } else if (j.is_array()) {
    v.kind = Value::Kind::list;
    v.list = j.get<std::vector<std::string>>();
  }
  return v;
}

// A measured value: a duration, an amount ("1200.00 EUR") or a number ("86").
Value measured_value(const json& j) {
  if (j.is_object()) return item_value(j);
  const std::string text = j.get<std::string>();
  Value v;
  if (const auto space = text.find(' '); space != std::string::npos) {
    auto currency = core::Currency::from_code(std::string_view(text).substr(space + 1));
    if (!currency) throw Malformed{"value '" + text + "': " + currency.error()};
    auto money = core::Money::parse(std::string_view(text).substr(0, space), *currency);
    if (!money) throw Malformed{"value '" + text + "': " + money.error()};
    v.kind = Value::Kind::money;
    v.money = *money;
    return v;
  }
  const auto n = parse_number(text);
  if (!n) throw Malformed{"value '" + text + "' is not a number"};
  v.kind = Value::Kind::number;
  v.number = *n;
  return v;
}

Evidence evidence_of(json entry) {
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& [field, v] : entry.at("values").items()) values.emplace_back(field, item_value(v));
  auto e = std::make_shared<EvidenceEntry>();
  e->source = entry.at("source").get<std::string>();
  e->id = entry.at("id").get<std::string>();
  e->values = std::move(values);
  e->json = dump(entry);
  return e;
}

CappedList<Evidence> evidence_list(const json& list, std::optional<std::int64_t> total) {
  CappedList<Evidence> out;
  for (const auto& entry : list) out.shown.push_back(evidence_of(entry));
  out.total = total.value_or(static_cast<std::int64_t>(out.shown.size()));
  return out;
}

std::optional<std::int64_t> optional_count(const json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  return j.at(key).get<std::int64_t>();
}

using rules::MeasureKind;
using rules::SourceKind;

RuleExclusions excluded_of(const json& j) {
  RuleExclusions x;
  x.by = j.at("by").get<std::vector<std::string>>();
  x.whole_rule = j.at("whole_rule").get<bool>();
  x.items.total = j.at("items").get<std::int64_t>();
  for (const auto& e : j.at("entries")) {
    x.items.shown.push_back({e.at("by").get<std::string>(), e.at("source").get<std::string>(), e.at("id").get<std::string>()});
  }
  return x;
}

KpiResult kpi_of(const json& j) {
  KpiResult k;
  k.id = j.at("id").get<std::string>();
  k.description = j.value("description", "");
  k.source = enum_at(j, "source", {SourceKind::tickets, SourceKind::deals, SourceKind::surveys, SourceKind::events});
  k.measure = enum_at(j, "measure", {MeasureKind::ratio, MeasureKind::percentile, MeasureKind::mean, MeasureKind::sum,
                                     MeasureKind::count});
  k.counted_by = j.value("counted_by", "created");  // documents before counted_by counted by creation
  k.target = j.at("target").get<std::string>();
  k.warning = optional_text(j, "warning");
  k.where = optional_text(j, "where");
  k.condition = optional_text(j, "condition");
  k.min_sample = j.at("min_sample").get<std::int64_t>();
  if (const auto w = optional_text(j, "weight")) {
    auto r = core::Ratio::parse(*w);
    if (!r) throw Malformed{"weight '" + *w + "': " + r.error()};
    k.weight = *r;
  }
  k.where_undetermined = optional_count(j, "where_undetermined").value_or(0);
  if (k.is_ratio()) {
    k.numerator = j.at("numerator").get<std::int64_t>();
    k.denominator = j.at("denominator").get<std::int64_t>();
    for (const auto& p : j.at("pending")) {
      json entry = p;
      std::optional<core::Instant> breach_at;
      if (entry.contains("breach_at")) {
        breach_at = instant_at(entry, "breach_at");
        entry.erase("breach_at");
      }
      k.pending.shown.push_back({evidence_of(std::move(entry)), breach_at});
    }
    k.pending.total = optional_count(j, "pending_truncated").value_or(static_cast<std::int64_t>(k.pending.shown.size()));
  } else {
    k.sample = j.at("sample").get<std::int64_t>();
    k.missing_values = optional_count(j, "missing_values").value_or(0);
    k.running = optional_count(j, "running").value_or(0);
    if (!j.at("value").is_null()) k.value = measured_value(j.at("value"));
  }
  if (j.contains("forecast")) {
    const json& f = j.at("forecast");
    Forecast fc;
    if (f.at("method").get<std::string>() == kForecastNone) {
      fc.method = Forecast::Method::none;
    } else {
      fc.pending_due_in_period = f.at("pending_due_in_period").get<std::int64_t>();
      if (f.contains("value")) {
        fc.share = core::Ratio{k.numerator, k.denominator + fc.pending_due_in_period};
        fc.meets_target = f.at("meets_target").get<bool>();
      }
    }
    k.forecast = fc;
  }
  const auto status = core::parse_rule_status(j.at("status").get<std::string>());
  if (!status) throw Malformed{"kpi '" + k.id + "': unknown status"};
  k.status = *status;
  k.evidence = evidence_list(j.at("evidence"), optional_count(j, "evidence_truncated"));
  if (j.contains("excluded")) k.excluded = excluded_of(j.at("excluded"));
  return k;
}

StandardResult standard_of(const json& j) {
  StandardResult s;
  s.id = j.at("id").get<std::string>();
  s.description = j.value("description", "");
  s.rule = j.at("rule").get<std::string>();
  s.severity = enum_at(j, "severity", {rules::Severity::minor, rules::Severity::major, rules::Severity::critical});
  s.checked = j.at("checked").get<std::int64_t>();
  s.pending = j.at("pending").get<std::int64_t>();
  s.violations = evidence_list(j.at("evidence"), j.at("violations").get<std::int64_t>());
  if (j.contains("excluded")) s.excluded = excluded_of(j.at("excluded"));
  return s;
}

}  // namespace

std::expected<Evaluation, std::string> evaluation_from_json(const json& doc) {
  try {
    Evaluation e;
    e.engine_version = doc.at("engine_version").get<std::string>();
    const json& c = doc.at("contract");
    e.contract = {c.at("id").get<std::string>(),       c.at("version").get<int>(),
                  c.at("sha256").get<std::string>(),   c.at("status").get<std::string>() == "enforced",
                  c.at("note").get<std::string>(),     c.at("partner").get<std::string>(),
                  c.at("calendar").get<std::string>(), c.at("currency").get<std::string>()};
    const json& p = doc.at("period");
    e.period = {p.at("label").get<std::string>(), instant_at(p, "start"), instant_at(p, "end")};
    e.open = p.at("open").get<bool>();
    e.as_of = instant_at(doc, "as_of");
    const json& in = doc.at("input");
    e.input_items = in.at("items").get<std::int64_t>();
    e.input_digest = in.at("digest").get<std::string>();
    for (const auto& pr : in.at("problems")) {
      e.problems.push_back({pr.at("source").get<std::string>(), pr.at("id").get<std::string>(), pr.at("problem").get<std::string>()});
    }
    if (in.contains("exclusions")) {
      for (const auto& x : in.at("exclusions")) {
        auto ex = exclusion_from_json(x);
        if (!ex) throw Malformed{ex.error()};
        e.exclusions.push_back(std::move(*ex));
      }
    }
    for (const auto& k : doc.at("kpis")) e.kpis.push_back(kpi_of(k));
    for (const auto& s : doc.at("brand_standards")) e.brand_standards.push_back(standard_of(s));
    for (const auto& o : doc.at("obligations")) e.obligations.push_back(kpi_of(o));
    return e;
  } catch (const json::exception& x) {
    return std::unexpected(std::string("not an evaluation document: ") + x.what());
  } catch (const Malformed& m) {
    return std::unexpected("not an evaluation document: " + m.what);
  }
}

std::expected<Exclusion, std::string> exclusion_from_json(const json& j) {
  try {
    Exclusion x;
    x.by = j.at("by").get<std::string>();
    x.rules = j.at("rules").get<std::vector<std::string>>();
    if (j.contains("item")) {
      const json& i = j.at("item");
      x.source = i.at("source").get<std::string>();
      x.kind = i.at("kind").get<std::string>();
      x.id = i.at("id").get<std::string>();
      if (x.id.empty()) return std::unexpected("exclusion '" + x.by + "': an item without an id");
    } else if (j.contains("created")) {
      x.created_from = instant_at(j.at("created"), "from");
      if (!j.at("created").at("until").is_null()) x.created_until = instant_at(j.at("created"), "until");
    } else if (!j.value("whole_rule", false)) {
      return std::unexpected("exclusion '" + x.by + "': neither an item, a window nor a whole rule");
    }
    return x;
  } catch (const json::exception& e) {
    return std::unexpected(std::string("not an exclusion: ") + e.what());
  } catch (const Malformed& m) {
    return std::unexpected("not an exclusion: " + m.what);
  }
}

std::expected<Evaluation, std::string> parse_evaluation(std::string_view text) {
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return std::unexpected(std::string("not an evaluation document: not JSON"));
  return evaluation_from_json(doc);
}

}  // namespace pactwatch::engine
