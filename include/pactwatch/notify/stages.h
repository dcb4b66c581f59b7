// The notification pipeline's stages around a channel, each a small function over one delivery
// (after Alertmanager's route -> dedup -> retry -> record):
//
//   route   which channels an event goes to, and to whom: the channel's filter, the contract's
//           `notify` block, the partner's contacts;
//   damp    whether it goes now: a recovery waits for its hold and is dropped if it did not hold;
//   deliver Channel::deliver (channel.h), one attempt, classified (outcome.h);
//   record  the outcome written to the delivery in the store, with the retry schedule applied,
//           counted for /metrics and logged.
//
// The loop that drives them, one round per tick, is app's Dispatcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/config/config.h"
#include "pactwatch/core/metrics.h"
#include "pactwatch/core/time.h"
#include "pactwatch/notify/outcome.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::notify {

// --- route

struct Route {
  bool send = false;                    // false: the event is not for this channel (skipped)
  std::vector<std::string> recipients;  // email: the channel's `to`, or the partner's contacts
};

// The channel's own `events` filter, then the contract's `notify` block (with `rules`; none:
// the filter alone): brand channels get the brand's list (every event when the contract names
// none); partner channels get the partner's list, to the partner's contacts, and never anything of
// a contract that is not enforced.
[[nodiscard]] Route route(const config::ChannelConfig& channel, const store::OutboxEvent& event, const rules::RuleSet* rules);

// --- damp

struct Damping {
  enum class Verdict { send, wait, drop } verdict = Verdict::send;
  core::Instant until{};  // wait: when to look again
  std::string reason;     // drop: why, for the delivery's last_error
};

// A recovery is announced only once it has held for `recovery_hold` (0: at once) and the rule is
// still met or warning then; one that flapped back is dropped. Other events pass.
[[nodiscard]] Damping damp(const store::OutboxEvent& event, std::chrono::seconds recovery_hold, core::Instant now, store::Store& store);

// --- record

// Delivery outcomes by channel (pactwatch_notify_deliveries_total), registered on the registry
// the daemon passes in (its /metrics).
class DeliveryCounters {
 public:
  explicit DeliveryCounters(core::MetricsRegistry& registry);
  void count(const std::string& channel, std::string_view outcome);
  [[nodiscard]] std::int64_t get(const std::string& channel, std::string_view outcome) const;
  // This family alone, in Prometheus text.
  [[nodiscard]] std::string prometheus() const;

 private:
  core::Family<std::int64_t>& by_channel_;  // channel, outcome
};

// What became of a delivery, for the round's tally.
enum class Recorded { delivered, retried, dead, skipped, waiting, untouched };

// An attempt's outcome, written to the delivery (one attempt more) and to the store: delivered;
// transient: retried at next_attempt(), or dead once the schedule is used up; permanent, refused,
// gone: dead at once. Counted by channel and outcome, and logged when dead. An abandoned attempt
// writes nothing (untouched).
Recorded record(store::Store& store, DeliveryCounters& counters, const std::string& channel, store::Delivery& delivery,
                const Attempt& attempt, core::Instant now);
// Not for this channel (route), or damped away (`why`, kept as last_error).
Recorded record_skipped(store::Store& store, store::Delivery& delivery, std::string why = {});
// Damped: looked at again at `until`, no attempt counted.
Recorded record_waiting(store::Store& store, store::Delivery& delivery, core::Instant until);

}  // namespace pactwatch::notify
