// The outbox: notification events written in the transactions that cause them, and their
// deliveries to each channel (docs/notifications.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/evaluations.h"

namespace pactwatch::store {

// A notification event in the outbox (see docs/notifications.md for the types).
struct OutboxEvent {
  std::string id;       // stable: the same cause always gives the same id
  std::string type;     // one of core::kRuleEvents or core::kContractEvents (core/events.h)
  std::string partner;
  std::string contract;
  int version = 0;
  std::string period;
  std::string subject;  // the rule ("kpi:p1_first_reply") or "statement"
  core::Instant created_at{};
  std::string payload;  // the event's data, JSON
};

// An event's delivery to one channel.
struct Delivery {
  std::string event_id;
  std::string channel;
  std::string status;  // pending, delivered, dead
  int attempts = 0;
  core::Instant next_attempt_at{};
  std::string last_error;
  std::optional<core::Instant> delivered_at;
};

// The event a status change causes, if any: breached, at_risk and the recovery from either for
// KPIs; breached for brand standards (violated) and for the brand's obligations.
[[nodiscard]] std::optional<OutboxEvent> event_for(const StatusChange& change);

// Where an event's cause can be seen in the API, as (name, path) pairs; paths are relative to the
// API's base URL and answer any token allowed to see the event's partner (docs/notifications.md):
// "evidence" (the rule's evidence in that contract version and period) and "standing" (the
// partner's KPIs in that period) for a rule's status change; "statements" (the partner's
// statements of that period) for a closed statement. A rolling window has no label the API takes:
// its links name the current window. Events carry them in their data; the dispatcher sets them
// afresh on every delivery, so events stored with older links are sent with working ones.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> event_links(const OutboxEvent& event);

class Outbox {
 public:
  explicit Outbox(Database& db) : db_(db) {}
  [[nodiscard]] std::vector<OutboxEvent> events(std::size_t limit = 1000);
  [[nodiscard]] std::optional<OutboxEvent> event(const std::string& id);
  // Events after (created_at, id) in that order, for keyset paging.
  [[nodiscard]] std::vector<OutboxEvent> events_after(core::Instant at, const std::string& id, std::size_t limit);
  // Deliveries due for `channel` at `now`: pending ones whose time has come, after creating a
  // pending delivery for every event the channel has not seen (events created before
  // `channel_since` are not sent to a channel added later).
  [[nodiscard]] std::vector<Delivery> due(const std::string& channel, core::Instant now, core::Instant channel_since,
                                          std::size_t limit = 100);
  void update_delivery(const Delivery& d);
  [[nodiscard]] std::vector<Delivery> deliveries(const std::optional<std::string>& status = std::nullopt);
  // The deliveries of one event, by channel.
  [[nodiscard]] std::vector<Delivery> deliveries_of(const std::string& event_id);
  // Puts dead deliveries of an event (or all of them, with "all") back in the queue; returns how many.
  int retry(const std::string& event_id, core::Instant now);
  // How many deliveries are in each state (for /metrics: the outbox depth is "pending").
  [[nodiscard]] std::map<std::string, std::int64_t> delivery_counts();
  // Reminder events for KPIs and obligations still breached (or at risk) `interval` after their
  // status began, one per whole interval elapsed (ids end in /reminder/N, so each is written once).
  // Returns how many new ones were written.
  int write_reminders(core::Instant now, std::chrono::seconds interval);

 private:
  Database& db_;
  // How far before the newest event already swept into a channel's deliveries the next sweep
  // looks again (see due).
  static constexpr std::chrono::minutes kSweepLookback{10};
  std::mutex sweep_mutex_;
  std::map<std::string, core::Instant> swept_;  // channel -> newest event created_at swept
};

}  // namespace pactwatch::store
