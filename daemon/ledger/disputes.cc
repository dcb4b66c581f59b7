#include "pactwatch/ledger/disputes.h"

#include <date/tz.h>

#include <algorithm>

#include "pactwatch/engine/evaluate.h"
#include "pactwatch/rules/approvals.h"

namespace pactwatch::ledger {

namespace {

std::string category_list(const std::vector<core::DisputeCategory>& cats) {
  std::string out;
  for (const auto c : cats) out += (out.empty() ? "" : ", ") + std::string(core::to_string(c));
  return out;
}

bool has_rule(const rules::ContractVersion& v, const std::string& id) {
  auto named = [&](const auto& list) { return std::any_of(list.begin(), list.end(), [&](const auto& r) { return r.id == id; }); };
  return named(v.kpis) || named(v.brand_standards) || named(v.obligations);
}

std::string subject_text(const core::DisputeSubject& s) {
  return s.contract + " v" + std::to_string(s.version) + " " + s.period + " " + s.rule +
         (s.whole_rule() ? "" : " " + s.item_source + "/" + s.item_kind + "/" + s.item_id);
}


// dispute.opened for an opening, dispute.resolved for an acceptance or rejection; subject
// "PARTY:RULE", the party that acted (so that it goes to the other one) and the disputed rule.
nlohmann::json window_json(const store::Dispute& d) {
  return {{"from", d.window_from ? nlohmann::json(core::format_rfc3339(*d.window_from)) : nlohmann::json(nullptr)},
          {"until", d.window_until ? nlohmann::json(core::format_rfc3339(*d.window_until)) : nlohmann::json(nullptr)}};
}

// The evaluations an acceptance changes run again: an intent for the disputed period, or for the
// two ends of a correction's window (an item created in it counts by creation or by a later solve,
// which the next full evaluation covers).
std::vector<store::EvaluationIntent> intents_of(const store::Dispute& d, core::Instant period_start) {
  auto floor = [](core::Instant t) {
    const auto grain = std::chrono::duration_cast<std::chrono::milliseconds>(store::kIntentGrain);
    return core::Instant(t.time_since_epoch() - t.time_since_epoch() % grain);
  };
  std::vector<store::EvaluationIntent> out{{d.subject.partner, floor(d.window_from.value_or(period_start)), 0}};
  if (d.window_until) out.push_back({d.subject.partner, floor(*d.window_until - std::chrono::milliseconds(1)), 0});
  return out;
}

std::string rules_text(const store::Dispute& d) {
  if (d.kind == core::DisputeKind::dispute) return d.subject.rule;
  std::string out;
  for (const auto& r : d.rules) out += (out.empty() ? "" : ",") + r;
  return out;
}

// The event an act causes: for a dispute, dispute.opened and dispute.resolved; for a correction,
// correction.proposed, .accepted and .rejected. Comments and withdrawals notify nobody.
std::string event_type(core::DisputeKind kind, core::DisputeAct act) {
  const bool dispute = kind == core::DisputeKind::dispute;
  switch (act) {
    case core::DisputeAct::open: return dispute ? "dispute.opened" : "correction.proposed";
    case core::DisputeAct::accept: return dispute ? "dispute.resolved" : "correction.accepted";
    case core::DisputeAct::reject: return dispute ? "dispute.resolved" : "correction.rejected";
    default: return {};
  }
}

std::vector<store::OutboxEvent> dispute_events(const store::Dispute& d, std::span<const core::DisputeAction> stored) {
  std::vector<store::OutboxEvent> out;
  for (const auto& a : stored) {
    const std::string type = event_type(d.kind, a.act);
    if (type.empty()) continue;
    store::OutboxEvent e;
    e.id = type + "/" + std::to_string(d.id) + "/" + std::to_string(a.seq);
    e.type = type;
    e.partner = d.subject.partner;
    e.contract = d.subject.contract;
    e.version = d.subject.version;
    e.period = d.subject.period;
    e.subject = std::string(core::to_string(a.party)) + ":" + rules_text(d);
    e.created_at = a.at;
    nlohmann::json payload{{std::string(core::to_string(d.kind)), d.id},
                           {"rule", rules_text(d)},
                           {"item", d.subject.whole_rule() ? nlohmann::json(nullptr)
                                                           : nlohmann::json{{"source", d.subject.item_source},
                                                                            {"kind", d.subject.item_kind},
                                                                            {"id", d.subject.item_id}}},
                           {"category", core::to_string(d.category)},
                           {"act", core::to_string(a.act)},
                           {"party", core::to_string(a.party)},
                           {"by", a.actor_name},
                           {"comment", a.comment}};
    if (d.window_from) payload["window"] = window_json(d);
    // A dispute's event links to the disputed rule's evidence; a correction names several rules.
    if (d.kind == core::DisputeKind::dispute) {
      for (const auto& [name, path] : store::event_links(e)) payload[name] = path;
    }
    e.payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back(std::move(e));
  }
  return out;
}

// The acts a dispute or correction opens with: the opener's, and the other party's acceptance
// by the contract when the version's `disputes` block pre-agrees the category (and `pre_agreeable`:
// a whole rule waived is never accepted in advance).
std::vector<core::DisputeAction> opening_acts(core::DisputeKind kind, const rules::ContractVersion& v, core::DisputeCategory category,
                                              const std::string& reason, const Actor& who, core::Instant now,
                                              bool pre_agreeable = true) {
  const core::Party opener = core::opener_of(kind);
  auto act = [&](core::DisputeAct what, core::Party party, std::string actor, std::string name, std::string comment) {
    core::DisputeAction a;
    a.act = what;
    a.party = party;
    a.actor = std::move(actor);
    a.actor_name = std::move(name);
    a.at = now;
    a.comment = std::move(comment);
    return a;
  };
  std::vector<core::DisputeAction> acts{act(core::DisputeAct::open, opener, who.id, who.name, reason)};
  if (v.disputes && pre_agreeable) {
    const auto& pre = v.disputes->pre_agreed;
    if (std::find(pre.begin(), pre.end(), category) != pre.end()) {
      const std::string where = v.contract + " v" + std::to_string(v.version);
      acts.push_back(act(core::DisputeAct::accept, opener == core::Party::brand ? core::Party::partner : core::Party::brand,
                         "contract:" + where, where,
                         "accepted in advance by the contract (pre_agreed: " + std::string(core::to_string(category)) + ")"));
    }
  }
  return acts;
}

// When a dispute window closes: local midnight `days` calendar days after the period's end (itself
// a local midnight), in the contract calendar's zone, so that a daylight-saving change inside the
// window moves nothing (24 h x days would close it an hour early or late).
core::Instant window_closes(core::Instant period_end, const std::string& timezone, int days) {
  try {
    const date::time_zone* zone = date::locate_zone(timezone);
    const auto local = zone->to_local(date::sys_seconds(std::chrono::floor<std::chrono::seconds>(period_end).time_since_epoch()));
    const auto day = std::chrono::floor<date::days>(local) + date::days(days);
    const auto utc = date::make_zoned(zone, day, date::choose::earliest).get_sys_time();
    return core::Instant(std::chrono::duration_cast<std::chrono::milliseconds>(utc.time_since_epoch()));
  } catch (const std::exception&) {
    return period_end + std::chrono::days(days);  // an unknown zone: the calendar fails to load before this
  }
}

}  // namespace

std::expected<OpenedDispute, std::string> open_dispute(store::Store& db, const rules::RuleSet& set, const DisputeRequest& request,
                                                       const Actor& who, core::Instant now) {
  const auto& s = request.subject;
  auto found = rules::find_version(set, s.contract, s.version);
  if (!found) return std::unexpected(found.error());
  const rules::ContractVersion& v = **found;
  const std::string where = s.contract + " v" + std::to_string(s.version);
  if (v.partner != s.partner) return std::unexpected("no contract '" + s.contract + "' of partner '" + s.partner + "'");
  if (!v.enforced) return std::unexpected(where + " is not enforced: a draft pays nothing, so it has nothing to dispute");
  if (!v.disputes) return std::unexpected(where + " allows no disputes (it has no disputes block)");
  if (!v.disputes->allows(request.category)) {
    return std::unexpected(where + " allows no disputes under '" + std::string(core::to_string(request.category)) +
                           "' (it allows: " + category_list(v.disputes->categories) + ")");
  }
  if (request.reason.find_first_not_of(" \t\r\n") == std::string::npos) return std::unexpected("say why: a dispute needs a reason");
  const auto cal = set.calendars.find(v.calendar);
  if (cal == set.calendars.end()) return std::unexpected(where + ": its calendar '" + v.calendar + "' is not loaded");
  auto window = engine::period_by_label(v, cal->second, s.period);
  if (!window) return std::unexpected("period '" + s.period + "': " + window.error());
  if (!engine::in_effect_during(v, *window)) return std::unexpected(where + " is not in effect in " + s.period);
  if (now < window->start) return std::unexpected(s.period + " has not begun: nothing in it can be disputed yet");
  const core::Instant deadline = window_closes(window->end, cal->second.timezone(), v.disputes->window_days);
  if (now > deadline) {
    return std::unexpected("the dispute window of " + s.period + " closed at " + core::format_rfc3339(deadline) + " (" +
                           std::to_string(v.disputes->window_days) + " calendar days after the period ended)");
  }
  if (!has_rule(v, s.rule)) return std::unexpected(where + " has no rule '" + s.rule + "'");
  if (s.whole_rule() && !(s.item_source.empty() && s.item_kind.empty())) {
    return std::unexpected("an item is named by its source, kind and id (all three, or none for the whole rule)");
  }
  if (!s.whole_rule()) {
    if (s.item_source.empty() || s.item_kind.empty()) return std::unexpected("an item is named by its source, kind and id");
    const auto item = db.items().find(s.item_source, s.item_kind, s.item_id);
    // Another partner's item answers as one that does not exist.
    if (!item || item->partner_id != s.partner) {
      return std::unexpected("no item " + s.item_source + "/" + s.item_kind + "/" + s.item_id + " of partner '" + s.partner + "'");
    }
  }
  store::Dispute d;
  d.subject = s;
  // The period as the evaluation names it ("2026-10" of a quarterly contract is its "2026-Q4"), so
  // that exclusions, the close and the one-at-a-time check all match it.
  d.subject.period = window->label;
  d.category = request.category;
  d.opened_at = now;
  // A whole rule waived weighs too much to be accepted by the contract alone: the brand answers it.
  const auto acts = opening_acts(core::DisputeKind::dispute, v, request.category, request.reason, who, now, !s.whole_rule());
  const auto audit = audit_of(who, now, "dispute.open", subject_text(s),
                                 std::string(core::to_string(request.category)) + " " + who.name + ": " + request.reason);
  auto stored = db.disputes().open(d, acts, audit, dispute_events, intents_of(d, window->start));
  if (!stored) return std::unexpected(stored.error());
  return OpenedDispute{stored->first, stored->second};
}

std::expected<OpenedDispute, std::string> declare_correction(store::Store& db, const rules::RuleSet& set,
                                                             const CorrectionRequest& request, const Actor& who,
                                                             core::Instant now) {
  auto found = rules::find_version(set, request.contract, request.version);
  if (!found) return std::unexpected(found.error());
  const rules::ContractVersion& v = **found;
  const std::string where = request.contract + " v" + std::to_string(request.version);
  if (v.partner != request.partner) return std::unexpected("no contract '" + request.contract + "' of partner '" + request.partner + "'");
  if (!v.enforced) return std::unexpected(where + " is not enforced: a draft pays nothing, so it needs no correction");
  if (request.rules.empty()) return std::unexpected("name the rules whose items the window leaves out");
  for (const auto& r : request.rules) {
    if (!has_rule(v, r)) return std::unexpected(where + " has no rule '" + r + "'");
  }
  if (request.reason.find_first_not_of(" \t\r\n") == std::string::npos) return std::unexpected("say why: a correction needs a reason");
  if (request.until <= request.from) return std::unexpected("the window is empty: its end must come after its start");
  if (request.until - request.from > std::chrono::days(31)) {
    return std::unexpected("the window is longer than 31 days: declare one correction per outage");
  }
  const auto cal = set.calendars.find(v.calendar);
  if (cal == set.calendars.end()) return std::unexpected(where + ": its calendar '" + v.calendar + "' is not loaded");
  auto period = engine::period_containing(v, cal->second, request.from);
  if (!period) return std::unexpected(period.error());
  if (!engine::in_effect_during(v, *period)) return std::unexpected(where + " is not in effect when the window begins");
  store::Dispute d;
  d.kind = core::DisputeKind::correction;
  d.subject.partner = request.partner;
  d.subject.contract = request.contract;
  d.subject.version = request.version;
  d.subject.period = period->label;
  d.category = request.category;
  d.opened_at = now;
  d.rules = request.rules;
  std::sort(d.rules.begin(), d.rules.end());
  d.rules.erase(std::unique(d.rules.begin(), d.rules.end()), d.rules.end());
  d.window_from = request.from;
  d.window_until = request.until;
  const auto acts = opening_acts(core::DisputeKind::correction, v, request.category, request.reason, who, now);
  const std::string target = where + " " + rules_text(d) + " " + core::format_rfc3339(request.from) + "/" + core::format_rfc3339(request.until);
  const auto audit = audit_of(who, now, "correction.declare", target,
                              std::string(core::to_string(request.category)) + " " + who.name + ": " + request.reason);
  auto stored = db.disputes().open(d, acts, audit, dispute_events, intents_of(d, period->start));
  if (!stored) return std::unexpected(stored.error());
  return OpenedDispute{stored->first, stored->second};
}

std::vector<engine::Exclusion> exclusions_for(std::span<const store::AcceptedDispute> accepted, const rules::ContractVersion& v,
                                              const engine::PeriodWindow& w, core::Instant as_of) {
  std::vector<engine::Exclusion> out;
  for (const auto& [d, at] : accepted) {
    const auto& s = d.subject;
    if (s.contract != v.contract || s.version != v.version || at > as_of) continue;
    engine::Exclusion x;
    x.by = std::string(core::to_string(d.kind)) + " " + std::to_string(d.id);
    if (d.kind == core::DisputeKind::correction) {
      x.rules = d.rules;
      x.created_from = d.window_from;
      x.created_until = d.window_until;
      if (!x.created_from) continue;  // not a correction the store could have written
    } else {
      if (s.period != w.label) continue;
      x.rules = {s.rule};
      x.source = s.item_source;
      x.kind = s.item_kind;
      x.id = s.item_id;
    }
    out.push_back(std::move(x));
  }
  return out;
}

std::expected<core::DisputeAction, std::string> act_on_dispute(store::Store& db, const rules::RuleSet& set, std::int64_t id,
                                                              core::DisputeAct what,
                                                              core::Party party, const std::string& comment, const Actor& who,
                                                              core::Instant now) {
  if (what == core::DisputeAct::open) return std::unexpected("a dispute is opened once, with its subject and category");
  const auto d = db.disputes().get(id);
  if (!d) return std::unexpected("no dispute or correction " + std::to_string(id));
  const std::string kind(core::to_string(d->kind));
  core::DisputeAction act;
  act.dispute = std::to_string(id);
  act.act = what;
  act.party = party;
  act.actor = who.id;
  act.actor_name = who.name;
  act.at = now;
  act.comment = comment;
  const auto audit = audit_of(who, now, kind + "." + std::string(core::to_string(what)),
                              kind + " " + std::to_string(id) + " " + subject_text(d->subject),
                              std::string(core::to_string(party)) + " " + who.name + (comment.empty() ? "" : ": " + comment));
  core::Instant period_start = d->window_from.value_or(d->opened_at);
  if (d->kind == core::DisputeKind::dispute) {
    // The intent names the disputed period; its start is read from the rules when they still hold the version.
    if (auto v = rules::find_version(set, d->subject.contract, d->subject.version); v) {
      const auto cal = set.calendars.find((*v)->calendar);
      if (cal != set.calendars.end()) {
        if (auto w = engine::period_by_label(**v, cal->second, d->subject.period)) period_start = w->start;
      }
    }
  }
  return db.disputes().record(act, audit, dispute_events, intents_of(*d, period_start));
}

nlohmann::json dispute_json(const store::Dispute& d, const std::vector<core::DisputeAction>& acts) {
  nlohmann::json thread = nlohmann::json::array();
  for (const auto& a : acts) {
    thread.push_back({{"seq", a.seq},
                      {"act", core::to_string(a.act)},
                      {"party", core::to_string(a.party)},
                      {"actor", a.actor},
                      {"actor_name", a.actor_name},
                      {"at", core::format_rfc3339(a.at)},
                      {"comment", a.comment}});
  }
  const auto& s = d.subject;
  nlohmann::json out{{"id", d.id},
          {"kind", core::to_string(d.kind)},
          {"partner", s.partner},
          {"contract", s.contract},
          {"version", s.version},
          {"period", s.period},
          {"rule", s.rule},
          {"item", s.whole_rule() ? nlohmann::json(nullptr)
                                  : nlohmann::json{{"source", s.item_source}, {"kind", s.item_kind}, {"id", s.item_id}}},
          {"category", core::to_string(d.category)},
          {"state", core::to_string(core::dispute_state(acts))},
          {"opened_at", core::format_rfc3339(d.opened_at)},
          {"thread", thread}};
  if (d.kind == core::DisputeKind::correction) {
    out["rule"] = nullptr;
    out["rules"] = d.rules;
    out["window"] = window_json(d);
  }
  return out;
}

}  // namespace pactwatch::ledger
