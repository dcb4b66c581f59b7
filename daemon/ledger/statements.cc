#include "pactwatch/ledger/statements.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace pactwatch::ledger {

namespace {

using nlohmann::json;

// A quarter's label names no single month: monthly contracts have no statement for it.
bool quarter_label_for_month(const rules::ContractVersion& c, const std::string& label) {
  return c.period.kind == rules::Period::Kind::month && label.find('Q') != std::string::npos;
}

bool kpi_met(const std::string& status) { return status == "met" || status == "warning"; }

std::optional<std::string> status_in(const json& kpis_or_doc, const std::string& kpi, bool evaluation) {
  if (evaluation) {
    for (const auto& k : kpis_or_doc.at("kpis")) {
      if (k.at("id") == kpi) return k.at("status").get<std::string>();
    }
    return std::nullopt;
  }
  const auto& m = kpis_or_doc.at("kpis");
  if (!m.contains(kpi)) return std::nullopt;
  return m[kpi].get<std::string>();
}

}  // namespace

const rules::ContractVersion* Statements::version_during(const std::string& contract_id,
                                                         const engine::PeriodWindow& w) const {
  const rules::ContractVersion* found = nullptr;
  for (const auto& c : rules_.contracts) {
    if (c.contract == contract_id && engine::in_effect_during(c, w) && (!found || c.version > found->version)) found = &c;
  }
  return found;
}

std::optional<engine::PeriodWindow> Statements::previous_window(const rules::ContractVersion& c,
                                                                const engine::PeriodWindow& w) const {
  auto p = engine::period_containing(c, rules_.calendars.at(c.calendar), w.start - std::chrono::milliseconds(1));
  if (!p) return std::nullopt;
  return *p;
}

const std::vector<store::Item>& Statements::deals_of(const std::string& partner) {
  auto it = deals_.find(partner);
  if (it == deals_.end()) it = deals_.emplace(partner, store_.items_of_kind(partner, "deals")).first;
  return it->second;
}

