// A partner's challenge of a number, and how the brand answers it (docs/disputes.md): the
// partner disputes an evidence item of a rule in a period, or the rule as a whole for the period,
// with a category and a reason; the brand accepts or rejects it with a comment; either side
// comments; the partner may withdraw it while it is open. Recorded append-only as acts, like a
// contract's agreement (core/agreement.h); this says what the acts mean and which may come next.
// Pure: the store keeps the acts, the ledger checks the contract's dispute window.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/core/agreement.h"
#include "pactwatch/core/time.h"

namespace pactwatch::core {

enum class DisputeCategory {
  misattributed,    // the item is not the partner's (another partner's, or the brand's own)
  customer_caused,  // the delay was the customer's doing
  brand_caused,     // the delay was the brand's doing (an outage, a late hand-over)
  force_majeure,
  data_error,       // the source system recorded it wrongly
  other,
};
[[nodiscard]] std::string_view to_string(DisputeCategory c);
[[nodiscard]] std::optional<DisputeCategory> dispute_category_from(std::string_view s);
// Every category, in declaration order (what a contract may list).
[[nodiscard]] std::span<const DisputeCategory> dispute_categories();

// A dispute is the partner's challenge, answered by the brand; a correction is the brand's
// declaration of a window whose items do not count (an outage), answered by the partner. They
// share one lifecycle, with the two parties' roles swapped (docs/disputes.md, "Corrections").
enum class DisputeKind { dispute, correction };
[[nodiscard]] std::string_view to_string(DisputeKind k);
[[nodiscard]] std::optional<DisputeKind> dispute_kind_from(std::string_view s);
// The party that opens (and may withdraw) one of this kind; the other party answers it.
[[nodiscard]] constexpr Party opener_of(DisputeKind k) { return k == DisputeKind::dispute ? Party::partner : Party::brand; }

// What is disputed: one evidence item of a rule in a period, or (no item) the rule as a whole.
struct DisputeSubject {
  std::string partner;
  std::string contract;
  int version = 0;
  std::string period;  // the period label ("2026-10")
  std::string rule;    // a KPI, brand standard or obligation id
  std::string item_source;  // with item_kind and item_id; all empty: the whole rule
  std::string item_kind;
  std::string item_id;
  [[nodiscard]] bool whole_rule() const { return item_id.empty(); }
  friend bool operator==(const DisputeSubject&, const DisputeSubject&) = default;
};

enum class DisputeAct {
  open,      // the partner disputes the subject, with a category and a reason (partner only)
  comment,   // a note on the thread; changes nothing
  accept,    // the brand agrees: the item no longer counts for the rule (brand only)
  reject,    // the brand does not agree, saying why (brand only)
  withdraw,  // the partner takes its dispute back (partner only)
};
[[nodiscard]] std::string_view to_string(DisputeAct a);
[[nodiscard]] std::optional<DisputeAct> dispute_act_from(std::string_view s);

// One recorded act on a dispute.
struct DisputeAction {
  std::int64_t seq = 0;  // assigned by the store, in the order acts were recorded
  std::string dispute;   // the dispute's id
  DisputeAct act = DisputeAct::comment;
  Party party = Party::partner;
  std::string actor;       // a token id, or "cli:USER"
  std::string actor_name;  // what it calls itself
  Instant at{};
  std::string comment;
  friend bool operator==(const DisputeAction&, const DisputeAction&) = default;
};

enum class DisputeState {
  none,       // not opened (no acts)
  open,       // awaiting the brand's answer
  accepted,   // the brand agreed: an exclusion of the item from the rule
  rejected,   // the brand did not agree
  withdrawn,  // the partner took it back
};
[[nodiscard]] std::string_view to_string(DisputeState s);

// Where a dispute stands from its acts (any order; read by seq).
[[nodiscard]] DisputeState dispute_state(std::span<const DisputeAction> acts);

// Whether `act` may be recorded on a dispute (or correction) in `state`, and why not: only the
// opener (the partner for a dispute, the brand for a correction) opens, once, and withdraws; only
// the other party accepts or rejects, once; an opening and a rejection say why; nothing but
// comments after it is resolved or withdrawn. The error is a sentence for the person who tried.
[[nodiscard]] std::expected<void, std::string> check_dispute_act(DisputeState state, const DisputeAction& act,
                                                                 DisputeKind kind = DisputeKind::dispute);

}  // namespace pactwatch::core
