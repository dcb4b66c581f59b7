// Stored evaluations: the latest document of each contract version and period, its rules'
// statuses, and the history of their changes (which write the outbox's events).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/leases.h"
#include "pactwatch/store/work_queue.h"

namespace pactwatch::store {

// A rule's status in an evaluation ("kpi:p1_first_reply", "standard:reopen_loops",
// "obligation:escalation_ack").
struct RuleStatus {
  RuleStatus(std::string r, std::string s, std::string v = "null", std::string t = "")
      : rule(std::move(r)), status(std::move(s)), value(std::move(v)), target(std::move(t)) {}
  std::string rule;
  std::string status;
  std::string value;   // the rule's value as JSON text ("\"93.50%\"", a duration object), for events
  std::string target;  // its target as written (">= 95.00%")
};

struct EvaluationRecord {
  std::string contract;
  int version = 0;
  std::string period;
  std::string partner;
  core::Instant as_of{};
  std::string input_digest;
  std::string document;  // the evaluation JSON
  std::vector<RuleStatus> statuses;
};

struct StatusChange {
  std::string contract;
  int version = 0;
  std::string period;
  std::string partner;
  std::string rule;
  std::optional<std::string> from;  // empty the first time a rule is evaluated
  std::string to;
  core::Instant at{};
  friend bool operator==(const StatusChange&, const StatusChange&) = default;
};

// What must hold, and what else is written, when evaluations are saved by one owner among
// several instances: the lease still the holder's with the same fence (else LeaseLost, nothing
// stored), the queue requests the results answer (deleted unless asked again meanwhile), and the
// work log entry.
struct SaveContext {
  std::optional<LeaseGuard> guard;
  std::vector<QueuedEvaluation> answered;
  std::optional<WorkEntry> work;
};

class Evaluations {
 public:
  explicit Evaluations(Database& db) : db_(db) {}
  // Stores the latest evaluation of a contract version and period and, in the same durable
  // transaction, a change for every rule whose status differs from the stored one (and the
  // outbox event each change causes). Returns them.
  std::vector<StatusChange> save(const EvaluationRecord& record, core::Instant now);
  // Several at once, in one durable transaction: a run's results and status changes are stored
  // together or not at all.
  std::vector<StatusChange> save_all(std::span<const EvaluationRecord> records, core::Instant now,
                                     const SaveContext* context = nullptr);
  [[nodiscard]] std::optional<std::string> document(const std::string& contract, int version, const std::string& period);
  // The current status of a rule of an evaluation, if it was evaluated.
  [[nodiscard]] std::optional<std::string> rule_status(const std::string& contract, int version, const std::string& period,
                                                       const std::string& rule);
  // Status changes in the order they were recorded (optionally of one contract).
  [[nodiscard]] std::vector<StatusChange> status_changes(const std::optional<std::string>& contract = std::nullopt);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
