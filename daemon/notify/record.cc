#include <spdlog/spdlog.h>

#include "pactwatch/notify/stages.h"

namespace pactwatch::notify {

DeliveryCounters::DeliveryCounters(core::MetricsRegistry& registry)
    : by_channel_(registry.integers({"pactwatch_notify_deliveries_total", core::MetricType::counter,
                                     "Notification delivery outcomes by channel.", {"channel", "outcome"}})) {}

void DeliveryCounters::count(const std::string& channel, std::string_view outcome) {
  by_channel_.with({channel, std::string(outcome)}).add();
}

std::int64_t DeliveryCounters::get(const std::string& channel, std::string_view outcome) const {
  return by_channel_.value({channel, std::string(outcome)});
}

std::string DeliveryCounters::prometheus() const {
  std::string out;
  by_channel_.render(out);
  return out;
}

Recorded record(store::Store& store, DeliveryCounters& counters, const std::string& channel, store::Delivery& d, const Attempt& a,
                core::Instant now) {
  if (a.outcome == Outcome::abandoned) return Recorded::untouched;
  ++d.attempts;
  Recorded result = Recorded::dead;
  switch (a.outcome) {
    case Outcome::delivered:
      d.status = "delivered";
      d.delivered_at = now;
      d.last_error.clear();
      counters.count(channel, "delivered");
      result = Recorded::delivered;
      break;
    case Outcome::transient:
      d.last_error = a.error;
      if (const auto next = next_attempt(d.attempts, now, a.retry_after)) {
        d.next_attempt_at = *next;
        counters.count(channel, "retried");
        result = Recorded::retried;
      } else {
        d.status = "dead";
        spdlog::error("notify channel {}: event {} dead after {} attempts: {}", channel, d.event_id, d.attempts, d.last_error);
        counters.count(channel, "dead");
      }
      break;
    case Outcome::permanent:
      d.status = "dead";
      d.last_error = a.error;
      spdlog::error("notify channel {}: event {} refused: {}", channel, d.event_id, d.last_error);
      counters.count(channel, "dead");
      break;
    case Outcome::refused:
      d.status = "dead";
      d.last_error = a.error;
      counters.count(channel, "dead");
      break;
    case Outcome::gone:
      d.status = "dead";
      d.last_error = a.error;
      spdlog::error("notify channel {}: {}", channel, d.last_error);
      counters.count(channel, "gone");
      break;
    case Outcome::abandoned: break;
  }
  store.outbox().update_delivery(d);
  return result;
}

Recorded record_skipped(store::Store& store, store::Delivery& d, std::string why) {
  d.status = "skipped";
  if (!why.empty()) d.last_error = std::move(why);
  store.outbox().update_delivery(d);
  return Recorded::skipped;
}

Recorded record_waiting(store::Store& store, store::Delivery& d, core::Instant until) {
  d.next_attempt_at = until;
  store.outbox().update_delivery(d);
  return Recorded::waiting;
}

}  // namespace pactwatch::notify
