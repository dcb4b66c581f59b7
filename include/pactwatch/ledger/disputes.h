// A partner's disputes against the store and the rules (docs/disputes.md): opening one within
// the contract's terms (its `disputes` block: the window after the period and the categories),
// the brand's answer, each act audited and notified to the other party in its transaction.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/core/dispute.h"
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

// Records an act on dispute `id` for `party` (accept and reject are the brand's, withdraw the
// partner's, comment either's) after the lifecycle's check. Throws StoreError.
[[nodiscard]] std::expected<core::DisputeAction, std::string> act_on_dispute(store::Store& db, std::int64_t id, core::DisputeAct act,
                                                                            core::Party party, const std::string& comment,
                                                                            const Actor& who, core::Instant now);

// A dispute as the API and the CLI show it: id, subject, category, state, opened_at and its
// thread of acts.
[[nodiscard]] nlohmann::json dispute_json(const store::Dispute& d, const std::vector<core::DisputeAction>& acts);

}  // namespace pactwatch::ledger
