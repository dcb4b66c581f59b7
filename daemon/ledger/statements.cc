#include "pactwatch/ledger/statements.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pactwatch/core/digest.h"
#include "pactwatch/ledger/disputes.h"
#include "pactwatch/ledger/verify.h"

namespace pactwatch::ledger {

namespace {

using nlohmann::json;

// A quarter's label names no single month: monthly contracts have no statement for it.
bool quarter_label_for_month(const rules::ContractVersion& c, const std::string& label) {
  return c.period.kind == rules::Period::Kind::month && label.find('Q') != std::string::npos;
}

bool kpi_met(core::RuleStatus status) { return status == core::RuleStatus::met || status == core::RuleStatus::warning; }

// The KPI statuses a closed statement recorded (its `kpis`, by id).
std::map<std::string, core::RuleStatus> statuses_of_statement(const json& doc) {
  std::map<std::string, core::RuleStatus> out;
  for (const auto& [id, status] : doc.at("kpis").items()) {
    if (const auto s = core::parse_rule_status(status.get<std::string>())) out[id] = *s;
  }
  return out;
}

std::map<std::string, core::RuleStatus> statuses_of_evaluation(const engine::Evaluation& e) {
  std::map<std::string, core::RuleStatus> out;
  for (const auto& k : e.kpis) out.emplace(k.id, k.status);
  return out;
}

core::Money doc_money(const json& doc, const char* key) {
  const auto currency = *core::Currency::from_code(doc.at("currency").get<std::string>());
  return *core::Money::parse(doc.at(key).get<std::string>(), currency);
}

// The contract version's canonical form and approvals, frozen into a closed statement: the
// recorded approvals that enforce it (rules::apply_recorded_approvals), each with the principal
// and act number that took it; the file's approvals block only for rules loaded without a store.
std::pair<std::string, std::string> contract_as_closed(const rules::ContractVersion& c) {
  std::string canonical = rules::canonical_of(c).value_or("");
  json approvals = json::array();
  if (c.agreement) {
    for (const auto* a : {&c.agreement->brand_approval, &c.agreement->partner_approval}) {
      if (!*a) continue;
      approvals.push_back({{"party", core::to_string((*a)->party)}, {"by", (*a)->actor_name}, {"at", core::format_rfc3339((*a)->at)},
                           {"sha256", (*a)->sha256}, {"actor", (*a)->actor}, {"seq", (*a)->seq}});
    }
  } else {
    for (const auto& a : c.approvals) {
      approvals.push_back({{"party", a.party}, {"by", a.by}, {"at", core::format_rfc3339(a.at)}, {"sha256", a.sha256}});
    }
  }
  return {canonical, approvals.dump(-1, ' ', false, json::error_handler_t::replace)};
}

// What a computation of another period read, as one digest (its items, and whatever it read in turn).
std::string inputs_digest(const json& statement_document) {
  return core::sha256_hex(statement_document.at("inputs").dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string subject_of(const store::StatementRecord& r) {
  return r.contract + " v" + std::to_string(r.version) + " " + r.period;
}

}  // namespace

const std::vector<store::StatementRecord>& Statements::closed_of(const std::string& contract) {
  auto it = closed_.find(contract);
  if (it != closed_.end()) return it->second;
  auto records = store_.statements().of_contract(contract);
  for (const auto& r : records) {
    if (auto damage = statement_damage(r, false)) {
      throw LedgerDamaged("the closed statement " + subject_of(r) + " is damaged: " + *damage +
                          "; no money is read from it (run 'pactwatch ledger verify')");
    }
  }
  auto chain = records;
  std::sort(chain.begin(), chain.end(), [](const auto& a, const auto& b) { return a.chain_seq < b.chain_seq; });
  if (auto f = chain_damage(chain)) {
    throw LedgerDamaged("the chain of closed statements of " + contract + " is broken at " + f->subject + ": " + f->what +
                        "; no money is read from it (run 'pactwatch ledger verify')");
  }
  return closed_.emplace(contract, std::move(records)).first->second;
}

std::optional<store::StatementRecord> Statements::closed_one(const std::string& contract, int version, const std::string& label) {
  for (const auto& r : closed_of(contract)) {
    if (r.version == version && r.period == label) return r;
  }
  return std::nullopt;
}

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

const std::vector<store::AcceptedDispute>& Statements::accepted_of(const std::string& contract) {
  auto it = accepted_.find(contract);
  if (it == accepted_.end()) it = accepted_.emplace(contract, store_.disputes().accepted_all(contract)).first;
  return it->second;
}

json Statements::open_disputes(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant at) {
  json out = json::array();
  for (const auto& d : store_.disputes().list(c.partner)) {
    const auto& s = d.subject;
    if (s.contract != c.contract || s.version != c.version || d.opened_at > at) continue;
    const bool ours = d.kind == core::DisputeKind::dispute
                          ? s.period == w.label
                          : s.period == w.label || (d.window_from && d.window_until && *d.window_from < w.end && *d.window_until > w.start);
    if (!ours) continue;
    std::vector<core::DisputeAction> then;
    for (const auto& a : store_.disputes().acts_of(d.id)) {
      if (a.at <= at) then.push_back(a);
    }
    if (core::dispute_state(then) != core::DisputeState::open) continue;
    json j = dispute_json(d, then);
    j.erase("thread");
    j.erase("state");
    out.push_back(std::move(j));
  }
  return out;
}

const std::vector<store::Item>& Statements::deals_of(const std::string& partner) {
  auto it = deals_.find(partner);
  if (it == deals_.end()) it = deals_.emplace(partner, store_.items().of_kind(partner, "deals")).first;
  return it->second;
}

Statements::Computed Statements::compute(const rules::ContractVersion& c, const engine::PeriodWindow& w,
                                         core::Instant as_of, const std::string& status, History history,
                                         const std::map<std::string, std::string>* what_if) {
  const auto& cal = rules_.calendars.at(c.calendar);
  const auto items = store_.items().for_period(c.partner, w.start, w.end);
  engine::Evaluation evaluation =
      engine::evaluate_period(c, cal, items, w, as_of, engine::kMaxEvidence, exclusions_for(accepted_of(c.contract), c, w, as_of));
  auto results = compensation::results_from_evaluation(evaluation);
  if (what_if) {
    if (auto r = compensation::apply_what_if(results, c, *what_if); !r) throw std::invalid_argument(r.error());
  }
  compensation::StatementInput in;
  in.contract = &c;
  in.calendar = &cal;
  in.period = w;
  in.as_of = as_of;
  in.status = status;
  in.results = std::move(results);
  in.deals = deals_of(c.partner);
  if (const auto d = rules_.calendar_digests.find(c.calendar); d != rules_.calendar_digests.end()) {
    in.inputs_read.push_back({c.calendar, "calendar", d->second});
  }
  if (history != History::none) {
    // Carry-forward and adjustments go to the first version in effect in the period only.
    const rules::ContractVersion* first = nullptr;
    for (const auto& v : rules_.contracts) {
      if (v.contract == c.contract && engine::in_effect_during(v, w) && (!first || v.version < first->version)) first = &v;
    }
    const auto prev = previous_window(c, w);
    if (prev && first == &c && history == History::all) add_carry_forward(c, *prev, in);
    add_earn_back(c, w, as_of, in);
    if (first == &c && history == History::all) add_adjustments(c, w, as_of, in);
  }
  return Computed{compensation::compute_statement(in), std::move(evaluation)};
}

// Carry-forward from the period before, from its closed documents (their columns were checked
// against them when loaded).
void Statements::add_carry_forward(const rules::ContractVersion& c, const engine::PeriodWindow& prev, compensation::StatementInput& in) {
  core::Money carry = core::Money::zero(*core::Currency::from_code(c.currency));
  for (const auto& s : closed_of(c.contract)) {
    if (s.period == prev.label) carry += doc_money(json::parse(s.document), "carry_forward_out");
  }
  if (!carry.is_zero()) {
    in.carry_in = carry;
    in.carry_in_from = prev.label;
  }
}

// Earn-back: credits taken N periods ago come back when the KPI was met in every period since.
void Statements::add_earn_back(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant as_of,
                               compensation::StatementInput& in) {
  const int n = c.compensation && c.compensation->credits ? c.compensation->credits->earn_back_after : 0;
  if (n <= 0) return;
  std::vector<engine::PeriodWindow> chain;  // W-1, W-2, ..., W-N
  engine::PeriodWindow cur = w;
  for (int i = 0; i < n; ++i) {
    auto p = previous_window(c, cur);
    if (!p) break;
    chain.push_back(*p);
    cur = *p;
  }
  if (static_cast<int>(chain.size()) != n) return;
  const auto& closed = closed_of(c.contract);
  // The credits of that period as it computes now: when late data has changed them, the
  // adjustment for that period already carries the difference.
  const auto& credit_period = chain.back();
  std::vector<compensation::PriorCredit> credits;
  if (const auto* v = version_during(c.contract, credit_period); v && v->compensation) {
    const auto credit_doc = compute(*v, credit_period, as_of, "open", History::none, nullptr).statement.document;
    credits = compensation::credits_of(credit_doc);
    in.inputs_read.push_back({credit_period.label, "earn_back", inputs_digest(credit_doc)});
  }
  // Statuses of the KPIs in the periods between, from closed statements or a fresh evaluation.
  std::map<std::string, std::map<std::string, core::RuleStatus>> between;  // label -> KPI statuses
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    const auto& p = chain[i];
    const store::StatementRecord* closed_b = nullptr;
    for (const auto& s : closed) {
      if (s.period == p.label && !closed_b) closed_b = &s;
    }
    if (closed_b) {
      between[p.label] = statuses_of_statement(json::parse(closed_b->document));
    } else if (const auto* v = version_during(c.contract, p)) {
      const auto& vcal = rules_.calendars.at(v->calendar);
      const auto e = engine::evaluate_period(*v, vcal, store_.items().for_period(v->partner, p.start, p.end), p, as_of,
                                             engine::kMaxEvidence, exclusions_for(accepted_of(v->contract), *v, p, as_of));
      between[p.label] = statuses_of_evaluation(e);
      in.inputs_read.push_back({p.label, "status", e.input_digest});
    }
  }
  for (auto& pc : credits) {
    bool met = false;
    for (const auto& k : in.results.kpis) {
      if (k.id == pc.kpi) met = kpi_met(k.status);
    }
    for (std::size_t i = 0; met && i + 1 < chain.size(); ++i) {
      const auto it = between.find(chain[i].label);
      if (it == between.end()) {
        met = false;
        break;
      }
      const auto st = it->second.find(pc.kpi);
      met = st != it->second.end() && kpi_met(st->second);
    }
    pc.met_since = met;
    in.earn_back.push_back(pc);
  }
}

// Adjustments: only in the first open period after the closed ones (the period before this one
// is closed, or the contract was not in effect then).
void Statements::add_adjustments(const rules::ContractVersion& c, const engine::PeriodWindow& w, core::Instant as_of,
                                 compensation::StatementInput& in) {
  const auto& closed = closed_of(c.contract);
  const auto prev = previous_window(c, w);
  const rules::ContractVersion* prev_version = prev ? version_during(c.contract, *prev) : nullptr;
  bool prev_closed = false;
  for (const auto& s : closed) prev_closed = prev_closed || (prev && s.period == prev->label);
  if (prev_version && !prev_closed) return;
  const auto currency = *core::Currency::from_code(c.currency);
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
    // The closed amount from the closed document (checked against its column when loaded).
    const core::Money closed_own = doc_money(json::parse(s.document), "own");
    in.inputs_read.push_back({s.period, "adjustment", inputs_digest(again.statement.document)});
    const core::Money delta = again.statement.own - closed_own - prior;
    if (delta.is_zero()) continue;
    std::string why = "now computes to " + again.statement.own.to_decimal() + ", closed at " + closed_own.to_decimal();
    if (!prior.is_zero()) why += ", already adjusted by " + prior.to_decimal();
    if (again.statement.document.at("input_digest") != s.input_digest) why += " (its input changed since the close)";
    in.adjustments.push_back({s.period, s.version, delta, why, again.statement.own, closed_own, prior});
  }
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
  accepted_.clear();
  const auto versions = versions_in(label, partner);
  if (!versions) return std::unexpected(versions.error());
  std::vector<StatementView> out;
  try {
    for (const auto& [cp, w] : *versions) {
      const auto& c = *cp;
      const auto* p = rules_.partner(c.partner);
      const std::string name = p ? p->name : c.partner;
      if (!what_if) {
        if (auto s = closed_one(c.contract, c.version, w.label)) {
          out.push_back({&c, w, "closed", json::parse(s->document), name});
          continue;
        }
      }
      const std::string status = what_if ? "what_if" : c.enforced ? "open" : "preview";
      auto computed = compute(c, w, as_of, status, History::all, what_if);
      out.push_back({&c, w, status, std::move(computed.statement.document), name});
    }
  } catch (const std::invalid_argument& e) {
    return std::unexpected(e.what());
  } catch (const LedgerDamaged& e) {
    return std::unexpected(e.what());
  }
  if (what_if && out.empty()) return std::unexpected("no contract with compensation in effect for that partner and period");
  return out;
}

std::optional<engine::PeriodWindow> Statements::next_to_close(const rules::ContractVersion& c) {
  const auto& closed = closed_of(c.contract);
  if (closed.empty()) return std::nullopt;
  const auto last = std::max_element(closed.begin(), closed.end(), [](const auto& a, const auto& b) {
    return std::tie(a.period_start, a.version) < std::tie(b.period_start, b.version);
  });
  const auto& cal = rules_.calendars.at(c.calendar);
  auto w = engine::period_by_label(c, cal, last->period);
  if (!w) return std::nullopt;
  // Step forward from the last closed period to the next one in which an enforced version with
  // compensation is in effect (a period without one has nothing to close). Ten years at most.
  for (int i = 0; i < 120; ++i) {
    auto next = engine::period_containing(c, cal, w->end);
    if (!next) return std::nullopt;
    w = *next;
    for (const auto& v : rules_.contracts) {
      if (v.contract == c.contract && v.enforced && v.compensation && engine::in_effect_during(v, *w)) return *w;
    }
  }
  return std::nullopt;
}

std::expected<std::vector<CloseOutcome>, std::string> Statements::close(const std::string& label,
                                                                        const std::optional<std::string>& partner,
                                                                        core::Instant as_of, core::Instant now,
                                                                        const std::string& by, bool with_open_disputes) {
  closed_.clear();
  deals_.clear();
  accepted_.clear();
  // A close is as of an instant that has passed: the statements of a period that has not ended
  // cannot be frozen by naming a later instant.
  if (as_of > now) {
    return std::unexpected("as of " + core::format_rfc3339(as_of) + " is later than now (" + core::format_rfc3339(now) +
                           "): a period closes as of an instant that has passed");
  }
  const auto versions = versions_in(label, partner);
  if (!versions) return std::unexpected(versions.error());
  std::vector<CloseOutcome> out;
  std::vector<store::StatementRecord> records;
  try {
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
      if (auto s = closed_one(c.contract, c.version, w.label)) {
        // Already closed: re-derive it as of its own instant and compare.
        const auto again = rederive(*s);
        o.total = doc_money(json::parse(s->document), "total").to_decimal();
        const std::string when = "closed on " + core::format_rfc3339(s->closed_at) + " by " + s->closed_by;
        switch (again.kind) {
          case Rederived::Kind::same:
            o.kind = CloseOutcome::Kind::reproduced;
            o.detail = when + "; " + again.detail;
            break;
          case Rederived::Kind::inputs_changed:
          case Rederived::Kind::differs:
          case Rederived::Kind::not_rederived:
            o.kind = CloseOutcome::Kind::differs;
            o.detail = when + "; " + again.detail;
            break;
        }
        out.push_back(std::move(o));
        continue;
      }
      // Periods close in order, without gaps: after a contract's first close (which may be any
      // ended period: pactwatch can start mid-contract), each close is of the period after the
      // last closed one. An earlier period can no longer be closed.
      if (const auto& closed = closed_of(c.contract); !closed.empty()) {
        const auto last = std::max_element(closed.begin(), closed.end(), [](const auto& a, const auto& b) {
          return std::tie(a.period_start, a.version) < std::tie(b.period_start, b.version);
        });
        const auto next = next_to_close(c);
        if (w.label != last->period && (!next || next->label != w.label)) {
          if (next && w.start > next->start) {
            return std::unexpected("close " + next->label + " first: " + c.contract + "'s periods close in order, and " +
                                   next->label + " comes after " + last->period + ", its last closed period");
          }
          return std::unexpected(w.label + " can no longer be closed for " + c.contract + ": its periods close in order, and " +
                                 last->period + " is closed already" + (next ? " (the next to close is " + next->label + ")" : ""));
        }
      }
      const json open = open_disputes(c, w, now);
      if (!open.empty() && !with_open_disputes) {
        std::string which;
        for (const auto& d : open) {
          which += (which.empty() ? "" : ", ") + d.at("kind").get<std::string>() + " " + std::to_string(d.at("id").get<std::int64_t>());
        }
        return std::unexpected(w.label + " of " + c.contract + " v" + std::to_string(c.version) + " has " + std::to_string(open.size()) +
                               " open dispute(s) or correction(s) (" + which +
                               "): answer them first, or close with them listed in the statement as open "
                               "(--with-open-disputes); what they change once accepted becomes an adjustment then");
      }
      auto computed = compute(c, w, as_of, "closed", History::all, nullptr);
      if (!open.empty()) computed.statement.document["open_disputes"] = open;
      const auto& st = computed.statement;
      o.total = st.total.to_decimal();
      store::StatementRecord r{c.contract, c.version, w.label, c.partner, w.start, std::string(st.currency.code()),
                               st.own.minor_units(), st.total.minor_units(), st.carry_out.minor_units(), c.sha256,
                               st.document.at("input_digest").get<std::string>(), std::string(compensation::kEngineVersion), as_of,
                               now, by, st.document.dump(-1, ' ', false, json::error_handler_t::replace)};
      std::tie(r.contract_canonical, r.approvals) = contract_as_closed(c);
      records.push_back(std::move(r));
      out.push_back(std::move(o));
    }
  } catch (const LedgerDamaged& e) {
    return std::unexpected(e.what());
  }
  if (!records.empty()) {
    spdlog::debug("period close: storing {} closed statement(s)", records.size());
    store_.statements().close(records);
  }
  return out;
}

