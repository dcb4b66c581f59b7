// The work queue: evaluation intents, queued evaluations and the work log.
#include "pactwatch/store/work_queue.h"

#include <soci/soci.h>

#include <algorithm>
#include <tuple>

#include "pactwatch/core/item.h"
#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

// --- evaluation intents ----------------------------------------------------------------------

std::vector<EvaluationIntent> evaluation_intents_of(std::span<const Item> changed, std::span<const Item> previous) {
  std::vector<EvaluationIntent> out;
  auto add = [&](const Item& item) {
    if (!item.partner_id) return;
    using Grain = std::chrono::duration<std::int64_t, std::ratio<kIntentGrain.count() * 60>>;
    for (const auto& t : core::counting_instants(item)) out.push_back({*item.partner_id, std::chrono::floor<Grain>(t), 0});
  };
  for (const auto& i : changed) add(i);
  for (const auto& i : previous) add(i);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return std::tie(a.partner, a.at) < std::tie(b.partner, b.at); });
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.partner == b.partner && a.at == b.at; }),
            out.end());
  return out;
}

void record_intents_in(Transaction& tx, std::span<const EvaluationIntent> intents, core::Instant now) {
  soci::session& sql = tx.sql();
  const long long recorded = core::to_unix_ms(now);
  for (const auto& i : intents) {
    std::string partner = i.partner;
    long long at = core::to_unix_ms(i.at);
    sql << "INSERT INTO evaluation_intents (partner, at, generation, recorded_at) VALUES (:p, :a, 1, :r) "
           "ON CONFLICT (partner, at) DO UPDATE SET generation = evaluation_intents.generation + 1",
        soci::use(partner), soci::use(at), soci::use(recorded);
  }
}

void enqueue_in(Transaction& tx, std::span<const QueuedEvaluation> requests, core::Instant now) {
  soci::session& sql = tx.sql();
  for (const auto& q : requests) {
    std::string contract = q.contract, partner = q.partner;
    int version = q.version, shard = q.shard;
    long long start = core::to_unix_ms(q.period_start), at = core::to_unix_ms(now);
    sql << "INSERT INTO evaluation_queue (contract, version, period_start, shard, partner, generation, requested_at) "
           "VALUES (:c, :v, :s, :sh, :p, 1, :a) ON CONFLICT (contract, version, period_start) DO UPDATE SET "
           "generation = evaluation_queue.generation + 1, requested_at = excluded.requested_at",
        soci::use(contract), soci::use(version), soci::use(start), soci::use(shard), soci::use(partner), soci::use(at);
  }
}

void WorkQueue::enqueue(std::span<const QueuedEvaluation> requests, core::Instant now) {
  if (requests.empty()) return;
  db_.wrap("evaluation request", [&] {
    Transaction tx(db_, Durability::full);
    enqueue_in(tx, requests, now);
    tx.commit();
    return 0;
  });
}

std::vector<EvaluationIntent> WorkQueue::intents(std::size_t limit) {
  return db_.wrap("evaluation intents", [&] {
    Lease l(db_);
    EvaluationIntent i;
    long long at = 0, generation = 0;
    soci::statement st = (l.sql().prepare << "SELECT partner, at, generation FROM evaluation_intents ORDER BY recorded_at, partner, at LIMIT " +
                                                 std::to_string(limit),
                          soci::into(i.partner), soci::into(at), soci::into(generation));
    st.execute();
    std::vector<EvaluationIntent> out;
    while (st.fetch()) {
      i.at = core::from_unix_ms(at);
      i.generation = generation;
      out.push_back(i);
    }
    return out;
  });
}

void WorkQueue::queue_intents(std::span<const QueuedEvaluation> requests, std::span<const EvaluationIntent> worked_off, core::Instant now) {
  if (requests.empty() && worked_off.empty()) return;
  db_.wrap("evaluation intents", [&] {
    Transaction tx(db_, Durability::full);
    enqueue_in(tx, requests, now);
    for (const auto& i : worked_off) {
      std::string partner = i.partner;
      long long at = core::to_unix_ms(i.at), generation = i.generation;
      tx.sql() << "DELETE FROM evaluation_intents WHERE partner = :p AND at = :a AND generation = :g", soci::use(partner),
          soci::use(at), soci::use(generation);
    }
    tx.commit();
    return 0;
  });
}

std::vector<QueuedEvaluation> WorkQueue::waiting(std::span<const int> shards, std::size_t limit) {
  if (shards.empty()) return {};
  return db_.wrap("evaluation queue", [&] {
    std::string in;
    for (int sh : shards) in += (in.empty() ? "" : ", ") + std::to_string(sh);  // integers only
    Lease l(db_);
    QueuedEvaluation q;
    long long start = 0, generation = 0, at = 0;
    soci::statement st = (l.sql().prepare << std::string(kQueueColumns) + "WHERE shard IN (" + in +
                                             ") ORDER BY requested_at, contract, version, period_start LIMIT " + std::to_string(limit),
                          soci::into(q.contract), soci::into(q.version), soci::into(start), soci::into(q.shard),
                          soci::into(q.partner), soci::into(generation), soci::into(at));
    st.execute();
    std::vector<QueuedEvaluation> out;
    while (st.fetch()) {
      q.period_start = core::from_unix_ms(start);
      q.generation = generation;
      q.requested_at = core::from_unix_ms(at);
      out.push_back(q);
    }
    return out;
  });
}

std::vector<WorkEntry> WorkQueue::work_log(const std::optional<std::string>& lease) {
  return db_.wrap("work log", [&] {
    Lease l(db_);
    std::string name = lease.value_or("");
    WorkEntry w;
    long long fence = 0, started = 0, finished = 0, periods = 0;
    // Every lease when none is given ('' is no lease's name).
    soci::statement st = (l.sql().prepare << "SELECT lease, holder, fence, started_at, finished_at, periods FROM work_log "
                                             "WHERE lease = :l OR :a = '' ORDER BY seq",
                          soci::use(name, "l"), soci::use(name, "a"), soci::into(w.lease), soci::into(w.holder),
                          soci::into(fence), soci::into(started), soci::into(finished), soci::into(periods));
    st.execute();
    std::vector<WorkEntry> out;
    while (st.fetch()) {
      w.fence = fence;
      w.started_at = core::from_unix_ms(started);
      w.finished_at = core::from_unix_ms(finished);
      w.periods = periods;
      out.push_back(w);
    }
    return out;
  });
}

}  // namespace pactwatch::store
