// Delivers outbox events to the configured channels, at least once, each with its stable id
// (docs/notifications.md). The pipeline's stages and channels live in notify (route, damp,
// deliver, record); the dispatcher is the loop that drives them, one round per tick: per channel,
// the deliveries due now, each through the stages.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/notify/stages.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

struct DispatchStats {
  int delivered = 0;
  int retried = 0;
  int dead = 0;
  int skipped = 0;  // not for this channel (its event filter), or a recovery that did not hold
  void add(notify::Recorded r);
};

class Dispatcher {
 public:
  using RulesSnapshot = std::function<std::shared_ptr<const rules::RuleSet>()>;
  // With rules, events are routed by their contract's `notify` block (notify::route).
  // With `abort`, a delivery in flight is abandoned (and stays pending) when it turns true.
  // Outcomes are counted in `counters` (the daemon's /metrics); without, in counters of its own.
  Dispatcher(const config::Config& config, store::Store& store, const core::Clock& clock, RulesSnapshot rules = {},
             const std::atomic<bool>* abort = nullptr, notify::DeliveryCounters* counters = nullptr);
  // Delivers everything due now; never throws for a receiver's trouble (that is retried).
  // `may_continue`, when given, is asked before each delivery (the caller's lease is renewed
  // there); when it says no, the round ends and what is left stays pending.
  DispatchStats run_once(const std::function<bool()>& may_continue = {});

 private:
  const config::Config& config_;
  store::Store& store_;
  const core::Clock& clock_;
  RulesSnapshot rules_;
  const std::atomic<bool>* abort_;
  std::unique_ptr<core::MetricsRegistry> own_registry_;  // without counters passed in
  std::unique_ptr<notify::DeliveryCounters> own_counters_;
  notify::DeliveryCounters& counters_;
  std::map<std::string, std::string> secrets_;  // channel -> signing key or SMTP password
  std::set<std::string> disabled_;              // channels that answered 410 Gone
};

}  // namespace pactwatch::app
