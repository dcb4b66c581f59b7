// The disputes repository: a partner's disputes of its numbers (core/dispute.h) and every act on
// them, append-only (the schema's triggers refuse every change), each written with its audit
// entry and the notifications it causes in one transaction.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/dispute.h"
#include "pactwatch/store/audit.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/outbox.h"
#include "pactwatch/store/work_queue.h"

namespace pactwatch::store {

// A dispute or a correction. A correction's subject names the partner, the contract version and
// the period its window begins in; its rules and window are its own fields.
struct Dispute {
  std::int64_t id = 0;  // assigned by the store
  core::DisputeKind kind = core::DisputeKind::dispute;
  core::DisputeSubject subject;
  core::DisputeCategory category = core::DisputeCategory::other;
  core::Instant opened_at{};
  std::vector<std::string> rules;  // a correction's rules (a dispute's is subject.rule)
  std::optional<core::Instant> window_from;  // a correction's window of creation instants
  std::optional<core::Instant> window_until;
  friend bool operator==(const Dispute&, const Dispute&) = default;
};

// An accepted dispute or correction, with the instant it was accepted.
struct AcceptedDispute {
  Dispute dispute;
  core::Instant accepted_at{};
};

class Disputes {
 public:
  explicit Disputes(Database& db) : db_(db) {}
  // The notifications stored acts cause, written in the same transaction.
  using Events = std::function<std::vector<OutboxEvent>(const Dispute&, std::span<const core::DisputeAction> stored)>;

  // Opens a dispute with its acts (the partner's `open`, and the brand's `accept` when the
  // contract accepts its category in advance), each checked by the lifecycle in turn; their
  // `dispute` field is set here. Refused, with nothing stored, when a dispute of the same subject
  // is open or accepted already (one at a time; a rejected or withdrawn one may be raised again).
  // Returns the dispute (its id set) and the acts as stored.
  // `on_accept`: the evaluation intents (work_queue.h) recorded in the same transaction when an
  // acceptance is among the acts, so that the evaluations it changes run again.
  std::expected<std::pair<Dispute, std::vector<core::DisputeAction>>, std::string> open(
      Dispute dispute, std::vector<core::DisputeAction> acts, const AuditEntry& audit, const Events& events = nullptr,
      std::span<const EvaluationIntent> on_accept = {});
  // Records an act on an existing dispute after the lifecycle's check on the acts read inside the
  // transaction (writers are serialized, so two racing resolutions cannot both pass).
  std::expected<core::DisputeAction, std::string> record(core::DisputeAction act, const AuditEntry& audit,
                                                        const Events& events = nullptr,
                                                        std::span<const EvaluationIntent> on_accept = {});

  [[nodiscard]] std::optional<Dispute> get(std::int64_t id);
  // Every act on one dispute, in the order recorded.
  [[nodiscard]] std::vector<core::DisputeAction> acts_of(std::int64_t id);
  // The disputes of one partner (every partner's when empty), by id.
  [[nodiscard]] std::vector<Dispute> list(const std::string& partner = {});
  // The accepted disputes of one contract version and period: the exclusions its evaluation makes.
  [[nodiscard]] std::vector<Dispute> accepted(const std::string& contract, int version, const std::string& period);
  // Every accepted dispute and correction (of one contract, or all), with when each was accepted,
  // by id: one query, what an evaluation run reads its exclusions from.
  [[nodiscard]] std::vector<AcceptedDispute> accepted_all(const std::string& contract = {});
  // Every open dispute and correction (of one partner, or all), by id: one query.
  [[nodiscard]] std::vector<Dispute> open_all(const std::string& partner = {});

 private:
  Database& db_;
};

}  // namespace pactwatch::store
