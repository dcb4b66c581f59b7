// The evaluations repository: the latest document per contract version and period, its rules'
// statuses, and their changes with the outbox events they cause.
#include "pactwatch/store/evaluations.h"

#include <soci/soci.h>

#include <map>
#include <set>
#include <tuple>

#include "pactwatch/store/outbox.h"
#include "queries.h"
#include "rows.h"
#include "store_internal.h"

namespace pactwatch::store {

// --- evaluations ---------------------------------------------------------------------------

namespace {

using RuleKey = std::tuple<std::string, int, std::string, std::string>;  // contract, version, period, rule

// The stored status of every rule of the records' evaluations, in one statement per few hundred
// contracts (rule_statuses_of_batch_query).
std::map<RuleKey, std::string> stored_statuses(soci::session& sql, std::span<const EvaluationRecord> records) {
  std::map<RuleKey, std::string> stored;
  std::set<std::string> contract_set;
  std::set<std::string> period_set;
  std::set<std::tuple<std::string, int, std::string>> wanted;
  for (const auto& r : records) {
    contract_set.insert(r.contract);
    period_set.insert(r.period);
    wanted.insert({r.contract, r.version, r.period});
  }
  std::vector<std::string> contracts(contract_set.begin(), contract_set.end());
  std::vector<std::string> periods(period_set.begin(), period_set.end());
  constexpr std::size_t kPerStatement = 400;
  for (std::size_t first = 0; first < contracts.size(); first += kPerStatement) {
    const std::size_t n = std::min(kPerStatement, contracts.size() - first);
    std::string contract, period, rule, status;
    int version = 0;
    soci::statement st(sql);
    st.exchange(soci::into(contract));
    st.exchange(soci::into(version));
    st.exchange(soci::into(period));
    st.exchange(soci::into(rule));
    st.exchange(soci::into(status));
    for (std::size_t i = first; i < first + n; ++i) st.exchange(soci::use(contracts[i]));
    for (auto& p : periods) st.exchange(soci::use(p));
    st.alloc();
    st.prepare(rule_statuses_of_batch_query(n, periods.size(), Rows::anonymous_placeholders(sql)));
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
      if (wanted.contains({contract, version, period})) stored[{contract, version, period, rule}] = status;
    }
  }
  return stored;
}

// Stores the evaluations, their rules' statuses and their changes (with the events they cause)
// in the caller's transaction, with a few multi-row statements for the whole batch; appends the
// changes in record and rule order (the order they are numbered in).
void save_evaluations_in(Transaction& tx, std::span<const EvaluationRecord> records, core::Instant now,
                         std::vector<StatusChange>& changes) {
  soci::session& sql = tx.sql();
  if (records.empty()) return;
  const long long at = core::to_unix_ms(now);
  // A key given twice in one batch keeps its last record (a statement may not update a row twice).
  std::map<std::tuple<std::string, int, std::string>, std::size_t> last;
  for (std::size_t i = 0; i < records.size(); ++i) last[{records[i].contract, records[i].version, records[i].period}] = i;
  Rows evaluations(8);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (last.at({r.contract, r.version, r.period}) != i) continue;
    evaluations.text(r.contract).number(r.version).text(r.period).text(r.partner).number(core::to_unix_ms(r.as_of))
        .number(at).text(r.input_digest).text(r.document);
  }
  evaluations.run(sql, "INSERT INTO evaluations (contract, version, period, partner, as_of, evaluated_at, input_digest, document) VALUES ",
                  " ON CONFLICT (contract, version, period) DO UPDATE SET partner = excluded.partner, as_of = excluded.as_of, "
                  "evaluated_at = excluded.evaluated_at, input_digest = excluded.input_digest, document = excluded.document",
                  64);
  // Usually no status has changed and nothing more is written.
  auto stored = stored_statuses(sql, records);
  std::map<RuleKey, std::string> statuses;  // what to write, by key (the last status wins)
  Rows change_rows(8);
  std::vector<OutboxEvent> events;
  for (const auto& r : records) {
    for (const auto& s : r.statuses) {
      RuleKey key{r.contract, r.version, r.period, s.rule};
      const auto found = stored.find(key);
      const bool known = found != stored.end();
      const std::string previous = known ? found->second : std::string();
      if (known && previous == s.status) continue;
      stored[key] = s.status;
      statuses[key] = s.status;
      change_rows.text(r.contract).number(r.version).text(r.period).text(r.partner).text(s.rule)
          .text(known ? std::optional<std::string>(previous) : std::nullopt).text(s.status).number(at);
      changes.push_back({r.contract, r.version, r.period, r.partner, s.rule,
                         known ? std::optional<std::string>(previous) : std::nullopt, s.status, now});
      if (auto event = event_for(changes.back())) {
        // The numbers behind the change travel with it.
        event->payload.insert(event->payload.size() - 1, ",\"value\":" + (s.value.empty() ? std::string("null") : s.value) +
                                                             ",\"target\":" + json_string(s.target));
        events.push_back(std::move(*event));
      }
    }
  }
  if (statuses.empty()) return;
  Rows status_rows(6);
  for (const auto& [key, status] : statuses) {
    status_rows.text(std::get<0>(key)).number(std::get<1>(key)).text(std::get<2>(key)).text(std::get<3>(key)).text(status).number(at);
  }
  status_rows.run(sql, "INSERT INTO rule_statuses (contract, version, period, rule, status, since) VALUES ",
                  " ON CONFLICT (contract, version, period, rule) DO UPDATE SET status = excluded.status, since = excluded.since");
  change_rows.run(sql, "INSERT INTO status_changes (contract, version, period, partner, rule, from_status, to_status, at) VALUES ", "");
  insert_events(sql, events);  // same transaction as their cause
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
    save_evaluations_in(tx, records, now, changes);
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
