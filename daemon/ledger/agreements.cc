#include "pactwatch/ledger/agreements.h"

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/rules/approvals.h"

namespace pactwatch::ledger {

nlohmann::json act_json(const core::ContractAction& a) {
  return {{"seq", a.seq},       {"party", core::to_string(a.party)}, {"act", core::to_string(a.act)},
          {"sha256", a.sha256}, {"actor", a.actor},                  {"actor_name", a.actor_name},
          {"at", core::format_rfc3339(a.at)}, {"comment", a.comment}};
}

nlohmann::json agreement_json(const core::Agreement& a) {
  auto act_or_null = [](const std::optional<core::ContractAction>& x) { return x ? act_json(*x) : nlohmann::json(nullptr); };
  return {{"state", core::to_string(a.state)},
          {"proposed_sha256", a.proposed_sha256 ? nlohmann::json(*a.proposed_sha256) : nlohmann::json(nullptr)},
          {"brand_approval", act_or_null(a.brand_approval)},
          {"partner_approval", act_or_null(a.partner_approval)},
          {"closing", act_or_null(a.closing)}};
}

store::AuditEntry audit_of(const Actor& who, core::Instant now, const std::string& action, const std::string& target,
                           const std::string& outcome) {
  store::AuditEntry e;
  e.at = now;
  e.actor = who.id;
  e.role = who.role;
  e.action = action;
  e.target = target;
  e.outcome = outcome;
  return e;
}

namespace {

// How every act an adoption records begins its comment: what tells an adopted act from one taken
// through the lifecycle.
constexpr std::string_view kAdoptedFrom = "adopted from the approvals block of ";

bool overlap(const rules::ContractVersion& a, const rules::ContractVersion& b) {
  return (!a.effective_until || b.effective_from <= *a.effective_until) && (!b.effective_until || a.effective_from <= *b.effective_until);
}

// The lifecycle's check of `batch`, one act after another, on top of what was recorded; and what
// the lifecycle alone cannot see: proposing a version older than one already proposed, and an
// approval that would agree a version in effect on a day another agreed version of the contract
// is (two enforced versions on one day: the rules would stop loading).
std::expected<void, std::string> check_batch(std::span<const core::ContractAction> recorded,
                                             std::span<const core::ContractAction> batch, const rules::ContractVersion& v,
                                             const rules::RuleSet& set) {
  std::vector<core::ContractAction> acts(recorded.begin(), recorded.end());
  std::int64_t seq = acts.empty() ? 0 : acts.back().seq;
  const std::string where = v.contract + " v" + std::to_string(v.version);
  for (const auto& a : batch) {
    const auto mine = rules::acts_on(v, acts);
    const bool later = rules::later_version_proposed(v, acts);
    const auto agreement = core::agreement_of(mine, v.sha256, later);
    if (auto ok = core::check_act(agreement, a, v.sha256); !ok) return ok;
    if (a.act == core::ContractAct::propose && later) {
      return std::unexpected("a later version of " + v.contract + " is already proposed: " + where + " cannot be proposed after it");
    }
    acts.push_back(a);
    acts.back().seq = ++seq;
    if (a.act != core::ContractAct::approve) continue;
    if (!core::agreement_of(rules::acts_on(v, acts), v.sha256, later).agreed()) continue;
    for (const auto& o : set.contracts) {
      if (o.contract != v.contract || o.version == v.version || !overlap(o, v)) continue;
      // Agreed on its file's content, or on the content last proposed: a version whose file was
      // edited after its agreement enforces nothing today, but restoring the file enforces it
      // again, and then two agreed versions would overlap and the rules would not load.
      const auto others = rules::acts_on(o, acts);
      const bool later_o = rules::later_version_proposed(o, acts);
      const auto other = core::agreement_of(others, o.sha256, later_o);
      const auto proposed = other.proposed_sha256;
      if (other.agreed() || (proposed && core::agreement_of(others, *proposed, later_o).agreed())) {
        return std::unexpected(where + " would be agreed while agreed v" + std::to_string(o.version) + " (" +
                               calendar::format_date(o.effective_from) + " to " +
                               (o.effective_until ? calendar::format_date(*o.effective_until) : "open end") +
                               ") is in effect on the same days: its effective dates must not overlap (docs/rules.md)");
      }
    }
  }
  return {};
}

store::AuditEntry audit_entry(const Actor& who, core::Instant now, const std::string& action, const rules::ContractVersion& v,
                              const std::string& outcome) {
  return audit_of(who, now, action, v.contract + " v" + std::to_string(v.version), outcome);
}

// The event type an act causes, if any: comments notify nobody.
std::optional<std::string> event_type_of(core::ContractAct a) {
  switch (a) {
    case core::ContractAct::propose: return "contract.proposed";
    case core::ContractAct::approve: return "contract.approved";
    case core::ContractAct::reject:
    case core::ContractAct::request_changes: return "contract.rejected";
    case core::ContractAct::withdraw: return "contract.withdrawn";
    case core::ContractAct::comment: return std::nullopt;
  }
  return std::nullopt;
}

store::OutboxEvent contract_event(const rules::ContractVersion& v, const std::string& type, const core::ContractAction& act,
                                  const std::string& subject, core::AgreementState state) {
  store::OutboxEvent e;
  e.id = type + "/" + v.contract + "/" + std::to_string(v.version) + "/" + std::to_string(act.seq);
  e.type = type;
  e.partner = v.partner;
  e.contract = v.contract;
  e.version = v.version;
  e.subject = subject;
  e.created_at = act.at;
  nlohmann::json payload{{"act", core::to_string(act.act)},
                         {"party", core::to_string(act.party)},
                         {"by", act.actor_name},
                         {"sha256", act.sha256},
                         {"comment", act.comment},
                         {"state", core::to_string(state)},
                         {"effective_from", calendar::format_date(v.effective_from)},
                         {"effective_until", v.effective_until ? nlohmann::json(calendar::format_date(*v.effective_until)) : nlohmann::json(nullptr)}};
  for (const auto& [name, path] : store::event_links(e)) payload[name] = path;
  e.payload = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return e;
}

}  // namespace

std::vector<store::OutboxEvent> agreement_events(const rules::ContractVersion& v, std::span<const core::ContractAction> before,
                                                 std::span<const core::ContractAction> stored) {
  std::vector<core::ContractAction> all(before.begin(), before.end());
  all.insert(all.end(), stored.begin(), stored.end());
  const bool later = rules::later_version_proposed(v, all);
  const auto was = core::agreement_of(rules::acts_on(v, before), v.sha256, rules::later_version_proposed(v, before));
  const auto now = core::agreement_of(rules::acts_on(v, all), v.sha256, later);
  std::vector<store::OutboxEvent> out;
  for (const auto& act : stored) {
    if (act.contract != v.contract || act.version != v.version) continue;
    if (auto type = event_type_of(act.act)) out.push_back(contract_event(v, *type, act, std::string(core::to_string(act.party)), now.state));
  }
  if (now.agreed() && !was.agreed() && !stored.empty()) out.push_back(contract_event(v, "contract.enforced", stored.back(), "agreement", now.state));
  return out;
}

core::Diagnostics enforce_recorded(rules::RuleSet& set, store::Store& db) {
  const auto acts = db.agreements().all();
  return rules::apply_recorded_approvals(set, acts);
}

std::expected<rules::RuleSet, core::Diagnostics> rules_in_force(const std::filesystem::path& dir, store::Store& db) {
  auto set = rules::load_rule_set(dir, rules::Enforcement::recorded_later);
  if (!set) return set;
  if (auto problems = enforce_recorded(*set, db); !problems.empty()) return std::unexpected(std::move(problems));
  return set;
}

std::expected<core::ContractAction, std::string> record_act(store::Store& db, const rules::RuleSet& set,
                                                            core::ContractAction act, const Actor& who, core::Instant now) {
  auto v = rules::find_version(set, act.contract, act.version);
  if (!v) return std::unexpected(v.error());
  // An approval names the content the party reviewed; other acts are taken on the current content.
  if (act.act == core::ContractAct::approve && act.sha256.empty()) {
    return std::unexpected("an approval names the content hash it approves (the version's sha256)");
  }
  if (act.sha256.empty()) act.sha256 = (*v)->sha256;
  if (const auto bad = std::find_if(act.comment.begin(), act.comment.end(),
                                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\r' && ch != '\t'; });
      bad != act.comment.end()) {
    return std::unexpected("a comment may hold no control characters but line breaks and tabs");
  }
  if (act.comment.starts_with(kAdoptedFrom)) return std::unexpected("a comment may not pose as an adoption's");
  act.actor = who.id;
  act.actor_name = who.name;
  act.at = now;
  // The audit entry says what the act's row says: party, who by name, the content, the comment.
  const auto audit = audit_entry(who, now, "contract." + std::string(core::to_string(act.act)), **v,
                                 std::string(core::to_string(act.party)) + " " + who.name + " sha256 " + act.sha256 +
                                     (act.comment.empty() ? "" : ": " + act.comment));
  const rules::ContractVersion& version = **v;
  return db.agreements().record(
      act, audit, [&](std::span<const core::ContractAction> recorded) { return check_batch(recorded, {&act, 1}, version, set); },
      [&](std::span<const core::ContractAction> before, std::span<const core::ContractAction> stored) {
        return agreement_events(version, before, stored);
      });
}

std::expected<std::vector<core::ContractAction>, std::string> adopt_file_approvals(
    store::Store& db, const rules::RuleSet& set, const rules::ContractVersion& v, const std::string& vouched_by, const Actor& who,
    core::Instant now) {
  if (vouched_by.empty()) return std::unexpected("name who vouches for the file's approvals");
  const rules::Approval* brand = nullptr;
  const rules::Approval* partner = nullptr;
  for (const auto& a : v.approvals) {
    if (a.sha256 != v.sha256) continue;
    if (a.party == "brand" && !brand) brand = &a;
    if (a.party == "partner" && !partner) partner = &a;
  }
  const std::string where = v.contract + " v" + std::to_string(v.version);
  if (!brand || !partner) {
    return std::unexpected(where + ": its approvals block does not carry both parties' approvals of its current content (" +
                           v.sha256.substr(0, 12) + "…); nothing to adopt");
  }
  const std::string origin = std::string(kAdoptedFrom) + std::filesystem::path(v.file).filename().string() +
                             ", vouched for by " + vouched_by;
  auto make = [&](core::Party party, core::ContractAct what, const rules::Approval& a) {
    core::ContractAction act;
    act.contract = v.contract;
    act.version = v.version;
    act.sha256 = v.sha256;
    act.party = party;
    act.act = what;
    act.actor = who.id;
    act.actor_name = a.by + ", vouched for by " + vouched_by;  // the file names the approver; pactwatch did not see them act
    act.at = now;
    act.comment = what == core::ContractAct::propose ? origin : origin + " (approved " + core::format_rfc3339(a.at) + " per the file)";
    return act;
  };
  const auto audit = audit_entry(who, now, "contract.adopt", v, origin + "; sha256 " + v.sha256 + "; brand " + brand->by +
                                                                     ", partner " + partner->by);
  return db.agreements().record_planned(
      v.contract, audit,
      [&](std::span<const core::ContractAction> recorded) -> std::expected<std::vector<core::ContractAction>, std::string> {
        const auto mine = rules::acts_on(v, recorded);
        const auto agreement = core::agreement_of(mine, v.sha256, rules::later_version_proposed(v, recorded));
        std::vector<core::ContractAction> batch;
        if (agreement.agreed()) return batch;  // adopted (or agreed) already
        // Once: a version anyone has acted on goes the recorded way from then on, so a file
        // edited afterwards (new terms, new approval lines) can never be adopted over it.
        if (!mine.empty()) {
          return std::unexpected(where + " has recorded acts already (" + std::string(core::to_string(agreement.state)) +
                                 "): adopt is only for versions never acted on; nothing adopted");
        }
        // A migration, not a way in: once a contract has gone the recorded way (any act taken
        // through propose, approve, reject, ... rather than adopted), a new version of it is
        // proposed and approved by both parties, never adopted from lines typed into its file.
        for (const auto& r : recorded) {
          if (!r.comment.starts_with(kAdoptedFrom)) {
            return std::unexpected(where + ": " + v.contract + " has acts recorded through the lifecycle (#" + std::to_string(r.seq) +
                                   " " + std::string(core::to_string(r.act)) + " on v" + std::to_string(r.version) +
                                   "): its new versions are proposed and approved, never adopted; nothing adopted");
          }
        }
        batch.push_back(make(core::Party::brand, core::ContractAct::propose, *brand));
        batch.push_back(make(core::Party::brand, core::ContractAct::approve, *brand));
        batch.push_back(make(core::Party::partner, core::ContractAct::approve, *partner));
        if (auto ok = check_batch(recorded, batch, v, set); !ok) return std::unexpected(where + ": " + ok.error());
        return batch;
      });
}

}  // namespace pactwatch::ledger
