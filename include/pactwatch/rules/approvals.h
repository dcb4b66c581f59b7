// Enforcement from recorded approvals: a contract version is enforced only when both parties'
// approvals of its exact content are recorded in the store (store::Agreements), never because a
// file says so. The approvals block of a contract file stays as a mirror for repositories; an
// approval there that no recorded one backs is unverified and enforces nothing
// (docs/rules.md, "From proposal to enforcement").
#pragma once

#include <expected>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/agreement.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/rules/rule_set.h"

namespace pactwatch::rules {

// Sets each version's `enforced`, `status_note`, `agreement` and `unverified_approvals` from
// `acts` (every recorded act, any contract, any order). Returns what the result breaks: two
// versions of one contract that are now enforced on the same day (rules::enforced_overlaps).
[[nodiscard]] core::Diagnostics apply_recorded_approvals(RuleSet& set, std::span<const core::ContractAction> acts);

// Version `version` of `contract`, or an error that names the versions the contract has (or a
// contract id close to the one given).
[[nodiscard]] std::expected<const ContractVersion*, std::string> find_version(const RuleSet& set, const std::string& contract,
                                                                             int version);

// Whether a later version than `v` of its contract has been proposed, from `acts`.
[[nodiscard]] bool later_version_proposed(const ContractVersion& v, std::span<const core::ContractAction> acts);

// The acts recorded on one version, in the order recorded.
[[nodiscard]] std::vector<core::ContractAction> acts_on(const ContractVersion& v, std::span<const core::ContractAction> acts);

}  // namespace pactwatch::rules
