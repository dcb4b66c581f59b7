// What was agreed, against the store: the rule set with enforcement from the recorded approvals
// (rules/approvals.h), the parties' acts recorded after the lifecycle's check (core/agreement.h),
// and the one-time adoption of a contract file's approvals by someone who vouches for them
// (docs/rules.md, "From proposal to enforcement").
#pragma once

#include <nlohmann/json.hpp>

#include <expected>
#include <span>
#include <filesystem>
#include <string>
#include <vector>

#include "pactwatch/core/agreement.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::ledger {

// The rules of `dir`, each version enforced only by both parties' recorded approvals of its
// content: what serve, eval, close, report and what-if run on. Problems are the rules' own, or two
// versions of a contract the recorded approvals enforce on the same day. Throws StoreError.
[[nodiscard]] std::expected<rules::RuleSet, core::Diagnostics> rules_in_force(const std::filesystem::path& dir,
                                                                              store::Store& db);
// The same for a set already loaded: serve's refresh after an act was recorded. Throws StoreError.
[[nodiscard]] core::Diagnostics enforce_recorded(rules::RuleSet& set, store::Store& db);

// An act as the API, the CLI and the agreement record show it: seq, party, act, sha256, actor,
// actor_name, at (RFC 3339) and comment.
[[nodiscard]] nlohmann::json act_json(const core::ContractAction& a);
// Where a version stands: state, the content last proposed, each party's approval of the current
// content (an act, or null) and the act that closed it (rejection, change request, withdrawal).
[[nodiscard]] nlohmann::json agreement_json(const core::Agreement& a);

// Who takes an act, as the audit log names them.
struct Actor {
  std::string id;    // a token id, or "cli:USER"
  std::string name;  // what it calls itself (an email, a name)
  std::string role;  // admin, approver, partner, ...
};

// The audit-log entry of an act `who` took at `now` (contract and dispute acts alike).
[[nodiscard]] store::AuditEntry audit_of(const Actor& who, core::Instant now, const std::string& action, const std::string& target,
                                         const std::string& outcome);

// Records `act` (its contract, version, party, act and comment set; the content hash, actor and
// time filled in here from `set`, `who` and `now`) after the lifecycle's check on every act
// recorded so far, with an audit entry "contract.<act>", in one transaction. A `sha256` already
// set on the act is what the party says it approves: it must be the version's current content.
// The refusal says why (stale content, approving twice, a withdrawn or superseded version, ...).
// Throws StoreError.
[[nodiscard]] std::expected<core::ContractAction, std::string> record_act(store::Store& db, const rules::RuleSet& set,
                                                                          core::ContractAction act, const Actor& who,
                                                                          core::Instant now);

// The notifications the acts `stored` on `v` cause, after `before` (docs/notifications.md,
// "Contract events"): contract.proposed, .approved, .rejected (a rejection or a change request) and
// .withdrawn, one per act, subject the party that acted; and contract.enforced (subject
// "agreement") when the acts complete the agreement. Comments notify nobody. Each event's id holds
// the act's seq, so the same act never notifies twice. record_act stores them with the act.
[[nodiscard]] std::vector<store::OutboxEvent> agreement_events(const rules::ContractVersion& v,
                                                               std::span<const core::ContractAction> before,
                                                               std::span<const core::ContractAction> stored);

// Records, once, the approvals a contract file's approvals block claims for its current content,
// as acts vouched for by `vouched_by` (who checked them outside pactwatch): the propose and both
// approvals, with one audit entry "contract.adopt". Only for a version never acted on: refused
// when any act is recorded on it (from then on approvals are recorded, never adopted), when the
// file's block does not carry both parties' approvals of the version's current content, when a
// later version is proposed, or when the agreement would overlap another agreed version of
// `set`'s. Empty when the version is agreed already. Throws StoreError.
[[nodiscard]] std::expected<std::vector<core::ContractAction>, std::string> adopt_file_approvals(
    store::Store& db, const rules::RuleSet& set, const rules::ContractVersion& v, const std::string& vouched_by,
    const Actor& who, core::Instant now);

}  // namespace pactwatch::ledger
