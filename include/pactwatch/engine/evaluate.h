// The evaluation engine: one contract version, its calendar, the partner's items and an as-of
// instant in; every KPI, brand standard and obligation of one period out, with the evidence behind
// each number. A pure function: no clock, no I/O, the same inputs give byte-identical JSON.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/rules/contract.h"
#include "pactwatch/store/store.h"

namespace pactwatch::engine {

inline constexpr std::string_view kEngineVersion = "1";

// A period of a contract: [start, end) in UTC, with the label people use ("2026-10", "2026-Q4",
// or the rolling window's end date).
struct PeriodWindow {
  std::string label;
  core::Instant start{};
  core::Instant end{};
};

// The calendar period containing `at`, aligned in the contract calendar's time zone (months and
// quarters start at local midnight); a rolling period is the window ending at `at`.
[[nodiscard]] std::expected<PeriodWindow, std::string> period_containing(const rules::ContractVersion& c,
                                                                         const calendar::Calendar& cal, core::Instant at);
// "2026-10" (month) or "2026-Q4" (quarter) for a calendar-aligned contract; a month label gives
// a quarterly contract the quarter containing that month.
[[nodiscard]] std::expected<PeriodWindow, std::string> period_by_label(const rules::ContractVersion& c,
                                                                       const calendar::Calendar& cal,
                                                                       std::string_view label);

// Evaluates a contract over the items of its partner (items of other partners are ignored).
// Returns the evaluation document (see docs/evaluation.md for every field).
[[nodiscard]] nlohmann::json evaluate_contract(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                                               std::span<const store::Item> items, const PeriodWindow& period,
                                               core::Instant as_of);

// 95% Wilson score interval for k successes out of n, as [low, high] in [0, 1].
[[nodiscard]] std::pair<double, double> wilson_interval(std::int64_t k, std::int64_t n);

}  // namespace pactwatch::engine
