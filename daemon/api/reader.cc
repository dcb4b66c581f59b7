// The read models behind the API and the portal. Every answer is filtered by who asks: a partner
// token sees its own partner and its enforced contracts only, and never anything of another.
#include <algorithm>
#include <array>
#include <cstdio>

#include "internal.h"
#include "pactwatch/engine/evaluation_json.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/ledger/report.h"

namespace pactwatch::api {

namespace {

std::string date_text(calendar::LocalDate d) {
  const std::chrono::year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

// One rule of an evaluation as the API shows it: no evidence lists (the evidence route pages
// through them), the counts kept. `r` is the rule as the document shows it (engine::rule_json).
json rule_summary(const json& r, std::string_view kind, std::int64_t evidence_count) {
  json out{{"id", r.at("id")}, {"kind", kind}, {"status", r.at("status")}};
  for (const char* key : {"description", "value", "target", "warning", "interval95", "forecast", "measure", "weight",
                          "min_sample", "severity", "rule", "violations", "checked", "numerator", "denominator"}) {
    if (r.contains(key)) out[key] = r.at(key);
  }
  if (r.contains("denominator")) out["sample"] = r.at("denominator");
  else if (r.contains("sample")) out["sample"] = r.at("sample");
  else if (r.contains("checked")) out["sample"] = r.at("checked");
  out["evidence_count"] = evidence_count;
  return out;
}

json rule_summary(const engine::KpiResult& k, std::string_view kind) {
  return rule_summary(engine::rule_json(k), kind, k.evidence.total);
}
json rule_summary(const engine::StandardResult& s) { return rule_summary(engine::rule_json(s), "standard", s.violations.total); }

// Each rule's summary, by document section.
json section_summaries(const engine::Evaluation& e, std::string_view section) {
  json out = json::array();
  if (section == "kpis") {
    for (const auto& k : e.kpis) out.push_back(rule_summary(k, "kpi"));
  } else if (section == "brand_standards") {
    for (const auto& s : e.brand_standards) out.push_back(rule_summary(s));
  } else {
    for (const auto& o : e.obligations) out.push_back(rule_summary(o, "obligation"));
  }
  return out;
}

constexpr std::array<const char*, 3> kSections{"kpis", "brand_standards", "obligations"};

// A rule's evidence list by id, and its kind.
const engine::CappedList<engine::Evidence>* find_evidence(const engine::Evaluation& e, const std::string& id, std::string* kind) {
  for (const auto& k : e.kpis) {
    if (k.id == id) return *kind = "kpi", &k.evidence;
  }
  for (const auto& s : e.brand_standards) {
    if (s.id == id) return *kind = "standard", &s.violations;
  }
  for (const auto& o : e.obligations) {
    if (o.id == id) return *kind = "obligation", &o.evidence;
  }
  return nullptr;
}

// What exclusions (accepted disputes and corrections) left out of a rule, by id.
const engine::RuleExclusions* find_excluded(const engine::Evaluation& e, const std::string& id) {
  for (const auto& k : e.kpis) {
    if (k.id == id) return &k.excluded;
  }
  for (const auto& s : e.brand_standards) {
    if (s.id == id) return &s.excluded;
  }
  for (const auto& o : e.obligations) {
    if (o.id == id) return &o.excluded;
  }
  return nullptr;
}

const json* find_rule(const json& doc, const std::string& id, std::string* kind) {
  for (const auto& [section, k] : {std::pair{"kpis", "kpi"}, {"brand_standards", "standard"}, {"obligations", "obligation"}}) {
    if (!doc.contains(section)) continue;
    for (const auto& r : doc.at(section)) {
      if (r.at("id") == id) {
        if (kind) *kind = k;
        return &r;
      }
    }
  }
  return nullptr;
}

// A stored document, read back once.
engine::Evaluation stored_evaluation(const std::string& text) {
  auto e = engine::parse_evaluation(text);
  if (!e) throw std::runtime_error("stored evaluation: " + e.error());
  return std::move(*e);
}

}  // namespace

Problem bad_request(std::string detail) { return {400, "bad-request", "Bad request", std::move(detail)}; }
Problem not_found(std::string detail) { return {404, "not-found", "Not found", std::move(detail)}; }
Problem conflict(std::string detail) { return {409, "conflict", "Conflict", std::move(detail)}; }

const rules::PartnerDef* Reader::partner(const std::string& id) const {
  if (who_.role == Role::partner && who_.partner != id) return nullptr;
  return rules_.partner(id);
}

std::vector<const rules::PartnerDef*> Reader::partners() const {
  std::vector<const rules::PartnerDef*> out;
  for (const auto& p : rules_.partners) {
    if (who_.role != Role::partner || who_.partner == p.id) out.push_back(&p);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->id < b->id; });
  return out;
}

bool Reader::may_see(const rules::ContractVersion& c) const {
  if (who_.role == Role::partner) return who_.partner == c.partner && c.enforced;
  return true;
}

bool Reader::may_review(const rules::ContractVersion& c) const {
  if (who_.role != Role::partner) return true;
  if (who_.partner != c.partner) return false;
  // Only content the brand proposed: a draft, and a version whose file changed since its last
  // proposal (whatever its state: withdrawn, rejected and superseded versions included), are the
  // brand's business until it proposes that content.
  return c.enforced || (c.agreement && c.agreement->proposed_sha256 == c.sha256);
}

std::vector<const rules::ContractVersion*> Reader::versions_of(const std::string& partner_id) const {
  std::vector<const rules::ContractVersion*> out;
  for (const auto& c : rules_.contracts) {
    if (c.partner == partner_id && may_see(c)) out.push_back(&c);
  }
  return out;
}

json Reader::partner_json(const rules::PartnerDef& p) const {
  json contracts = json::array();
  for (const auto* c : versions_of(p.id)) {
    if (std::find(contracts.begin(), contracts.end(), c->contract) == contracts.end()) contracts.push_back(c->contract);
  }
  return json{{"id", p.id}, {"name", p.name}, {"kind", p.kind}, {"tier", p.tier}, {"contracts", contracts}};
}

json Reader::version_json(const rules::ContractVersion& c) const {
  json approvals = json::array();
  for (const auto& a : c.approvals) {
    approvals.push_back({{"party", a.party}, {"by", a.by}, {"at", core::format_rfc3339(a.at)}, {"sha256", a.sha256}});
  }
  const char* period = c.period.kind == rules::Period::Kind::month ? "month"
                       : c.period.kind == rules::Period::Kind::quarter ? "quarter" : "rolling";
  json out{{"contract", c.contract},
           {"version", c.version},
           {"partner", c.partner},
           {"status", c.enforced ? "enforced" : "draft"},
           {"status_note", c.status_note},
           {"sha256", c.sha256},
           {"approvals", approvals},
           {"effective_from", date_text(c.effective_from)},
           {"effective_until", c.effective_until ? json(date_text(*c.effective_until)) : json(nullptr)},
           {"currency", c.currency},
           {"calendar", c.calendar},
           {"period", period},
           {"has_compensation", c.compensation.has_value()},
           {"agreement", c.agreement ? ledger::agreement_json(*c.agreement) : json(nullptr)}};
  return out;
}

Result<std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>>> Reader::windows(
    const std::string& partner_id, const std::string& period) const {
  std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>> out;
  std::string first_error;
  for (const auto* c : versions_of(partner_id)) {
    const auto& cal = rules_.calendars.at(c->calendar);
    auto w = period.empty() ? engine::period_containing(*c, cal, now_) : engine::period_by_label(*c, cal, period);
    if (!w) {
      if (first_error.empty()) first_error = w.error();
      continue;
    }
    if (engine::in_effect_during(*c, *w)) out.emplace_back(c, *w);
  }
  if (out.empty() && !first_error.empty()) return std::unexpected(bad_request("period '" + period + "': " + first_error));
  return out;
}

Reader::Evaluated Reader::evaluate(const rules::ContractVersion& c, const engine::PeriodWindow& w, bool full_evidence) {
  if (!full_evidence) {
    if (auto stored = db_.evaluations().document(c.contract, c.version, w.label)) {
      return {&c, w, stored_evaluation(*stored), "stored"};
    }
  }
  const auto items = db_.items().for_period(c.partner, w.start, w.end);
  auto e = engine::evaluate_period(c, rules_.calendars.at(c.calendar), items, w, now_,
                                   full_evidence ? SIZE_MAX : engine::kMaxEvidence,
                                   ledger::exclusions_for(db_.disputes().accepted_all(c.contract), c, w, now_));
  return {&c, w, std::move(e), "computed"};
}

std::shared_ptr<const json> EntryCache::get(const std::string& key, std::string text, const std::function<json(const std::string&)>& render) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end() && it->second.text == text) return it->second.value;
  }
  auto value = std::make_shared<const json>(render(text));
  std::lock_guard lock(mutex_);
  if (entries_.size() > 10000) entries_.clear();
  entries_[key] = Entry{std::move(text), value};
  return value;
}

