// The evaluation engine: one contract version, its calendar, the partner's items and an as-of
// instant in; every KPI, brand standard and obligation of one period out, with the evidence behind
// each number, as a typed Evaluation (evaluation.h) that renders to one JSON document
// (evaluation_json.h). A pure function: no clock, no I/O, the same inputs give byte-identical JSON.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/engine/evaluation.h"
#include "pactwatch/engine/item_values.h"
#include "pactwatch/rules/contract.h"
#include "pactwatch/core/digest.h"
#include "pactwatch/core/item.h"

namespace pactwatch::engine {

// Evidence and pending lists in a stored document are capped at this many entries per rule (their
// totals are always given); the API's evidence endpoint asks for all of them.
inline constexpr std::size_t kMaxEvidence = 100;

// The calendar period containing `at`, aligned in the contract calendar's time zone (months and
// quarters start at local midnight); a rolling period is the window ending at `at`.
[[nodiscard]] std::expected<PeriodWindow, std::string> period_containing(const rules::ContractVersion& c,
                                                                         const calendar::Calendar& cal, core::Instant at);
// "2026-10" (month) or "2026-Q4" (quarter) for a calendar-aligned contract; a month label gives
// a quarterly contract the quarter containing that month.
[[nodiscard]] std::expected<PeriodWindow, std::string> period_by_label(const rules::ContractVersion& c,
                                                                       const calendar::Calendar& cal,
                                                                       std::string_view label);

// One item's outcome for one rule, computed once per item version (phase one of an evaluation).
// Kept for every prepared item and rule, so it stays small: the measured value (percentile, mean
// and sum only) and the evidence entry (only when the item could be evidence) are behind pointers.
struct ItemOutcome {
  bool input = false;          // of the rule's kind, its counting instant in the period (before `where`)
  bool in = false;             // counts for the rule: an input for it and `where` holds
  bool where_unknown = false;  // `where` could not be decided yet
  Truth truth = Truth::unknown;  // ratio condition or standard `each`
  std::shared_ptr<const Value> value;  // the measured field (percentile, mean, sum); null when none
  std::optional<core::Instant> due;  // a pending condition's deadline
  Evidence evidence;           // the evidence entry, when the item could be evidence
};

// A prepared item; its source, kind and id are the key it is kept under (PeriodState points
// `key` at it).
struct PreparedItem {
  using Key = std::tuple<std::string, std::string, std::string>;  // source, kind, external id
  const Key* key = nullptr;
  core::Sha256 hash{};  // of the item's canonical form
  std::string problem;  // a payload problem, reported in the document
  std::optional<core::Instant> created_at;  // what a correction's window is matched against
  std::vector<ItemOutcome> rules;  // KPIs, then obligations, then brand standards, in contract order
};

// An evaluation document as text, and the same document with its evidence lists left out (they
// stand as placeholder strings), which is cheap to read fields from.
struct Rendered {
  std::string text;
  nlohmann::json skeleton;
};

// The evaluation state of one contract version and period as of one instant: items are prepared
// once each (phase one) and aggregated on demand (phase two), so a changed item costs one
// preparation. The contract and calendar must outlive it.
class PeriodState {
 public:
  PeriodState(const rules::ContractVersion& contract, const calendar::Calendar& cal, PeriodWindow period,
              core::Instant as_of);
  // Prepared items point at their keys in the map: moving keeps the map's nodes, copying would not.
  PeriodState(const PeriodState&) = delete;
  PeriodState& operator=(const PeriodState&) = delete;
  PeriodState(PeriodState&&) = default;
  PeriodState& operator=(PeriodState&&) = default;
  // Adds or replaces an item by (source, kind, external id); one that is not the partner's or is
  // not an input of the period (docs/evaluation.md, "Inputs of a document") is removed.
  void upsert(const core::Item& item);
  void erase(const std::string& source, const std::string& kind, const std::string& external_id);
  // The typed result (phase two): what the runner, compensation and the API read.
  [[nodiscard]] Evaluation evaluation() const;
  // The document as JSON, and serialized (compact, keys sorted: what is stored) with its skeleton.
  [[nodiscard]] nlohmann::json evaluate() const;
  [[nodiscard]] Rendered render_document() const;
  [[nodiscard]] core::Instant as_of() const { return as_of_; }
  [[nodiscard]] std::size_t size() const { return items_.size(); }
  // An estimate of the memory the state holds (its prepared items, their outcomes and evidence),
  // in bytes: what the runner's memory budget counts. Walks every item: O(size()).
  [[nodiscard]] std::size_t memory_bytes() const;
  // How many evidence and pending entries each rule lists (kMaxEvidence unless changed).
  void set_evidence_limit(std::size_t n) { evidence_limit_ = n; }
  // The accepted disputes and corrections of the contract version to apply (docs/disputes.md):
  // their items no longer count for the rules they name. Replaces any given before; the order
  // given does not matter. One whose window matches no item of the period and does not overlap it
  // is left out of the document.
  void set_exclusions(std::vector<Exclusion> exclusions);

 private:
  const rules::ContractVersion* contract_;
  const calendar::Calendar* cal_;
  PeriodWindow period_;
  core::Instant as_of_;
  std::optional<core::Currency> currency_;  // the contract's, which money measures are read in
  std::map<PreparedItem::Key, PreparedItem> items_;
  std::size_t evidence_limit_ = kMaxEvidence;
  std::vector<Exclusion> exclusions_;
};

// Whether a contract version is in effect at any time in the period (effective dates are whole
// UTC days, both ends inclusive).
[[nodiscard]] bool in_effect_during(const rules::ContractVersion& c, const PeriodWindow& w);

// Evaluates a contract over the items of its partner (items of other partners are ignored).
[[nodiscard]] Evaluation evaluate_period(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                                         std::span<const core::Item> items, const PeriodWindow& period,
                                         core::Instant as_of, std::size_t evidence_limit = kMaxEvidence,
                                         std::span<const Exclusion> exclusions = {});
// The same, as the evaluation document (see docs/evaluation.md for every field).
[[nodiscard]] nlohmann::json evaluate_contract(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                                               std::span<const core::Item> items, const PeriodWindow& period,
                                               core::Instant as_of, std::size_t evidence_limit = kMaxEvidence,
                                               std::span<const Exclusion> exclusions = {});

// 95% Wilson score interval for k successes out of n, as [low, high] in [0, 1].
[[nodiscard]] std::pair<double, double> wilson_interval(std::int64_t k, std::int64_t n);

}  // namespace pactwatch::engine
