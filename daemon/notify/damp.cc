#include "pactwatch/notify/stages.h"

namespace pactwatch::notify {

Damping damp(const store::OutboxEvent& event, std::chrono::seconds recovery_hold, core::Instant now, store::Store& store) {
  if (event.type != "kpi.recovered" || recovery_hold <= std::chrono::seconds(0)) return {};
  const auto held_at = event.created_at + recovery_hold;
  if (now < held_at) return {Damping::Verdict::wait, held_at, {}};
  const auto current = store.evaluations().rule_status(event.contract, event.version, event.period, event.subject);
  if (!current || (*current != "met" && *current != "warning")) {
    return {Damping::Verdict::drop, {}, "did not hold for the recovery hold (now " + current.value_or("unknown") + ")"};
  }
  return {};
}

}  // namespace pactwatch::notify