namespace {

// One contract's part of a KPI standing, from its evaluation.
json standing_entry(const rules::ContractVersion& c, const engine::Evaluation& e, const std::string& source) {
  json rules_out = json::array();
  for (const char* section : kSections) {
    for (auto& r : section_summaries(e, section)) rules_out.push_back(std::move(r));
  }
  return json{{"contract", c.contract},
              {"version", c.version},
              {"contract_status", c.enforced ? "enforced" : "draft"},
              {"period", engine::period_json(e)},
              {"as_of", core::format_rfc3339(e.as_of)},
              {"evaluation", source},
              {"score", engine::score_json(e)},
              {"rules", rules_out}};
}

}  // namespace

Result<json> Reader::kpis(const std::string& partner_id, const std::string& period) {
  auto ws = windows(partner_id, period);
  if (!ws) return std::unexpected(ws.error());
  json contracts = json::array();
  for (const auto& [c, w] : *ws) {
    // A stored evaluation is read every time; it is parsed and rendered again only when it changed.
    if (entries_) {
      if (auto stored = db_.evaluations().document(c->contract, c->version, w.label)) {
        const auto entry = entries_->get(c->contract + '\n' + std::to_string(c->version) + '\n' + c->sha256 + '\n' + w.label,
                                         std::move(*stored), [&](const std::string& text) {
                                           return standing_entry(*c, stored_evaluation(text), "stored");
                                         });
        contracts.push_back(*entry);
        continue;
      }
    }
    const auto e = evaluate(*c, w, false);
    contracts.push_back(standing_entry(*c, e.evaluation, e.source));
  }
  return json{{"partner", partner_id}, {"contracts", contracts}};
}

