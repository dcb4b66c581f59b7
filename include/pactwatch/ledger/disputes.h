// A partner's disputes against the store and the rules (docs/disputes.md): opening one within
// the contract's terms (its `disputes` block: the window after the period and the categories),
// the brand's answer, each act audited and notified to the other party in its transaction.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/core/dispute.h"
#include "pactwatch/engine/evaluation.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::ledger {

struct DisputeRequest {
  core::DisputeSubject subject;
  core::DisputeCategory category = core::DisputeCategory::other;
  std::string reason;
};

struct OpenedDispute {
  store::Dispute dispute;
  std::vector<core::DisputeAction> acts;  // the opening, and the acceptance when pre-agreed
};

// Opens the partner's dispute, as `who` (acting for the partner). Refused, saying why, when the
// contract version does not exist, is not the partner's or is not enforced, allows no disputes or not this
// category, the period is not one of its periods or the window after it has passed (`now` later
// than the period's end plus the window's calendar days) or it has not begun, the rule is not in
// the version, the item is not in the store or is another partner's, or a dispute of the same
// subject is open or accepted. A category the contract accepts in advance (`pre_agreed`) is
// accepted in the same transaction. Throws StoreError.
[[nodiscard]] std::expected<OpenedDispute, std::string> open_dispute(store::Store& db, const rules::RuleSet& set,
                                                                     const DisputeRequest& request, const Actor& who,
                                                                     core::Instant now);

// Records an act on dispute or correction `id` for `party` (a dispute is accepted or rejected by
// the brand and withdrawn by the partner, a correction the other way round; either comments)
// after the lifecycle's check. An acceptance records the evaluation intents of what it changes
// (the disputed period's start read from `set`). Throws StoreError.
[[nodiscard]] std::expected<core::DisputeAction, std::string> act_on_dispute(store::Store& db, const rules::RuleSet& set,
                                                                            std::int64_t id, core::DisputeAct act,
                                                                            core::Party party, const std::string& comment,
                                                                            const Actor& who, core::Instant now);

struct CorrectionRequest {
  std::string partner;
  std::string contract;
  int version = 0;
  std::vector<std::string> rules;  // the KPIs, standards and obligations its items leave
  core::Instant from{};            // the window of creation instants, [from, until)
  core::Instant until{};
  core::DisputeCategory category = core::DisputeCategory::brand_caused;
  std::string reason;  // what happened ("brand platform outage")
};

// Declares the brand's correction, as `who` (acting for the brand). Refused, saying why, when the
// contract version does not exist, is not the partner's or is not enforced, a rule is not in it,
// there is no rule or no reason, the window is empty or longer than 31 days, or the version is
// not in effect during it. A category the contract's `disputes` block accepts in advance
// (`pre_agreed`) is accepted in the same transaction, on the partner's behalf by the contract.
// Throws StoreError.
[[nodiscard]] std::expected<OpenedDispute, std::string> declare_correction(store::Store& db, const rules::RuleSet& set,
                                                                           const CorrectionRequest& request, const Actor& who,
                                                                           core::Instant now);

// The exclusions an evaluation of version `v` over period `w` as of `as_of` applies (engine
// Exclusion): the version's disputes of that period and its corrections, accepted at or before
// `as_of` (so that a closed statement re-derives as it closed), from `accepted` (as
// Disputes::accepted_all gives them).
[[nodiscard]] std::vector<engine::Exclusion> exclusions_for(std::span<const store::AcceptedDispute> accepted,
                                                            const rules::ContractVersion& v, const engine::PeriodWindow& w,
                                                            core::Instant as_of);

// A dispute or correction as the API and the CLI show it: id, kind, subject, category, state,
// opened_at, a correction's rules and window, and its thread of acts.
[[nodiscard]] nlohmann::json dispute_json(const store::Dispute& d, const std::vector<core::DisputeAction>& acts);

}  // namespace pactwatch::ledger