std::vector<RepricedPeriod> Statements::reprice(const rules::ContractVersion& proposal, std::size_t periods) {
  // The proposal's partner's own closed periods: a contract id once used for another partner
  // (files can be renamed) keeps that partner's statements, which are not this one's to see.
  std::vector<store::StatementRecord> closed;
  for (const auto& r : closed_of(proposal.contract)) {
    if (r.partner == proposal.partner) closed.push_back(r);
  }
  std::sort(closed.begin(), closed.end(), [](const auto& a, const auto& b) {
    return std::tie(a.period_start, a.version) > std::tie(b.period_start, b.version);
  });
  std::vector<RepricedPeriod> out;
  const auto cal = rules_.calendars.find(proposal.calendar);
  for (const auto& r : closed) {
    if (!out.empty() && out.back().period == r.period) {
      // Two versions closed in one period: their own lines add up.
      if (auto c = core::Currency::from_code(r.currency); c && *c == out.back().closed_own.currency()) {
        out.back().closed_own += core::Money(r.own_minor, *c);
      }
      continue;
    }
    if (out.size() == periods) break;
    const auto currency = core::Currency::from_code(r.currency);
    if (!currency) continue;
    RepricedPeriod p{r.period, r.version, core::Money(r.own_minor, *currency), std::nullopt, {}, nullptr};
    if (!proposal.compensation) {
      p.note = "the proposal pays nothing";
    } else if (cal == rules_.calendars.end()) {
      p.note = "the proposal's calendar '" + proposal.calendar + "' is not loaded";
    } else if (auto w = engine::period_by_label(proposal, cal->second, r.period); !w) {
      p.note = "the proposal has no period " + r.period + ": " + w.error();
    } else {
      auto computed = compute(proposal, *w, r.as_of, "what_if", History::none, nullptr);
      p.proposed_own = computed.statement.own;
      p.document = std::move(computed.statement.document);
      if (computed.statement.currency != *currency) p.note = "the proposal pays in " + proposal.currency + ", the period was paid in " + r.currency;
    }
    out.push_back(std::move(p));
  }
  return out;
}