Result<json> Reader::evidence(const std::string& partner_id, const std::string& rule, const std::string& period,
                              const PageRequest& page, const std::string& contract, std::optional<int> version) {
  auto ws = windows(partner_id, period);
  if (!ws) return std::unexpected(ws.error());
  for (const auto& [c, w] : *ws) {
    if ((!contract.empty() && c->contract != contract) || (version && c->version != *version)) continue;
    auto e = evaluate(*c, w, true);
    std::string kind;
    const auto* list = find_evidence(e.evaluation, rule, &kind);
    if (!list) continue;
    std::vector<std::pair<std::vector<std::string>, json>> keyed;
    keyed.reserve(list->shown.size());
    for (const auto& entry : list->shown) keyed.push_back({{entry->source, entry->id}, json::parse(entry->json)});
    std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    json out = page_of(std::move(keyed), page);
    out["partner"] = partner_id;
    out["contract"] = c->contract;
    out["version"] = c->version;
    out["rule"] = rule;
    out["kind"] = kind;
    out["period"] = engine::period_json(e.evaluation);
    out["as_of"] = core::format_rfc3339(e.evaluation.as_of);
    out["total"] = list->total;
    // The items accepted disputes and corrections left out of the rule, each with what excluded it.
    json excluded = json::array();
    if (const auto* x = find_excluded(e.evaluation, rule)) {
      for (const auto& i : x->items.shown) excluded.push_back({{"source", i.source}, {"id", i.id}, {"by", i.by}});
      if (x->whole_rule) {
        // Only what waived the rule: the item and window exclusions naming it are in `excluded`.
        json waived = json::array();
        for (const auto& applied : e.evaluation.exclusions) {
          if (applied.whole_rule() && std::find(applied.rules.begin(), applied.rules.end(), rule) != applied.rules.end()) waived.push_back(applied.by);
        }
        out["waived_by"] = std::move(waived);
      }
    }
    out["excluded"] = std::move(excluded);
    return out;
  }
  return std::unexpected(not_found("no KPI, brand standard or obligation '" + rule + "' in " + partner_id +
                                   (contract.empty() ? "'s contracts" : "'s contract " + contract) +
                                   (version ? " v" + std::to_string(*version) : "") + " for that period"));
}

