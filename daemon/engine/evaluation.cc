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

std::optional<PlotTarget> plotted_target(const rules::Kpi& kpi) {
  const auto& t = kpi.objective.target;
  PlotTarget out;
  switch (t.op) {
    case rules::CompareOp::ge:
    case rules::CompareOp::gt: out.at_least = true; break;
    case rules::CompareOp::le:
    case rules::CompareOp::lt: out.at_least = false; break;
    default: return std::nullopt;
  }
  if (const auto* r = std::get_if<core::Ratio>(&t.value)) {
    out.value = static_cast<double>(r->numerator) / static_cast<double>(r->denominator);
    // A ratio measure plots percentages; so does any target written as one.
    if (kpi.measure.kind == rules::MeasureKind::ratio || t.percent) out.value *= 100.0;
  } else if (const auto* d = std::get_if<core::Duration>(&t.value)) {
    out.value = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(*d).count()) / 1000.0;
  } else if (const auto* m = std::get_if<core::Money>(&t.value)) {
    double units = static_cast<double>(m->minor_units());
    for (int i = 0; i < m->currency().exponent(); ++i) units /= 10.0;
    out.value = units;
  } else {
    return std::nullopt;
  }
  return out;
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
