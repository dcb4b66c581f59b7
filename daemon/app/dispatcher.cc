#include "pactwatch/app/dispatcher.h"

#include <spdlog/spdlog.h>

#include "pactwatch/notify/channel.h"

namespace pactwatch::app {

void DispatchStats::add(notify::Recorded r) {
  switch (r) {
    case notify::Recorded::delivered: ++delivered; break;
    case notify::Recorded::retried: ++retried; break;
    case notify::Recorded::dead: ++dead; break;
    case notify::Recorded::skipped: ++skipped; break;
    case notify::Recorded::waiting:
    case notify::Recorded::untouched: break;
  }
}

Dispatcher::Dispatcher(const config::Config& config, store::Store& store, const core::Clock& clock, RulesSnapshot rules,
                       const std::atomic<bool>* abort, notify::DeliveryCounters* counters)
    : config_(config),
      store_(store),
      clock_(clock),
      rules_(std::move(rules)),
      abort_(abort),
      own_registry_(counters ? nullptr : std::make_unique<core::MetricsRegistry>()),
      own_counters_(counters ? nullptr : std::make_unique<notify::DeliveryCounters>(*own_registry_)),
      counters_(counters ? *counters : *own_counters_) {
  for (const auto& c : config_.channels) {
    if (c.secret.empty()) continue;
    auto s = config::read_secret(c.secret, "notify.channels." + c.name);
    if (!s) spdlog::error("{}; channel {} cannot sign, its deliveries wait", s.error(), c.name);
    else secrets_[c.name] = *s;
  }
}

DispatchStats Dispatcher::run_once(const std::function<bool()>& may_continue) {
  DispatchStats stats;
  for (const auto& ch : config_.channels) {
    if (disabled_.contains(ch.name)) continue;
    const auto secret = secrets_.contains(ch.name) ? std::optional(secrets_.at(ch.name)) : std::nullopt;
    // A fresh channel (and connection) each round; none for a webhook without its key.
    const auto channel = notify::make_channel(ch, secret, abort_);
    if (!channel) continue;
    const core::Instant since = ch.since.empty() ? core::Instant{} : *core::parse_rfc3339(ch.since);
    std::vector<store::Delivery> due;
    try {
      due = store_.outbox().due(ch.name, clock_.now(), since);
    } catch (const store::StoreError& e) {
      spdlog::error("outbox: {}", e.what());
      return stats;
    }
    for (auto& d : due) {
      if (may_continue && !may_continue()) return stats;
      const auto event = store_.outbox().event(d.event_id);
      if (!event) continue;
      const auto rules = rules_ ? rules_() : nullptr;
      const auto route = notify::route(ch, *event, rules.get());
      if (!route.send) {
        stats.add(notify::record_skipped(store_, d));
        continue;
      }
      const auto now = clock_.now();
      const auto damping = notify::damp(*event, std::chrono::seconds(config_.recovery_hold_s), now, store_);
      if (damping.verdict == notify::Damping::Verdict::wait) {
        stats.add(notify::record_waiting(store_, d, damping.until));
        continue;
      }
      if (damping.verdict == notify::Damping::Verdict::drop) {
        stats.add(notify::record_skipped(store_, d, damping.reason));
        continue;
      }
      const auto attempt = channel->deliver(*event, route.recipients, now);
      if (attempt.outcome == notify::Outcome::abandoned) return stats;  // a stop: still pending, as it was
      stats.add(notify::record(store_, counters_, ch.name, d, attempt, now));
      if (attempt.outcome == notify::Outcome::gone) {
        disabled_.insert(ch.name);  // stop calling it until the config changes (a reload)
        break;
      }
    }
  }
  return stats;
}

}  // namespace pactwatch::app