std::shared_ptr<const HistoryPoint> HistoryCache::get(const std::string& key, core::Instant now,
                                                      const std::function<HistoryPoint()>& load) {
  std::unique_lock lock(mutex_);
  if (auto it = entries_.find(key); it != entries_.end()) {
    if (!it->second.ready) {
      auto pending = it->second.point;  // another request is computing it: wait for that one
      lock.unlock();
      return pending.get();
    }
    const auto& point = it->second.point.get();
    const auto ttl = point->source == "stored" ? stored_ttl_ : computed_ttl_;
    if (now >= it->second.at && now - it->second.at < ttl) return point;
  }
  if (entries_.size() > 20000) entries_.clear();  // waiting requests keep their own copy of a pending future
  std::promise<std::shared_ptr<const HistoryPoint>> promise;
  const auto future = promise.get_future().share();
  entries_[key] = Entry{future, now, false};
  lock.unlock();
  try {
    auto point = std::make_shared<const HistoryPoint>(load());
    promise.set_value(point);
    lock.lock();
    entries_[key] = Entry{future, now, true};
    return point;
  } catch (...) {
    lock.lock();
    entries_.erase(key);
    lock.unlock();
    promise.set_exception(std::current_exception());
    throw;
  }
}

std::shared_ptr<const HistoryPoint> Reader::history_point(const rules::ContractVersion& c, const engine::PeriodWindow& w) {
  auto load = [&] {
    const auto e = evaluate(c, w, false);
    HistoryPoint point{json::object(), e.source, {}};
    for (const char* section : kSections) point.rules[section] = section_summaries(e.evaluation, section);
    for (const auto& k : e.evaluation.kpis) point.plotted[k.id] = k.plotted();
    for (const auto& o : e.evaluation.obligations) point.plotted[o.id] = o.plotted();
    return point;
  };
  if (!history_cache_) return std::make_shared<const HistoryPoint>(load());
  // The version's content hash is in the key: a draft edited under the same number is another point.
  return history_cache_->get(c.contract + '\n' + std::to_string(c.version) + '\n' + c.sha256 + '\n' + w.label, now_, load);
}

