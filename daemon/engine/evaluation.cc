#include "pactwatch/engine/evaluation.h"

namespace pactwatch::engine {

std::optional<core::Ratio> KpiResult::share() const {
  if (!is_ratio() || denominator <= 0) return std::nullopt;
  return core::Ratio{numerator, denominator};
}

std::optional<double> KpiResult::plotted() const {
  if (const auto s = share()) return static_cast<double>(core::percent_hundredths(*s)) / 100.0;
  if (!value) return std::nullopt;
  switch (value->kind) {
    case Value::Kind::duration: return static_cast<double>(value->duration.count()) / 1000.0;
    case Value::Kind::number: return static_cast<double>(value->number) / static_cast<double>(kNumberScale);
    case Value::Kind::money: {
      double units = static_cast<double>(value->money->minor_units());
      for (int i = 0; i < value->money->currency().exponent(); ++i) units /= 10.0;
      return units;
    }
    default: return std::nullopt;
  }
}

bool Evaluation::scored() const {
  for (const auto& k : kpis) {
    if (k.weight) return true;
  }
  return false;
}

std::optional<core::Ratio> Evaluation::score() const {
  std::vector<core::WeightedStatus> weighted;
  for (const auto& k : kpis) {
    if (k.weight) weighted.push_back({*k.weight, k.status});
  }
  if (weighted.empty()) return std::nullopt;
  return core::weighted_score(weighted);
}

}  // namespace pactwatch::engine