Rederived Statements::rederive(const store::StatementRecord& closed) {
  const rules::ContractVersion* c = nullptr;
  for (const auto& v : rules_.contracts) {
    if (v.contract == closed.contract && v.version == closed.version) c = &v;
  }
  Rederived out;
  if (!c || !c->compensation) {
    out.kind = Rederived::Kind::not_rederived;
    out.detail = "cannot be re-derived: " + closed.contract + " v" + std::to_string(closed.version) + " is no longer in the rules";
    return out;
  }
  if (c->sha256 != closed.contract_sha256) {
    out.kind = Rederived::Kind::not_rederived;
    out.detail = "cannot be re-derived: " + c->file + " now hashes to " + c->sha256.substr(0, 12) + "…, the statement was closed under " +
                 closed.contract_sha256.substr(0, 12) + "… (the contract file changed)";
    return out;
  }
  auto w = engine::period_by_label(*c, rules_.calendars.at(c->calendar), closed.period);
  if (!w) {
    out.kind = Rederived::Kind::not_rederived;
    out.detail = "cannot be re-derived: " + w.error();
    return out;
  }
  auto again = compute(*c, *w, closed.as_of, "closed", History::all, nullptr);
  out.document = std::move(again.statement.document);
  // The disputes open at the close are a record of that moment (the hash chain keeps it), not a
  // computation from inputs: carried over as stored, so that a clock that differs between the
  // host that closed and the one that recorded an act cannot make it re-derive differently.
  if (const json stored_doc = json::parse(closed.document); stored_doc.contains("open_disputes")) {
    out.document["open_disputes"] = stored_doc.at("open_disputes");
  }
  const std::string text = out.document.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text == closed.document) {
    out.detail = "recomputed bit for bit";
    return out;
  }
  const json stored = json::parse(closed.document);
  const auto& now = out.document;
  // The amounts: every line's kind and amount, own, total, carried forward.
  auto amounts = [](const json& d, bool own_only) {
    std::vector<std::pair<std::string, std::string>> v;
    for (const auto& l : d.at("lines")) {
      const auto kind = l.at("kind").get<std::string>();
      if (own_only && (kind == "adjustment" || kind == "earn_back" || kind == "carry_forward_in" || kind == "carry_forward")) continue;
      v.emplace_back(kind, l.at("amount").get<std::string>());
    }
    if (!own_only) {
      v.emplace_back("total", d.at("total").get<std::string>());
      v.emplace_back("carry_forward_out", d.at("carry_forward_out").get<std::string>());
    }
    return v;
  };
  const std::string totals = "recomputed now it totals " + now.at("total").get<std::string>() + " (closed: " +
                             stored.at("total").get<std::string>() + ")";
  if (stored.value("engine_version", "") == compensation::kEngineVersion) {
    if (stored.value("inputs", json()) != now.at("inputs")) {
      std::string which;
      const json before = stored.value("inputs", json::array());
      for (const auto& i : now.at("inputs")) {
        if (std::find(before.begin(), before.end(), i) != before.end()) continue;
        const std::string name = i.contains("calendar") ? "the calendar " + i.at("calendar").get<std::string>()
                                                         : i.at("period").get<std::string>() + " (" + i.at("role").get<std::string>() + ")";
        which += (which.empty() ? "" : ", ") + name;
      }
      out.kind = Rederived::Kind::inputs_changed;
      out.detail = (amounts(stored, false) == amounts(now, false) ? std::string("the same amounts") : totals) +
                   "; its input changed since the close (late or corrected data: the difference becomes an adjustment in "
                   "the next open period): " + which;
      return out;
    }
    out.kind = Rederived::Kind::differs;
    out.detail = (amounts(stored, false) == amounts(now, false) ? std::string("the same amounts, but not the same document") : totals) +
                 ", from unchanged inputs: the stored statement was altered";
    return out;
  }
  // Closed by another engine version: the amounts must agree; the derivations are written anew.
  const std::string engine = "closed by engine " + stored.value("engine_version", std::string("?")) + ", re-derived by engine " +
                             std::string(compensation::kEngineVersion);
  if (amounts(stored, false) == amounts(now, false)) {
    out.detail = engine + ": the same amounts";
    return out;
  }
  if (stored.at("input_digest") != now.at("input_digest")) {
    out.kind = Rederived::Kind::inputs_changed;
    out.detail = totals + "; its input changed since the close (late or corrected data: the difference becomes an adjustment in "
                          "the next open period)";
    return out;
  }
  if (amounts(stored, true) == amounts(now, true)) {
    out.kind = Rederived::Kind::not_rederived;
    out.detail = totals + "; " + engine + ", which recorded only its own period's input: the difference is in lines that "
                          "read other periods (adjustments, earn-backs, carry-forward) and cannot be checked";
    return out;
  }
  out.kind = Rederived::Kind::differs;
  out.detail = totals + ", " + engine + ", from an unchanged input: the stored statement was altered";
  return out;
}

}  // namespace pactwatch::ledger