Result<json> Reader::history(const std::string& partner_id, const std::string& rule, int periods, PlottedSeries* plotted) {
  auto ws = windows(partner_id, "");
  if (!ws) return std::unexpected(ws.error());
  json contracts = json::array();
  bool rule_seen = rule.empty();
  struct Point {
    const rules::ContractVersion* contract;
    engine::PeriodWindow window;
    std::shared_ptr<const HistoryPoint> values;
  };
  for (const auto& [current, current_window] : *ws) {
    // Walk back period by period; each period takes the latest visible version in effect then.
    std::vector<Point> points;
    engine::PeriodWindow w = current_window;
    for (int i = 0; i < periods; ++i) {
      const rules::ContractVersion* v = nullptr;
      for (const auto* c : versions_of(partner_id)) {
        if (c->contract == current->contract && engine::in_effect_during(*c, w) && (!v || c->version > v->version)) v = c;
      }
      if (!v) break;
      points.push_back({v, w, history_point(*v, w)});
      auto prev = engine::period_containing(*v, rules_.calendars.at(v->calendar), w.start - std::chrono::milliseconds(1));
      if (!prev || prev->start >= w.start) break;
      w = *prev;
    }
    std::reverse(points.begin(), points.end());
    // One series per rule of the current version, oldest period first.
    json series = json::array();
    for (const auto& [section, kind] : {std::pair{"kpis", "kpi"}, {"brand_standards", "standard"}, {"obligations", "obligation"}}) {
      const json& now_doc = points.back().values->rules;
      for (const auto& r : now_doc.at(section)) {
        const std::string id = r.at("id").get<std::string>();
        if (!rule.empty() && id != rule) continue;
        rule_seen = true;
        json pts = json::array();
        // Two versions in effect in the current period give the contract twice: the last one's series
        // stands, as the portal draws the last.
        Plot* plot = plotted ? &(*plotted)[{current->contract, id}] : nullptr;
        std::vector<std::optional<double>>* ys = plot ? &plot->ys : nullptr;
        if (plot) {
          plot->ys.clear();
          plot->target.reset();
          for (const auto* list : {&points.back().contract->kpis, &points.back().contract->obligations}) {
            for (const auto& k : *list) {
              if (k.id == id) plot->target = engine::plotted_target(k);
            }
          }
        }
        for (const auto& p : points) {
          std::string k;
          const json* pr = find_rule(p.values->rules, id, &k);
          if (ys) {
            const auto y = p.values->plotted.find(id);
            ys->push_back(pr && y != p.values->plotted.end() ? y->second : std::nullopt);
          }
          json point{{"period", p.window.label}, {"version", p.contract->version}, {"evaluation", p.values->source}};
          if (pr) {
            for (const char* key : {"value", "status", "target", "sample"}) point[key] = pr->value(key, json());
          } else {
            point["status"] = "not_in_contract";
          }
          pts.push_back(std::move(point));
        }
        series.push_back({{"id", id}, {"kind", kind}, {"target", r.value("target", json())}, {"points", pts}});
      }
    }
    contracts.push_back({{"contract", current->contract}, {"series", series}});
  }
  if (!rule_seen) return std::unexpected(not_found("no KPI, brand standard or obligation '" + rule + "' in " + partner_id + "'s contracts"));
  return json{{"partner", partner_id}, {"periods", periods}, {"contracts", contracts}};
}

Result<json> Reader::statements(const std::string& partner_id, const std::string& period,
                                const std::map<std::string, std::string>* what_if) {
  // The labels to ask for: the one given, or each visible contract's current period.
  std::vector<std::string> labels;
  if (!period.empty()) {
    labels.push_back(period);
  } else {
    auto ws = windows(partner_id, "");
    if (!ws) return std::unexpected(ws.error());
    for (const auto& [c, w] : *ws) {
      if (std::find(labels.begin(), labels.end(), w.label) == labels.end()) labels.push_back(w.label);
    }
  }
  ledger::Statements st(rules_, db_);
  json out = json::array();
  for (const auto& label : labels) {
    auto views = st.for_period(label, partner_id, now_, what_if);
    if (!views) {
      if (what_if) return std::unexpected(bad_request(views.error()));
      return std::unexpected(bad_request("period '" + label + "': " + views.error()));
    }
    for (const auto& v : *views) {
      if (!may_see(*v.contract)) continue;
      out.push_back(v.document);
    }
  }
  return json{{"partner", partner_id}, {"statements", out}};
}

}  // namespace pactwatch::api
