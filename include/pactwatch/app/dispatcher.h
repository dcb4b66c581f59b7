// Delivers outbox events to the configured channels, at least once, each with its stable id:
// webhooks signed per the Standard Webhooks scheme with a CloudEvents 1.0 JSON body, and Slack
// incoming webhooks. Deliveries that can succeed later (timeouts, transport errors, 5xx, 408, 425,
// 429) are retried on a schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h; Retry-After when
// longer), then land in the dead-letter list; any other refusal (400, 401, 403, 404, 422, ...) is
// dead at once, with the receiver's answer; 410 Gone disables the endpoint. URLs to link-local
// and cloud metadata addresses are refused unless allowed.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

struct DispatchStats {
  int delivered = 0;
  int retried = 0;
  int dead = 0;
  int skipped = 0;  // not for this channel (its event filter)
};

class Dispatcher {
 public:
  using RulesSnapshot = std::function<std::shared_ptr<const rules::RuleSet>()>;
  // With rules, events are routed by their contract's `notify` block: brand channels get the
  // brand's list (all events when the contract names none); partner channels (email to the
  // partner's contacts) get the partner's list, and never anything of a draft contract.
  // With `abort`, a delivery in flight is abandoned (and stays pending) when it turns true.
  Dispatcher(const config::Config& config, store::Store& store, const core::Clock& clock, RulesSnapshot rules = {},
             const std::atomic<bool>* abort = nullptr);
  // Delivers everything due now; never throws for a receiver's trouble (that is retried).
  // `may_continue`, when given, is asked before each delivery (the caller's lease is renewed
  // there); when it says no, the round ends and what is left stays pending.
  DispatchStats run_once(const std::function<bool()>& may_continue = {});
  // Counters in Prometheus text format (for /metrics).
  [[nodiscard]] static std::string prometheus();

 private:
  const config::Config& config_;
  store::Store& store_;
  const core::Clock& clock_;
  RulesSnapshot rules_;
  const std::atomic<bool>* abort_;
  std::map<std::string, std::string> secrets_;  // channel -> signing key (raw bytes)
  std::set<std::string> disabled_;              // channels that answered 410 Gone
};

// The Standard Webhooks signature of a message: "v1," + base64(HMAC-SHA256(key, id.timestamp.body)),
// where the key is the base64 part of a "whsec_..." secret.
[[nodiscard]] std::string webhook_signature(const std::string& secret, const std::string& id, std::int64_t timestamp,
                                            const std::string& body);
// The CloudEvents 1.0 JSON form of an outbox event.
[[nodiscard]] std::string cloudevent(const store::OutboxEvent& e);
// Why a URL may not be called ("" when it may): scheme, link-local and metadata hosts.
[[nodiscard]] std::string refuse_url(const std::string& url, bool allow_private);

}  // namespace pactwatch::app
