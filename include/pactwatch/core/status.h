// The status of a KPI, brand standard or obligation in an evaluation, and the weighted score built
// from KPI statuses (docs/evaluation.md, "Statuses" and "Score"). The engine writes these, and
// compensation and the API read them back: one set of names and one score rule for all.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "pactwatch/core/money.h"

namespace pactwatch::core {

enum class RuleStatus { met, warning, at_risk, breached, insufficient_data };

[[nodiscard]] std::string_view to_string(RuleStatus s);
// The status a document names; empty for a name that is not one.
[[nodiscard]] std::optional<RuleStatus> parse_rule_status(std::string_view s);
// Whether a status counts as met in the weighted score (`warning` and `at_risk` do).
[[nodiscard]] bool counts_as_met(RuleStatus s);

struct WeightedStatus {
  Ratio weight;
  RuleStatus status = RuleStatus::breached;
};

// The weighted score: the weight of the KPIs that count as met over the weight of the KPIs with
// enough data, reduced. Empty when no weight counts (every weighted KPI has insufficient data).
[[nodiscard]] std::optional<Ratio> weighted_score(std::span<const WeightedStatus> kpis);

}  // namespace pactwatch::core
