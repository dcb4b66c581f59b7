#include "pactwatch/ledger/disputes.h"

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
std::vector<store::OutboxEvent> dispute_events(const store::Dispute& d, std::span<const core::DisputeAction> stored) {
  std::vector<store::OutboxEvent> out;
  for (const auto& a : stored) {
    std::string type;
    if (a.act == core::DisputeAct::open) type = "dispute.opened";
    else if (a.act == core::DisputeAct::accept || a.act == core::DisputeAct::reject) type = "dispute.resolved";
    else continue;
    store::OutboxEvent e;
    e.id = type + "/" + std::to_string(d.id) + "/" + std::to_string(a.seq);
    e.type = type;
    e.partner = d.subject.partner;
    e.contract = d.subject.contract;
    e.version = d.subject.version;
    e.period = d.subject.period;
    e.subject = std::string(core::to_string(a.party)) + ":" + d.subject.rule;
    e.created_at = a.at;
    nlohmann::json payload{{"dispute", d.id},
                           {"rule", d.subject.rule},
                           {"item", d.subject.whole_rule() ? nlohmann::json(nullptr)
                                                           : nlohmann::json{{"source", d.subject.item_source},
                                                                            {"kind", d.subject.item_kind},
                                                                            {"id", d.subject.item_id}}},
                           {"category", core::to_string(d.category)},
                           {"act", core::to_string(a.act)},
                           {"party", core::to_string(a.party)},
                           {"by", a.actor_name},
                           {"comment", a.comment}};
    for (const auto& [name, path] : store::event_links(e)) payload[name] = path;
    e.payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back(std::move(e));
  }
  return out;
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
  const core::Instant deadline = window->end + std::chrono::days(v.disputes->window_days);
  if (now > deadline) {
    return std::unexpected("the dispute window of " + s.period + " closed at " + core::format_rfc3339(deadline) + " (" +
                           std::to_string(v.disputes->window_days) + " calendar days after the period ended)");
  }
  if (!has_rule(v, s.rule)) return std::unexpected(where + " has no rule '" + s.rule + "'");
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
  d.category = request.category;
  d.opened_at = now;
  std::vector<core::DisputeAction> acts;
  core::DisputeAction opening;
  opening.act = core::DisputeAct::open;
  opening.party = core::Party::partner;
  opening.actor = who.id;
  opening.actor_name = who.name;
  opening.at = now;
  opening.comment = request.reason;
  acts.push_back(opening);
  const auto& pre = v.disputes->pre_agreed;
  if (std::find(pre.begin(), pre.end(), request.category) != pre.end()) {
    core::DisputeAction accept;
    accept.act = core::DisputeAct::accept;
    accept.party = core::Party::brand;
    accept.actor = "contract:" + where;
    accept.actor_name = where;
    accept.at = now;
    accept.comment = "accepted in advance by the contract (pre_agreed: " + std::string(core::to_string(request.category)) + ")";
    acts.push_back(accept);
  }
  const auto audit = audit_of(who, now, "dispute.open", subject_text(s),
                                 std::string(core::to_string(request.category)) + " " + who.name + ": " + request.reason);
  auto stored = db.disputes().open(d, acts, audit, dispute_events);
  if (!stored) return std::unexpected(stored.error());
  return OpenedDispute{stored->first, stored->second};
}

std::expected<core::DisputeAction, std::string> act_on_dispute(store::Store& db, std::int64_t id, core::DisputeAct what,
                                                              core::Party party, const std::string& comment, const Actor& who,
                                                              core::Instant now) {
  if (what == core::DisputeAct::open) return std::unexpected("a dispute is opened once, with its subject and category");
  const auto d = db.disputes().get(id);
  if (!d) return std::unexpected("no dispute " + std::to_string(id));
  core::DisputeAction act;
  act.dispute = std::to_string(id);
  act.act = what;
  act.party = party;
  act.actor = who.id;
  act.actor_name = who.name;
  act.at = now;
  act.comment = comment;
  const auto audit = audit_of(who, now, "dispute." + std::string(core::to_string(what)),
                                 "dispute " + std::to_string(id) + " " + subject_text(d->subject),
                                 std::string(core::to_string(party)) + " " + who.name + (comment.empty() ? "" : ": " + comment));
  return db.disputes().record(act, audit, dispute_events);
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
  return {{"id", d.id},
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
}

}  // namespace pactwatch::ledger
