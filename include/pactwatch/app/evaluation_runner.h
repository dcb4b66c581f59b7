// Runs evaluations against the store: full (every partner, the period containing an instant) or
// incremental (only the partner-periods that changed items can affect), saving each result and its
// status changes. The engine computes; this is where the I/O happens. Not thread-safe: one runner
// per caller.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "pactwatch/core/metrics.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

class Cluster;

struct RunStats {
  std::int64_t evaluations = 0;     // partner-period-contract evaluations computed and saved
  std::int64_t status_changes = 0;  // rule status changes recorded
  std::chrono::microseconds compute{0};  // reading, preparing and evaluating (for metrics)
  std::chrono::microseconds save{0};     // storing the results and status changes
};

// A run abandoned because the daemon is stopping or reloading: nothing of it was stored.
class EvaluationAborted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The evaluations run in this process, registered on the registry the daemon passes in (its
// /metrics): runs, periods and their duration by kind (full, incremental), and the rules by
// status in the last full run.
class EvaluationMetrics {
 public:
  explicit EvaluationMetrics(core::MetricsRegistry& registry);
  // A full run begins: what an abandoned one counted is dropped.
  void start_full() { counting_.clear(); }
  // The rules by status of a full run's batch, as it is stored (a full run stores in batches).
  void count_statuses(std::span<const store::EvaluationRecord> records);
  // A run of `kind`; a full run's counted statuses replace the rules by status.
  void record(const std::string& kind, const RunStats& stats);

 private:
  core::Family<std::int64_t>& runs_;
  core::Family<std::int64_t>& periods_;
  core::Family<double>& seconds_;
  core::Family<std::int64_t>& rules_by_status_;
  std::map<core::LabelValues, std::int64_t> counting_;  // of the full run in progress
};

class EvaluationRunner {
 public:
  // With a cluster, the runner evaluates only partners whose shard this instance owns, stores each
  // shard's results under its lease (a shard lost meanwhile stores nothing) with a work log entry,
  // and leaves the periods of other instances' partners in the evaluation queue for them.
  // With `abort`, a run checks it between contract periods and while reading items, and throws
  // EvaluationAborted once it turns true, so a stop or reload never waits for a long run.
  // With `metrics`, each run is counted there.
  EvaluationRunner(const rules::RuleSet& rules, store::Store& store, const Cluster* cluster = nullptr,
                   const std::atomic<bool>* abort = nullptr, EvaluationMetrics* metrics = nullptr)
      : rules_(rules), store_(store), cluster_(cluster), abort_(abort), metrics_(metrics) {}

  // Every contract version in effect during the period containing `as_of`, for every partner
  // (with a cluster: every partner of the owned shards, or of `shards` when given).
  RunStats run_full(core::Instant as_of, core::Instant now, std::span<const int> shards = {});
  // The periods in which the changed items count (by their creation, solve, close or
  // registration) — in their new versions and in the `previous` versions they replaced — for their
  // partners' contracts; periods starting after `as_of` are skipped.
  RunStats run_incremental(std::span<const store::Item> changed, std::span<const store::Item> previous,
                           core::Instant as_of, core::Instant now);
  // The periods asked of this instance (cluster only), read afresh: first the intents stored
  // pages recorded (evaluation_intents) become requests for the periods they fall in, whichever
  // instance owns the partner; then this instance's shards' requests are evaluated.
  RunStats run_queued(core::Instant as_of, core::Instant now);

  // The memory evaluation may hold (evaluation.memory_budget), in bytes as PeriodState and the
  // documents estimate it. A run works in batches: a batch ends once its prepared periods and
  // documents reach a quarter of the budget (or kMaxBatch periods), is stored in its own
  // transaction (with a cluster, one per shard) and released. Prepared periods are then kept for
  // the next incremental run at the same instant while they fit the budget, the least recently
  // used evicted first; an evicted one is read afresh from the store when next needed. 0 keeps
  // none, and a batch is then the period each worker was computing.
  void set_memory_budget(std::size_t bytes) { budget_ = bytes; }
  // Whether prepared periods are kept after their batch at all (default: yes, within the budget).
  // serve's runner lives for one run, and every run has a new as-of instant that would discard
  // them anyway, so it keeps none: a run then holds one batch at a time.
  void set_keep_prepared(bool keep) { keep_ = keep; }
  [[nodiscard]] std::size_t memory_budget() const { return budget_; }
  // Estimated bytes of the prepared periods kept now, and how many they are.
  [[nodiscard]] std::size_t kept_bytes() const { return kept_bytes_; }
  [[nodiscard]] std::size_t kept_periods() const { return cache_.size(); }

  static constexpr std::size_t kDefaultMemoryBudget = std::size_t{512} << 20;
  static constexpr std::size_t kMaxBatch = 64;

 private:
  struct Job {
    std::string partner;
    const rules::ContractVersion* contract;
    engine::PeriodWindow window;
    std::optional<store::QueuedEvaluation> answers;  // the queue request this job answers
  };
  [[nodiscard]] store::QueuedEvaluation request_for(const Job& job, core::Instant now) const;
  // Saves (in job order) with a cluster: one transaction per shard, under its lease.
  std::int64_t save_by_shard(std::span<const Job> jobs, std::span<store::EvaluationRecord> records, core::Instant now,
                             core::Instant finished, bool requeue_lost);
  using Key = std::tuple<std::string, int, std::string>;  // contract, version, period label
  RunStats run(std::vector<Job> jobs, std::span<const store::Item> changed, std::span<const store::Item> previous,
               core::Instant as_of, core::Instant now, bool requeue_lost = false);
  // Computes jobs [first, ...) on up to two workers until the batch is full; returns its end.
  std::size_t compute_batch(const std::vector<Job>& jobs, std::size_t first, std::span<const store::Item> changed,
                            std::span<const store::Item> previous, core::Instant as_of,
                            const std::vector<store::AcceptedDispute>& accepted, std::vector<store::EvaluationRecord>& records);
  // Records the batch's periods as just used and evicts the least recently used past the budget.
  void keep_within_budget(const std::vector<Job>& jobs, std::size_t first, std::size_t end);
  void forget(const Key& key);
  void forget_all();

  void check_abort() const;
  // The contract periods an item counting at `t` falls in, for the partner's contracts in effect
  // then (a rolling window: the one ending at as_of, when `t` is inside it); none starting after as_of.
  [[nodiscard]] std::vector<std::pair<const rules::ContractVersion*, engine::PeriodWindow>> periods_at(
      const std::string& partner, core::Instant t, core::Instant as_of) const;
  void queue_intents(core::Instant as_of, core::Instant now);

  const rules::RuleSet& rules_;
  store::Store& store_;
  const Cluster* cluster_;
  const std::atomic<bool>* abort_;
  EvaluationMetrics* metrics_;
  // Prepared periods of the last as-of instant: an incremental run at the same instant updates
  // them item by item instead of re-reading the store. A new instant starts afresh (timers of
  // open items depend on it).
  struct Kept {
    std::unique_ptr<engine::PeriodState> state;
    std::size_t bytes = 0;      // as last estimated
    std::size_t accounted = 0;  // what kept_bytes_ counts for it
    std::uint64_t used = 0;    // the tick of its last use
  };
  std::map<Key, Kept> cache_;
  std::set<std::pair<std::uint64_t, Key>> by_use_;  // least recently used first
  std::size_t kept_bytes_ = 0;
  std::uint64_t tick_ = 0;
  std::size_t budget_ = kDefaultMemoryBudget;
  bool keep_ = true;
  std::optional<core::Instant> cache_as_of_;
  bool full_run_ = false;
};

// The stored form of an evaluation: its keys and every rule's status, with the document as given.
[[nodiscard]] store::EvaluationRecord evaluation_record(const engine::Evaluation& evaluation, std::string document);
// The same from a document (read back with engine::evaluation_from_json; a malformed one throws).
[[nodiscard]] store::EvaluationRecord evaluation_record(const nlohmann::json& document);

}  // namespace pactwatch::app
