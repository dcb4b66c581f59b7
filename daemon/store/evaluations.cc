// The store's evaluations, status history, the cluster's evaluation queue, work log and leases.
#include "pactwatch/store/store.h"

#include <soci/soci.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "store_internal.h"

namespace pactwatch::store {

// --- evaluations ---------------------------------------------------------------------------

std::vector<StatusChange> Store::save_evaluation(const EvaluationRecord& r, core::Instant now) {
  return save_evaluations(std::span<const EvaluationRecord>(&r, 1), now);
}

std::vector<StatusChange> Store::save_evaluations(std::span<const EvaluationRecord> records, core::Instant now,
                                                  const SaveContext* context) {
  return wrap("evaluation save", [&] {
    Transaction tx(*this, Durability::full);
    if (context && context->guard) check_lease_in(tx.sql(), *context->guard, "the evaluations were not stored");
    std::vector<StatusChange> changes;
    for (const auto& r : records) save_evaluation_in(tx.sql(), r, now, changes);
    if (context) {
      for (const auto& q : context->answered) {
        // Asked again meanwhile (a newer generation): the request stays for the next round.
        std::string contract = q.contract;
        int version = q.version;
        long long start = core::to_unix_ms(q.period_start), generation = q.generation;
        tx.sql() << "DELETE FROM evaluation_queue WHERE contract = :c AND version = :v AND period_start = :s AND generation = :g",
            soci::use(contract), soci::use(version), soci::use(start), soci::use(generation);
      }
      if (const auto& w = context->work) {
        std::string lease = w->lease, holder = w->holder;
        long long fence = w->fence, started = core::to_unix_ms(w->started_at), finished = core::to_unix_ms(w->finished_at),
                  periods = w->periods, cutoff = core::to_unix_ms(now - std::chrono::days(7));
        tx.sql() << "INSERT INTO work_log (lease, holder, fence, started_at, finished_at, periods) VALUES (:l, :h, :f, :s, :e, :p)",
            soci::use(lease), soci::use(holder), soci::use(fence), soci::use(started), soci::use(finished), soci::use(periods);
        tx.sql() << "DELETE FROM work_log WHERE started_at < :c", soci::use(cutoff);
      }
    }
    tx.commit();
    return changes;
  });
}

void Store::enqueue_in(soci::session& sql, std::span<const QueuedEvaluation> requests, core::Instant now) {
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

void Store::enqueue_evaluations(std::span<const QueuedEvaluation> requests, core::Instant now) {
  if (requests.empty()) return;
  wrap("evaluation request", [&] {
    Transaction tx(*this, Durability::full);
    enqueue_in(tx.sql(), requests, now);
    tx.commit();
    return 0;
  });
}

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

std::vector<EvaluationIntent> Store::evaluation_intents(std::size_t limit) {
  return wrap("evaluation intents", [&] {
    Lease l(*pool_, setup_);
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

void Store::queue_intents(std::span<const QueuedEvaluation> requests, std::span<const EvaluationIntent> worked_off, core::Instant now) {
  if (requests.empty() && worked_off.empty()) return;
  wrap("evaluation intents", [&] {
    Transaction tx(*this, Durability::full);
    enqueue_in(tx.sql(), requests, now);
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

std::vector<QueuedEvaluation> Store::queued_evaluations(std::span<const int> shards, std::size_t limit) {
  if (shards.empty()) return {};
  return wrap("evaluation queue", [&] {
    std::string in;
    for (int sh : shards) in += (in.empty() ? "" : ", ") + std::to_string(sh);  // integers only
    Lease l(*pool_, setup_);
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

std::vector<WorkEntry> Store::work_log(const std::optional<std::string>& lease) {
  return wrap("work log", [&] {
    Lease l(*pool_, setup_);
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

void Store::save_evaluation_in(soci::session& sql, const EvaluationRecord& r, core::Instant now,
                               std::vector<StatusChange>& changes) {
  {
    const long long at = core::to_unix_ms(now);
    const long long as_of = core::to_unix_ms(r.as_of);
    int version = r.version;
    std::string contract = r.contract, period = r.period, partner = r.partner, digest = r.input_digest, doc = r.document;
    sql << "INSERT INTO evaluations (contract, version, period, partner, as_of, evaluated_at, input_digest, document) "
           "VALUES (:c, :v, :p, :pa, :a, :e, :d, :doc) ON CONFLICT (contract, version, period) DO UPDATE SET "
           "partner = excluded.partner, as_of = excluded.as_of, evaluated_at = excluded.evaluated_at, "
           "input_digest = excluded.input_digest, document = excluded.document",
        soci::use(contract), soci::use(version), soci::use(period), soci::use(partner), soci::use(as_of), soci::use(at),
        soci::use(digest), soci::use(doc);
    // The stored statuses of every rule of this evaluation, in one round trip: usually none has
    // changed and nothing more is written.
    std::map<std::string, std::string> stored;
    {
      std::string rule_name, rule_status;
      soci::statement st = (sql.prepare << kRuleStatusesOf, soci::use(contract, "c"), soci::use(version, "v"),
                            soci::use(period, "p"), soci::into(rule_name), soci::into(rule_status));
      st.execute();
      while (st.fetch()) stored[rule_name] = rule_status;
    }
    for (const auto& s : r.statuses) {
      std::string rule = s.rule, status = s.status, previous;
      const auto found = stored.find(rule);
      const bool known = found != stored.end();
      if (known) previous = found->second;
      if (known && previous == status) continue;
      if (known) {
        sql << "UPDATE rule_statuses SET status = :s, since = :a WHERE contract = :c AND version = :v AND period = :p "
               "AND rule = :r",
            soci::use(status), soci::use(at), soci::use(contract), soci::use(version), soci::use(period), soci::use(rule);
      } else {
        sql << "INSERT INTO rule_statuses (contract, version, period, rule, status, since) VALUES (:c, :v, :p, :r, :s, :a)",
            soci::use(contract), soci::use(version), soci::use(period), soci::use(rule), soci::use(status), soci::use(at);
      }
      soci::indicator from_ind = known ? soci::i_ok : soci::i_null;
      sql << "INSERT INTO status_changes (contract, version, period, partner, rule, from_status, to_status, at) "
             "VALUES (:c, :v, :p, :pa, :r, :f, :t, :a)",
          soci::use(contract), soci::use(version), soci::use(period), soci::use(partner), soci::use(rule),
          soci::use(previous, from_ind), soci::use(status), soci::use(at);
      changes.push_back({contract, version, period, partner, rule,
                         known ? std::optional<std::string>(previous) : std::nullopt, status, now});
      if (auto event = event_for(changes.back())) {
        // The numbers behind the change travel with it.
        event->payload.insert(event->payload.size() - 1, ",\"value\":" + (s.value.empty() ? std::string("null") : s.value) +
                                                             ",\"target\":" + json_string(s.target));
        insert_event(sql, *event);  // same transaction as its cause
      }
    }
  }
}

std::optional<std::string> Store::evaluation_document(const std::string& contract, int version, const std::string& period) {
  return wrap("evaluation lookup", [&]() -> std::optional<std::string> {
    Lease l(*pool_, setup_);
    std::string doc;
    l.sql() << "SELECT document FROM evaluations WHERE contract = :c AND version = :v AND period = :p", soci::use(contract),
        soci::use(version), soci::use(period), soci::into(doc);
    if (!l.sql().got_data()) return std::nullopt;
    return doc;
  });
}

std::vector<StatusChange> Store::status_changes(const std::optional<std::string>& contract) {
  return wrap("status change list", [&] {
    Lease l(*pool_, setup_);
    std::vector<StatusChange> out;
    StatusChange c;
    std::string from;
    soci::indicator from_ind = soci::i_ok;
    long long at = 0;
    const std::string filter = contract.value_or("");
    soci::statement st = (l.sql().prepare << "SELECT contract, version, period, partner, rule, from_status, to_status, at "
                                             "FROM status_changes WHERE :f = '' OR contract = :f2 ORDER BY id",
                          soci::into(c.contract), soci::into(c.version), soci::into(c.period), soci::into(c.partner),
                          soci::into(c.rule), soci::into(from, from_ind), soci::into(c.to), soci::into(at),
                          soci::use(filter, "f"), soci::use(filter, "f2"));
    st.execute();
    while (st.fetch()) {
      StatusChange row = c;
      row.from = from_ind == soci::i_ok ? std::optional<std::string>(from) : std::nullopt;
      row.at = core::from_unix_ms(at);
      out.push_back(std::move(row));
    }
    return out;
  });
}


std::optional<std::int64_t> Store::claim_lease(const std::string& name, const std::string& holder, core::Instant now,
                                               std::chrono::milliseconds ttl) {
  return wrap("lease claim", [&]() -> std::optional<std::int64_t> {
    Transaction tx(*this, Durability::normal);
    const long long at = core::to_unix_ms(now), until = core::to_unix_ms(now + ttl);
    long long fence = 0;
    soci::indicator ind = soci::i_null;
    // One statement: insert a new lease, or take over an expired one (a new fence), or renew
    // one's own (the same fence); a running lease of another holder is left as it is and
    // nothing is returned.
    tx.sql() << "INSERT INTO leases (name, holder, expires_at, fence) VALUES (:n, :h, :u, 1) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
                "fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= :a RETURNING fence",
        soci::use(name, "n"), soci::use(holder, "h"), soci::use(until, "u"), soci::use(at, "a"), soci::into(fence, ind);
    const bool held = tx.sql().got_data() && ind == soci::i_ok;  // read before COMMIT resets it
    tx.commit();
    if (!held) return std::nullopt;
    return static_cast<std::int64_t>(fence);
  });
}

bool Store::release_lease(const std::string& name, const std::string& holder) {
  return wrap("lease release", [&] {
    Transaction tx(*this, Durability::normal);
    soci::statement st = (tx.sql().prepare << "UPDATE leases SET expires_at = 0 WHERE name = :n AND holder = :h",
                          soci::use(name, "n"), soci::use(holder, "h"));
    st.execute(true);
    const bool released = st.get_affected_rows() > 0;
    tx.commit();
    return released;
  });
}

std::vector<LeaseRecord> Store::leases() {
  return wrap("lease list", [&] {
    Lease l(*pool_, setup_);
    LeaseRecord r;
    long long until = 0, fence = 0;
    soci::statement st = (l.sql().prepare << "SELECT name, holder, expires_at, fence FROM leases ORDER BY name", soci::into(r.name),
                          soci::into(r.holder), soci::into(until), soci::into(fence));
    st.execute();
    std::vector<LeaseRecord> out;
    while (st.fetch()) {
      r.expires_at = core::from_unix_ms(until);
      r.fence = fence;
      out.push_back(r);
    }
    return out;
  });
}

}  // namespace pactwatch::store