Statements::Computed Statements::compute(const rules::ContractVersion& c, const engine::PeriodWindow& w,
                                         core::Instant as_of, const std::string& status, History history,
                                         const std::map<std::string, std::string>* what_if) {
  const auto& cal = rules_.calendars.at(c.calendar);
  const auto items = store_.items_for_period(c.partner, w.start, w.end);
  json evaluation = engine::evaluate_contract(c, cal, items, w, as_of);
  auto results = compensation::results_from_evaluation(evaluation);
  if (!results) throw std::logic_error(results.error());
  if (what_if) {
    if (auto r = compensation::apply_what_if(*results, c, *what_if); !r) throw std::invalid_argument(r.error());
  }
  compensation::StatementInput in;
  in.contract = &c;
  in.calendar = &cal;
  in.period = w;
  in.as_of = as_of;
  in.status = status;
  in.results = *results;
  in.deals = deals_of(c.partner);
  const auto currency = *core::Currency::from_code(c.currency);

  if (history != History::none) {
    auto closed_it = closed_.find(c.contract);
    if (closed_it == closed_.end()) closed_it = closed_.emplace(c.contract, store_.closed_statements(c.contract)).first;
    const auto& closed = closed_it->second;
    auto closed_in = [&](const std::string& label) {
      std::vector<const store::StatementRecord*> out;
      for (const auto& s : closed) {
        if (s.period == label) out.push_back(&s);
      }
      return out;
    };
    const auto prev = previous_window(c, w);

    // Carry-forward from the period before, to the first version in effect in this one.
    const rules::ContractVersion* first = nullptr;
    for (const auto& v : rules_.contracts) {
      if (v.contract == c.contract && engine::in_effect_during(v, w) && (!first || v.version < first->version)) first = &v;
    }
    if (prev && first == &c && history == History::all) {
      core::Money carry = core::Money::zero(currency);
      for (const auto* s : closed_in(prev->label)) carry += core::Money(s->carry_out_minor, currency);
      if (!carry.is_zero()) {
        in.carry_in = carry;
        in.carry_in_from = prev->label;
      }
    }

    // Earn-back: credits taken N periods ago come back when the KPI was met in every period since.
    const int n = c.compensation && c.compensation->credits ? c.compensation->credits->earn_back_after : 0;
    if (n > 0) {
      std::vector<engine::PeriodWindow> chain;  // W-1, W-2, ..., W-N
      engine::PeriodWindow cur = w;
      for (int i = 0; i < n; ++i) {
        auto p = previous_window(c, cur);
        if (!p) break;
        chain.push_back(*p);
        cur = *p;
      }
      if (static_cast<int>(chain.size()) == n) {
        // The credits of that period as it computes now: when late data has changed them, the
        // adjustment for that period already carries the difference.
        const auto& credit_period = chain.back();
        std::vector<compensation::PriorCredit> credits;
        if (const auto* v = version_during(c.contract, credit_period); v && v->compensation) {
          credits = compensation::credits_of(compute(*v, credit_period, as_of, "open", History::none, nullptr).statement.document);
        }
        // Statuses of the KPIs in the periods between, from closed statements or a fresh evaluation.
        std::map<std::string, json> between;  // label -> statement document (closed) or evaluation
        std::map<std::string, bool> is_evaluation;
        for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
          const auto& p = chain[i];
          const auto closed_b = closed_in(p.label);
          if (!closed_b.empty()) {
            between[p.label] = json::parse(closed_b.front()->document);
            is_evaluation[p.label] = false;
          } else if (const auto* v = version_during(c.contract, p)) {
            const auto& vcal = rules_.calendars.at(v->calendar);
            between[p.label] = engine::evaluate_contract(*v, vcal, store_.items_for_period(v->partner, p.start, p.end), p, as_of);
            is_evaluation[p.label] = true;
          }
        }
        for (auto& pc : credits) {
          bool met = false;
          for (const auto& k : in.results.kpis) {
            if (k.id == pc.kpi) met = kpi_met(k.status);
          }
          for (std::size_t i = 0; met && i + 1 < chain.size(); ++i) {
            const auto it = between.find(chain[i].label);
            const auto st = it == between.end() ? std::nullopt : status_in(it->second, pc.kpi, is_evaluation[chain[i].label]);
            met = st && kpi_met(*st);
          }
          pc.met_since = met;
          in.earn_back.push_back(pc);
        }
      }
    }

    // Adjustments: only in the first open period after the closed ones (the period before this one
    // is closed, or the contract was not in effect then).
    const rules::ContractVersion* prev_version = prev ? version_during(c.contract, *prev) : nullptr;
    const bool first_open = !prev_version || !closed_in(prev->label).empty();
    if (first_open && first == &c && history == History::all) {
      for (const auto& s : closed) {
        if (s.period_start >= w.start) continue;
        const rules::ContractVersion* v = nullptr;
        for (const auto& x : rules_.contracts) {
          if (x.contract == s.contract && x.version == s.version) v = &x;
        }
        if (!v || !v->compensation) continue;
        auto sw = engine::period_by_label(*v, rules_.calendars.at(v->calendar), s.period);
        if (!sw) continue;
        // Its own lines as they compute now (earn-backs included, as when it closed).
        const auto again = compute(*v, *sw, as_of, "open", History::earn_back, nullptr);
        core::Money prior = core::Money::zero(currency);
        for (const auto& t : closed) {
          if (t.period_start <= s.period_start || t.period_start >= w.start) continue;  // between them only
          const json doc = json::parse(t.document);  // kept alive for the loop below
          for (const auto& l : doc.at("lines")) {
            if (l.at("kind") != "adjustment") continue;
            const auto& d = l.at("derivation");
            if (d.at("closed_period") == s.period && d.at("version") == s.version) {
              prior += *core::Money::parse(l.at("amount").get<std::string>(), currency);
            }
          }
        }
        const core::Money delta = again.statement.own - core::Money(s.own_minor, currency) - prior;
        if (delta.is_zero()) continue;
        std::string why = "now computes to " + again.statement.own.to_decimal() + ", closed at " +
                          core::Money(s.own_minor, currency).to_decimal();
        if (!prior.is_zero()) why += ", already adjusted by " + prior.to_decimal();
        if (again.statement.document.at("input_digest") != s.input_digest) why += " (its input changed since the close)";
        in.adjustments.push_back({s.period, s.version, delta, why});
      }
    }
  }
  return Computed{compensation::compute_statement(in), std::move(evaluation)};
}

std::expected<std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>>, std::string> Statements::versions_in(
    const std::string& label, const std::optional<std::string>& partner) const {
  if (partner && !rules_.partner(*partner)) return std::unexpected("unknown partner '" + *partner + "'");
  std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>> out;
  for (const auto& c : rules_.contracts) {
    if ((partner && c.partner != *partner) || !c.compensation || c.period.kind == rules::Period::Kind::rolling) continue;
    if (quarter_label_for_month(c, label)) continue;
    auto w = engine::period_by_label(c, rules_.calendars.at(c.calendar), label);
    if (!w) return std::unexpected(w.error());
    if (engine::in_effect_during(c, *w)) out.emplace_back(&c, *w);
  }
  return out;
}

