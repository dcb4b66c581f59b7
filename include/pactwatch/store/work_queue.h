// The cluster's evaluation work: the intents stored pages record, the queue of requests each
// shard's owner works off, and the work log (docs/scaling.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"
#include "pactwatch/store/database.h"
#include "pactwatch/store/items.h"

namespace pactwatch::store {

// What a stored page touched: a partner, and an instant at which one of the page's changed items
// counts in a period (core::counting_instants), in its new or its replaced version. Recorded in
// the page's own transaction (PageWrite::intents), so the evaluation a page calls for is as
// durable as the page: whichever instance runs the evaluation queue next asks the partner's owner
// for every period the intents fall in, however old.
struct EvaluationIntent {
  std::string partner;
  core::Instant at{};  // floored to kIntentGrain: many items, few intents
  std::int64_t generation = 0;  // counts up when touched again before it is worked off
  friend bool operator==(const EvaluationIntent&, const EvaluationIntent&) = default;
};
// Intents are kept to the quarter hour: every period boundary (a local midnight in any time zone
// of today) is a whole multiple of it in UTC, so an instant and its quarter hour fall in the same
// period; a large file then records at most one intent per partner and quarter hour.
inline constexpr std::chrono::minutes kIntentGrain{15};

// The intents of a set of changes: each changed item's partner and each replaced version's
// partner, at each of their counting instants (core::counting_instants); without repeats.
[[nodiscard]] std::vector<EvaluationIntent> evaluation_intents_of(std::span<const Item> changed,
                                                                  std::span<const Item> previous);

// A request to evaluate one period of a contract version, left for the instance that owns the
// partner's shard (see docs/scaling.md).
struct QueuedEvaluation {
  std::string contract;
  int version = 0;
  core::Instant period_start{};
  int shard = 0;
  std::string partner;
  std::int64_t generation = 0;  // counts up each time the request is made again before it is done
  core::Instant requested_at{};
  friend bool operator==(const QueuedEvaluation&, const QueuedEvaluation&) = default;
};

// Evaluation work stored under a lease: who, under which fence, from when to when.
struct WorkEntry {
  std::string lease;
  std::string holder;
  std::int64_t fence = 0;
  core::Instant started_at{};
  core::Instant finished_at{};
  std::int64_t periods = 0;
};

class WorkQueue {
 public:
  explicit WorkQueue(Database& db) : db_(db) {}
  // Asks the owner of each request's shard to evaluate that period (a request already waiting
  // counts up its generation).
  void enqueue(std::span<const QueuedEvaluation> requests, core::Instant now);
  // Waiting requests of the given shards, oldest first.
  [[nodiscard]] std::vector<QueuedEvaluation> waiting(std::span<const int> shards, std::size_t limit = 1000);
  // The intents stored pages recorded and nobody has worked off yet, oldest first.
  [[nodiscard]] std::vector<EvaluationIntent> intents(std::size_t limit = 5000);
  // In one transaction: asks for the evaluations the intents come to, and deletes the intents
  // (each only when its generation is still the one read: one touched again meanwhile stays).
  void queue_intents(std::span<const QueuedEvaluation> requests, std::span<const EvaluationIntent> worked_off, core::Instant now);
  // The work log, oldest first (of one lease when given).
  [[nodiscard]] std::vector<WorkEntry> work_log(const std::optional<std::string>& lease = std::nullopt);

 private:
  Database& db_;
};

}  // namespace pactwatch::store
