// What an expression sees of one stored item: typed field values, timers computed on the
// contract's calendar as of an instant, and three-valued conditions (a running timer may not have
// decided a condition yet).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/money.h"
#include "pactwatch/engine/timers.h"
#include "pactwatch/rules/contract.h"
#include "pactwatch/core/item.h"

namespace pactwatch::engine {

// Numbers are exact: a decimal scaled by 10^6 (micro-units), enough for scores, counts, ppm.
inline constexpr std::int64_t kNumberScale = 1'000'000;

struct Value {
  enum class Kind { null, boolean, string, number, duration, money, list } kind = Kind::null;
  bool boolean = false;
  std::string string;
  std::int64_t number = 0;  // micro-units
  Millis duration{0};
  bool running = false;     // a timer still counting: the duration can only grow
  std::optional<core::Money> money;
  std::vector<std::string> list;
};

enum class Truth { no, yes, unknown };

// One item prepared for evaluation under a contract.
class ItemContext {
 public:
  ItemContext(const core::Item& item, const rules::ContractVersion& contract, const calendar::Calendar& cal,
              core::Instant as_of);

  [[nodiscard]] const core::Item& item() const { return *item_; }
  [[nodiscard]] const nlohmann::json& payload() const { return payload_; }
  [[nodiscard]] Value field(const std::string& name) const;
  // A problem with the item's payload (reported in the evaluation, never fatal).
  [[nodiscard]] const std::string& problem() const { return problem_; }
  // The timer behind a duration field, when it is one.
  [[nodiscard]] std::optional<TimerResult> timer(const std::string& name) const;
  // When the named timer reaches `target` (already or, still running, if it keeps running).
  [[nodiscard]] std::optional<core::Instant> deadline(const std::string& name, Millis target) const;
  // A ticket's solve instant as of the as-of instant (see engine::solve_instant); empty for other
  // kinds and for tickets not solved then.
  [[nodiscard]] std::optional<core::Instant> solved_at() const;

 private:
  const core::Item* item_;
  const rules::ContractVersion* contract_;
  const calendar::Calendar* cal_;
  core::Instant as_of_;
  nlohmann::json payload_;
  std::optional<TicketTimeline> timeline_;
  std::string problem_;
  [[nodiscard]] std::optional<TimerResult> run_timer(const std::string& name, std::optional<Millis> target) const;
  mutable std::map<std::string, std::optional<TimerResult>> timers_;
};

[[nodiscard]] Truth evaluate(const rules::Expr& e, const ItemContext& item);

// The truth of a condition if every running timer keeps running until `at` (the truth as of the
// as-of instant without one). A comparison of a running timer with a duration that its elapsed
// time has not decided yet flips at the instant the timer reaches the duration; `flips` collects
// those instants.
[[nodiscard]] Truth evaluate_at(const rules::Expr& e, const ItemContext& item, std::optional<core::Instant> at,
                                std::vector<core::Instant>* flips);

// For a condition undecided as of the as-of instant: the earliest instant at which it becomes
// false if every running timer keeps running (docs/evaluation.md, "breach_at"). Empty when no
// running timer can make it false (a paused timer, a missing value, or timers that can only make
// it true).
[[nodiscard]] std::optional<core::Instant> breach_instant(const rules::Expr& e, const ItemContext& item);

// -1, 0 or 1 as a is less than, equal to or greater than b.
template <typename T>
[[nodiscard]] int three_way(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}
// Whether a three-way comparison result satisfies an operator.
[[nodiscard]] bool holds(int cmp, rules::CompareOp op);

// A measured value as the measure's type reads it (docs/evaluation.md, "Typing of measured
// values"): a number or a decimal string for numbers, money in `currency`, a duration for
// durations; anything else is missing (null).
[[nodiscard]] Value typed_for_measure(Value v, rules::ValueType measured, const std::optional<core::Currency>& currency);

// Parses a decimal ("12.5", "-3") into micro-units.
[[nodiscard]] std::optional<std::int64_t> parse_number(std::string_view s);
[[nodiscard]] std::string format_number(std::int64_t micro);
// A contract literal number (an exact ratio) in micro-units, rounded half-even.
[[nodiscard]] std::int64_t to_micro(const core::Ratio& r);

}  // namespace pactwatch::engine
