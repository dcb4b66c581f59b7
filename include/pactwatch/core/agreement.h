// How a contract version becomes an agreement: the acts of the brand and the partner on it
// (propose, approve, reject, withdraw, comment), recorded append-only, and the state they come
// to. Pure: the store keeps the acts (store::Agreements), this says what they mean and which act
// may come next (docs/rules.md, "From proposal to enforcement").
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/core/time.h"

namespace pactwatch::core {

enum class Party { brand, partner };
[[nodiscard]] std::string_view to_string(Party p);
[[nodiscard]] std::optional<Party> party_from(std::string_view s);

enum class ContractAct {
  propose,          // the brand shows a version to the partner (brand only)
  approve,          // a party agrees to the exact content (its SHA-256)
  reject,           // a party refuses it, saying why
  request_changes,  // a party asks for another version, saying what
  withdraw,         // the brand takes its proposal back (brand only)
  comment,          // a note on the proposal's thread; changes nothing
};
[[nodiscard]] std::string_view to_string(ContractAct a);
[[nodiscard]] std::optional<ContractAct> contract_act_from(std::string_view s);

// One recorded act. `sha256` is the version's content hash the act was taken on (the canonical
// form without approvals, rules::contract_hash); `actor` names the authenticated principal (a
// token id, or the CLI user), `actor_name` what it calls itself.
struct ContractAction {
  std::int64_t seq = 0;  // assigned by the store, in the order acts were recorded
  std::string contract;
  int version = 0;
  std::string sha256;
  Party party = Party::brand;
  ContractAct act = ContractAct::comment;
  std::string actor;
  std::string actor_name;
  Instant at{};
  std::string comment;
  friend bool operator==(const ContractAction&, const ContractAction&) = default;
};

enum class AgreementState {
  draft,               // the brand's business: never proposed
  proposed,            // shown to the partner, approved by nobody yet
  approved_by_brand,   // one side has approved the current content
  approved_by_partner,
  approved,            // both have approved the current content (enforced once in effect)
  changed,             // the content changed after it was proposed: approvals of the old content
                       // count for nothing, the brand proposes again
  rejected,            // a party rejected it or asked for changes
  withdrawn,           // the brand took it back
  superseded,          // a later version of the contract was proposed
};
[[nodiscard]] std::string_view to_string(AgreementState s);

// Where a version stands, from its acts (any order; read by seq) and its current content hash.
struct Agreement {
  AgreementState state = AgreementState::draft;
  std::optional<std::string> proposed_sha256;       // the content last proposed
  std::optional<ContractAction> brand_approval;     // of the current content, if any
  std::optional<ContractAction> partner_approval;
  std::optional<ContractAction> closing;            // the rejection, change request or withdrawal
  // Both parties approved exactly `current_sha256`.
  [[nodiscard]] bool agreed() const { return state == AgreementState::approved; }
};

// `acts` are this version's; `later_proposed` is whether a later version of the same contract
// has been proposed (which supersedes this one unless it is agreed already).
[[nodiscard]] Agreement agreement_of(std::span<const ContractAction> acts, const std::string& current_sha256,
                                     bool later_proposed);

// Whether `act` may be recorded now, and why not: proposing twice, approving content that is not
// the version's current content (stale), approving twice, acting on a rejected, withdrawn,
// superseded or already agreed version, a partner proposing or withdrawing, rejecting without a
// reason. The error is a sentence for the person who tried.
[[nodiscard]] std::expected<void, std::string> check_act(const Agreement& agreement, const ContractAction& act,
                                                         const std::string& current_sha256);

}  // namespace pactwatch::core