std::expected<std::vector<StatementView>, std::string> Statements::for_period(
    const std::string& label, const std::optional<std::string>& partner, core::Instant as_of,
    const std::map<std::string, std::string>* what_if) {
  closed_.clear();
  deals_.clear();
  const auto versions = versions_in(label, partner);
  if (!versions) return std::unexpected(versions.error());
  std::vector<StatementView> out;
  try {
    for (const auto& [cp, w] : *versions) {
      const auto& c = *cp;
      if (!what_if) {
        if (auto s = store_.closed_statement(c.contract, c.version, w.label)) {
          out.push_back({&c, w, "closed", json::parse(s->document)});
          continue;
        }
      }
      const std::string status = what_if ? "what_if" : c.enforced ? "open" : "preview";
      auto computed = compute(c, w, as_of, status, History::all, what_if);
      out.push_back({&c, w, status, std::move(computed.statement.document)});
    }
  } catch (const std::invalid_argument& e) {
    return std::unexpected(e.what());
  }
  if (what_if && out.empty()) return std::unexpected("no contract with compensation in effect for that partner and period");
  return out;
}

std::expected<std::vector<CloseOutcome>, std::string> Statements::close(const std::string& label,
                                                                        const std::optional<std::string>& partner,
                                                                        core::Instant as_of, core::Instant now,
                                                                        const std::string& by) {
  closed_.clear();
  deals_.clear();
  const auto versions = versions_in(label, partner);
  if (!versions) return std::unexpected(versions.error());
  std::vector<CloseOutcome> out;
  std::vector<store::StatementRecord> records;
  for (const auto& [cp, w] : *versions) {
    const auto& c = *cp;
    CloseOutcome o{c.contract, c.version, c.partner, w.label, CloseOutcome::Kind::closed, "", ""};
    if (!c.enforced) {
      o.kind = CloseOutcome::Kind::skipped_draft;
      o.detail = "a draft (" + c.status_note + "): its statements are previews and never close";
      out.push_back(std::move(o));
      continue;
    }
    if (as_of < w.end) {
      return std::unexpected(w.label + " has not ended for " + c.contract + " v" + std::to_string(c.version) +
                             " (it ends at " + core::format_rfc3339(w.end) + "); close it after that");
    }
    if (auto s = store_.closed_statement(c.contract, c.version, w.label)) {
      // Already closed: recompute as of the close and compare.
      auto again = compute(c, w, s->as_of, "closed", History::all, nullptr);
      const std::string text = again.statement.document.dump(-1, ' ', false, json::error_handler_t::replace);
      o.total = core::Money(s->total_minor, *core::Currency::from_code(s->currency)).to_decimal();
      if (text == s->document) {
        o.kind = CloseOutcome::Kind::reproduced;
        o.detail = "closed on " + core::format_rfc3339(s->closed_at) + " by " + s->closed_by + "; recomputed bit for bit";
      } else {
        o.kind = CloseOutcome::Kind::differs;
        const json stored = json::parse(s->document);
        o.detail = "closed on " + core::format_rfc3339(s->closed_at) + "; recomputed now it totals " +
                   again.statement.total.to_decimal() + " (closed: " + stored.at("total").get<std::string>() + ")";
        if (stored.at("input_digest") != again.statement.document.at("input_digest")) {
          o.detail += "; its input changed since the close (late or corrected data: the difference becomes an "
                      "adjustment in the next open period)";
        }
      }
      out.push_back(std::move(o));
      continue;
    }
    // Periods close in order once a contract has closed one: the first close may be any period
    // (pactwatch can start mid-contract), every later one follows the last.
    const auto history = store_.closed_statements(c.contract);
    const bool earlier_closed = std::any_of(history.begin(), history.end(),
                                            [&](const store::StatementRecord& s) { return s.period_start < w.start; });
    if (auto prev = previous_window(c, w); prev && earlier_closed) {
      const auto* pv = version_during(c.contract, *prev);
      if (pv && pv->enforced && pv->compensation && !store_.closed_statement(pv->contract, pv->version, prev->label)) {
        return std::unexpected("close " + prev->label + " first: " + pv->contract + " v" + std::to_string(pv->version) +
                               " was in effect then and periods close in order");
      }
    }
    auto computed = compute(c, w, as_of, "closed", History::all, nullptr);
    const auto& st = computed.statement;
    o.total = st.total.to_decimal();
    records.push_back({c.contract, c.version, w.label, c.partner, w.start, std::string(st.currency.code()),
                       st.own.minor_units(), st.total.minor_units(), st.carry_out.minor_units(), c.sha256,
                       st.document.at("input_digest").get<std::string>(), std::string(compensation::kEngineVersion), as_of,
                       now, by, st.document.dump(-1, ' ', false, json::error_handler_t::replace)});
    out.push_back(std::move(o));
  }
  if (!records.empty()) {
    spdlog::debug("period close: storing {} closed statement(s)", records.size());
    store_.close_statements(records);
  }
  return out;
}

}  // namespace pactwatch::ledger
