#include "pactwatch/core/status.h"

#include <array>
#include <numeric>
#include <utility>

namespace pactwatch::core {

namespace {

constexpr std::array<std::pair<RuleStatus, std::string_view>, 5> kNames{{
    {RuleStatus::met, "met"},
    {RuleStatus::warning, "warning"},
    {RuleStatus::at_risk, "at_risk"},
    {RuleStatus::breached, "breached"},
    {RuleStatus::insufficient_data, "insufficient_data"},
}};

Int128 gcd(Int128 a, Int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) a = std::exchange(b, a % b);
  return a;
}

}  // namespace

std::string_view to_string(RuleStatus s) {
  for (const auto& [status, name] : kNames) {
    if (status == s) return name;
  }
  return "breached";
}

std::optional<RuleStatus> parse_rule_status(std::string_view s) {
  for (const auto& [status, name] : kNames) {
    if (name == s) return status;
  }
  return std::nullopt;
}

bool counts_as_met(RuleStatus s) {
  return s == RuleStatus::met || s == RuleStatus::warning || s == RuleStatus::at_risk;
}

std::optional<Ratio> weighted_score(std::span<const WeightedStatus> kpis) {
  // Weights over one common denominator, so the sums are exact integers.
  std::int64_t den = 1;
  for (const auto& k : kpis) den = std::lcm(den, k.weight.denominator);
  Int128 met = 0;
  Int128 counted = 0;
  for (const auto& k : kpis) {
    if (k.status == RuleStatus::insufficient_data) continue;
    const Int128 w = static_cast<Int128>(k.weight.numerator) * (den / k.weight.denominator);
    counted += w;
    if (counts_as_met(k.status)) met += w;
  }
  if (counted == 0) return std::nullopt;
  const Int128 g = gcd(met, counted);
  const Int128 d = g == 0 ? 1 : g;
  return Ratio{static_cast<std::int64_t>(met / d), static_cast<std::int64_t>(counted / d)};
}

}  // namespace pactwatch::core
