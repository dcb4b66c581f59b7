// The acts of both parties on contract versions (core/agreement.h), append-only, each recorded
// with its audit entry.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/agreement.h"
#include "pactwatch/store/audit.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/outbox.h"

namespace pactwatch::store {

class Agreements {
 public:
  explicit Agreements(Database& db) : db_(db) {}
  // Decides, from every act recorded so far on the act's contract (all versions, by seq), whether
  // the act may be recorded: an error says why not.
  using Check = std::function<std::expected<void, std::string>(std::span<const core::ContractAction> recorded)>;
  // Records the act and its audit entry in one durable transaction, after `check` has passed on
  // the acts read inside that transaction (writers on one database are serialized, so two racing
  // approvals cannot both pass). Returns the act as stored (its seq set), or check's refusal with
  // nothing stored.
  // The notification events the stored acts cause (`before`: the acts recorded before them), stored
  // in the same transaction, so an act is never recorded without its notification or the reverse.
  using Events = std::function<std::vector<OutboxEvent>(std::span<const core::ContractAction> before,
                                                        std::span<const core::ContractAction> stored)>;
  std::expected<core::ContractAction, std::string> record(const core::ContractAction& act, const AuditEntry& audit,
                                                          const Check& check, const Events& events = nullptr);
  // Decides, from every act recorded so far on `contract`, which acts to record (a migration's
  // propose and approvals depend on what is there): they are stored together with one audit
  // entry, or none of them with the plan's refusal. Nothing to record stores no audit entry.
  using Plan = std::function<std::expected<std::vector<core::ContractAction>, std::string>(
      std::span<const core::ContractAction> recorded)>;
  std::expected<std::vector<core::ContractAction>, std::string> record_planned(const std::string& contract,
                                                                               const AuditEntry& audit, const Plan& plan,
                                                                               const Events& events = nullptr);
  // Every act on every contract, in the order recorded (what enforcement is computed from).
  [[nodiscard]] std::vector<core::ContractAction> all();
  // The seq of the last act recorded (0 when none): serve re-applies the recorded approvals when
  // it moves.
  [[nodiscard]] std::int64_t last_seq();
  // Every act on a contract (all versions), in the order recorded.
  [[nodiscard]] std::vector<core::ContractAction> of(const std::string& contract);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
