// The evaluations repository: the latest document per contract version and period, its rules'
// statuses, and their changes with the outbox events they cause.
#include "pactwatch/store/evaluations.h"

#include <soci/soci.h>

#include <map>

#include "pactwatch/store/outbox.h"
#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

// --- evaluations ---------------------------------------------------------------------------

namespace {

// Stores one evaluation, its rules' statuses and their changes (with the events they cause) in
// the caller's transaction; appends the changes.
void save_evaluation_in(Transaction& tx, const EvaluationRecord& r, core::Instant now, std::vector<StatusChange>& changes) {
  soci::session& sql = tx.sql();
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

}  // namespace

std::vector<StatusChange> Evaluations::save(const EvaluationRecord& r, core::Instant now) {
  return save_all(std::span<const EvaluationRecord>(&r, 1), now);
}

std::vector<StatusChange> Evaluations::save_all(std::span<const EvaluationRecord> records, core::Instant now,
                                                const SaveContext* context) {
  return db_.wrap("evaluation save", [&] {
    Transaction tx(db_, Durability::full);
    if (context && context->guard) check_lease_in(tx, *context->guard, "the evaluations were not stored");
    std::vector<StatusChange> changes;
    for (const auto& r : records) save_evaluation_in(tx, r, now, changes);
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


std::optional<std::string> Evaluations::document(const std::string& contract, int version, const std::string& period) {
  return db_.wrap("evaluation lookup", [&]() -> std::optional<std::string> {
    Lease l(db_);
    std::string doc;
    l.sql() << "SELECT document FROM evaluations WHERE contract = :c AND version = :v AND period = :p", soci::use(contract),
        soci::use(version), soci::use(period), soci::into(doc);
    if (!l.sql().got_data()) return std::nullopt;
    return doc;
  });
}

std::vector<StatusChange> Evaluations::status_changes(const std::optional<std::string>& contract) {
  return db_.wrap("status change list", [&] {
    Lease l(db_);
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

std::optional<std::string> Evaluations::rule_status(const std::string& contract, int version, const std::string& period,
                                                    const std::string& rule) {
  return db_.wrap("rule status", [&]() -> std::optional<std::string> {
    Lease l(db_);
    std::string status;
    l.sql() << kRuleStatus, soci::use(contract), soci::use(version), soci::use(period), soci::use(rule), soci::into(status);
    if (!l.sql().got_data()) return std::nullopt;
    return status;
  });
}

}  // namespace pactwatch::store
