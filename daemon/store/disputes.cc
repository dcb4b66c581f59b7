// The disputes repository: disputes and their acts, append-only, each written with its audit
// entry and notifications.
#include "pactwatch/store/disputes.h"

#include <soci/soci.h>

#include <algorithm>

#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

namespace {

// Dispute writes, one at a time (as agreements.cc does for contract acts).
constexpr long long kDisputeLockKey = 0x7077646973703031;  // "pwdisp01"

void lock(Transaction& tx) {
  if (dialect(tx.database().backend()).advisory_locks) tx.sql() << "SELECT pg_advisory_xact_lock(" + std::to_string(kDisputeLockKey) + ")";
}

constexpr const char* kDisputeColumns =
    "SELECT d.id, d.kind, d.partner, d.contract, d.version, d.period, d.rule, d.item_source, d.item_kind, d.item_id, d.category, "
    "d.opened_at, d.rules, d.window_from, d.window_until";

// One row of kDisputeColumns (and what a query adds after them), bound once per statement.
struct DisputeRow {
  long long id = 0, at = 0, from = 0, until = 0, extra = 0;
  std::string kind, category, rules;
  soci::indicator from_ind = soci::i_null, until_ind = soci::i_null;
  Dispute d;

  void bind(soci::statement& st) {
    auto& s = d.subject;
    st.exchange(soci::into(id));
    st.exchange(soci::into(kind));
    st.exchange(soci::into(s.partner));
    st.exchange(soci::into(s.contract));
    st.exchange(soci::into(s.version));
    st.exchange(soci::into(s.period));
    st.exchange(soci::into(s.rule));
    st.exchange(soci::into(s.item_source));
    st.exchange(soci::into(s.item_kind));
    st.exchange(soci::into(s.item_id));
    st.exchange(soci::into(category));
    st.exchange(soci::into(at));
    st.exchange(soci::into(rules));
    st.exchange(soci::into(from, from_ind));
    st.exchange(soci::into(until, until_ind));
  }
  Dispute read() const {
    Dispute out = d;
    out.id = id;
    out.kind = core::dispute_kind_from(kind).value_or(core::DisputeKind::dispute);
    out.category = core::dispute_category_from(category).value_or(core::DisputeCategory::other);
    out.opened_at = core::from_unix_ms(at);
    out.rules.clear();
    for (std::size_t b = 0; b < rules.size();) {
      const auto e = std::min(rules.find(',', b), rules.size());
      if (e > b) out.rules.push_back(rules.substr(b, e - b));
      b = e + 1;
    }
    out.window_from = from_ind == soci::i_ok ? std::optional(core::from_unix_ms(from)) : std::nullopt;
    out.window_until = until_ind == soci::i_ok ? std::optional(core::from_unix_ms(until)) : std::nullopt;
    return out;
  }
};

// The disputes a statement selects: `tail` follows the columns (FROM ..., WHERE ...), with its
// parameters bound by `use` (named :a, :b, :v as the callers write them), ordered by id. With
// `extra`, the query's column after the dispute's is read into DisputeRow::extra.
template <typename Use>
std::vector<std::pair<Dispute, long long>> read_rows(soci::session& sql, const std::string& columns_after, const std::string& tail,
                                                     Use&& use) {
  DisputeRow row;
  soci::statement st(sql);
  row.bind(st);
  if (!columns_after.empty()) st.exchange(soci::into(row.extra));
  use(st);
  st.alloc();
  st.prepare(kDisputeColumns + columns_after + " " + tail + " ORDER BY d.id");
  st.define_and_bind();
  st.execute();
  std::vector<std::pair<Dispute, long long>> out;
  while (st.fetch()) out.emplace_back(row.read(), row.extra);
  return out;
}

std::vector<Dispute> read_disputes(soci::session& sql, const std::string& where, const std::vector<std::string>& text_args, int version = 0) {
  std::vector<Dispute> out;
  for (auto& [d, extra] : read_rows(sql, "", "FROM disputes d " + where, [&](soci::statement& st) {
         if (!text_args.empty()) st.exchange(soci::use(text_args[0], "a"));
         if (text_args.size() > 1) {
           st.exchange(soci::use(version, "v"));
           st.exchange(soci::use(text_args[1], "b"));
         }
       })) {
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<core::DisputeAction> read_acts(soci::session& sql, long long dispute) {
  core::DisputeAction a;
  long long seq = 0, at = 0;
  std::string act, party;
  soci::statement st = (sql.prepare << "SELECT seq, act, party, actor, actor_name, at, comment FROM dispute_actions "
                                       "WHERE dispute = :d ORDER BY seq",
                        soci::use(dispute, "d"), soci::into(seq), soci::into(act), soci::into(party), soci::into(a.actor),
                        soci::into(a.actor_name), soci::into(at), soci::into(a.comment));
  st.execute();
  std::vector<core::DisputeAction> out;
  while (st.fetch()) {
    a.seq = seq;
    a.dispute = std::to_string(dispute);
    a.act = core::dispute_act_from(act).value_or(core::DisputeAct::comment);
    a.party = core::party_from(party).value_or(core::Party::partner);
    a.at = core::from_unix_ms(at);
    out.push_back(a);
  }
  return out;
}

// Checks `act` against what is recorded, inserts it and sets its seq.
std::expected<void, std::string> insert_act(soci::session& sql, long long dispute, core::DisputeKind kind,
                                            std::vector<core::DisputeAction>& recorded, core::DisputeAction& act) {
  act.dispute = std::to_string(dispute);
  if (auto ok = core::check_dispute_act(core::dispute_state(recorded), act, kind); !ok) return ok;
  const std::string what(core::to_string(act.act)), party(core::to_string(act.party));
  const long long at = core::to_unix_ms(act.at);
  sql << "INSERT INTO dispute_actions (dispute, act, party, actor, actor_name, at, comment) VALUES (:d, :a, :p, :w, :n, :t, :m)",
      soci::use(dispute, "d"), soci::use(what, "a"), soci::use(party, "p"), soci::use(act.actor, "w"), soci::use(act.actor_name, "n"),
      soci::use(at, "t"), soci::use(act.comment, "m");
  long long seq = 0;
  sql << "SELECT max(seq) FROM dispute_actions WHERE dispute = :d", soci::use(dispute, "d"), soci::into(seq);
  act.seq = seq;
  recorded.push_back(act);
  return {};
}

}  // namespace

std::expected<std::pair<Dispute, std::vector<core::DisputeAction>>, std::string> Disputes::open(Dispute d,
                                                                                               std::vector<core::DisputeAction> acts,
                                                                                               const AuditEntry& audit,
                                                                                               const Events& events,
                                                                                               std::span<const EvaluationIntent> on_accept) {
  using Out = std::expected<std::pair<Dispute, std::vector<core::DisputeAction>>, std::string>;
  return db_.wrap("dispute", [&]() -> Out {
    Transaction tx(db_, Durability::full);
    soci::session& sql = tx.sql();
    lock(tx);
    // One dispute of a subject at a time: none open or accepted.
    auto& s = d.subject;
    for (const auto& other : read_disputes(sql, "WHERE d.partner = :a AND d.version = :v AND d.contract = :b", {s.partner, s.contract}, s.version)) {
      if (d.kind != core::DisputeKind::dispute || other.kind != d.kind || other.subject != s) continue;
      const auto state = core::dispute_state(read_acts(sql, other.id));
      if (state == core::DisputeState::open || state == core::DisputeState::accepted) {
        return std::unexpected("dispute " + std::to_string(other.id) + " of the same " + (s.whole_rule() ? "rule" : "item") + " is already " +
                               std::string(core::to_string(state)));
      }
    }
    const std::string category(core::to_string(d.category)), kind(core::to_string(d.kind));
    const long long at = core::to_unix_ms(d.opened_at);
    std::string rules;
    for (const auto& r : d.rules) rules += (rules.empty() ? "" : ",") + r;
    long long from = d.window_from ? core::to_unix_ms(*d.window_from) : 0, until = d.window_until ? core::to_unix_ms(*d.window_until) : 0;
    soci::indicator from_ind = d.window_from ? soci::i_ok : soci::i_null, until_ind = d.window_until ? soci::i_ok : soci::i_null;
    sql << "INSERT INTO disputes (kind, partner, contract, version, period, rule, item_source, item_kind, item_id, category, opened_at, "
           "rules, window_from, window_until) VALUES (:kd, :pa, :c, :v, :pe, :r, :s, :k, :i, :ca, :t, :rs, :wf, :wu)",
        soci::use(kind, "kd"), soci::use(s.partner, "pa"), soci::use(s.contract, "c"), soci::use(s.version, "v"),
        soci::use(s.period, "pe"), soci::use(s.rule, "r"), soci::use(s.item_source, "s"), soci::use(s.item_kind, "k"),
        soci::use(s.item_id, "i"), soci::use(category, "ca"), soci::use(at, "t"), soci::use(rules, "rs"),
        soci::use(from, from_ind, "wf"), soci::use(until, until_ind, "wu");
    long long id = 0;
    sql << "SELECT max(id) FROM disputes", soci::into(id);
    d.id = id;
    std::vector<core::DisputeAction> recorded;
    for (auto& act : acts) {
      if (auto ok = insert_act(sql, id, d.kind, recorded, act); !ok) return std::unexpected(ok.error());
    }
    AuditEntry entry = audit;
    entry.target = std::string(core::to_string(d.kind)) + " " + std::to_string(id) + (entry.target.empty() ? "" : " " + entry.target);
    append_audit_in(tx, entry);
    if (events) {
      for (const auto& e : events(d, recorded)) insert_event(sql, e);
    }
    if (std::any_of(recorded.begin(), recorded.end(), [](const auto& a) { return a.act == core::DisputeAct::accept; })) {
      record_intents_in(tx, on_accept, d.opened_at);
    }
    tx.commit();
    return std::pair{d, recorded};
  });
}

std::expected<core::DisputeAction, std::string> Disputes::record(core::DisputeAction act, const AuditEntry& audit,
                                                                const Events& events,
                                                                std::span<const EvaluationIntent> on_accept) {
  return db_.wrap("dispute action", [&]() -> std::expected<core::DisputeAction, std::string> {
    long long id = 0;
    try {
      id = std::stoll(act.dispute);
    } catch (const std::exception&) {
      return std::unexpected("no dispute '" + act.dispute + "'");
    }
    Transaction tx(db_, Durability::full);
    soci::session& sql = tx.sql();
    lock(tx);
    const auto found = read_disputes(sql, "WHERE d.id = " + std::to_string(id), {});
    if (found.empty()) return std::unexpected("no dispute or correction " + std::to_string(id));
    auto recorded = read_acts(sql, id);
    if (auto ok = insert_act(sql, id, found.front().kind, recorded, act); !ok) return std::unexpected(ok.error());
    append_audit_in(tx, audit);
    if (events) {
      for (const auto& e : events(found.front(), std::span(&act, 1))) insert_event(sql, e);
    }
    if (act.act == core::DisputeAct::accept) record_intents_in(tx, on_accept, act.at);
    tx.commit();
    return act;
  });
}

std::optional<Dispute> Disputes::get(std::int64_t id) {
  return db_.wrap("dispute", [&]() -> std::optional<Dispute> {
    Lease l(db_);
    auto found = read_disputes(l.sql(), "WHERE d.id = " + std::to_string(id), {});
    if (found.empty()) return std::nullopt;
    return found.front();
  });
}

std::vector<core::DisputeAction> Disputes::acts_of(std::int64_t id) {
  return db_.wrap("dispute actions", [&] {
    Lease l(db_);
    return read_acts(l.sql(), id);
  });
}

std::vector<Dispute> Disputes::list(const std::string& partner) {
  return db_.wrap("disputes", [&] {
    Lease l(db_);
    return partner.empty() ? read_disputes(l.sql(), "", {}) : read_disputes(l.sql(), "WHERE d.partner = :a", {partner});
  });
}

std::vector<Dispute> Disputes::accepted(const std::string& contract, int version, const std::string& period) {
  return db_.wrap("disputes", [&] {
    Lease l(db_);
    std::vector<Dispute> out;
    for (auto& d : read_disputes(l.sql(), "WHERE d.kind = 'dispute' AND d.contract = :a AND d.version = :v AND d.period = :b",
                                 {contract, period}, version)) {
      if (core::dispute_state(read_acts(l.sql(), d.id)) == core::DisputeState::accepted) out.push_back(std::move(d));
    }
    return out;
  });
}

std::vector<AcceptedDispute> Disputes::accepted_all(const std::string& contract) {
  return db_.wrap("disputes", [&] {
    Lease l(db_);
    // The lifecycle records one resolution at most: an `accept` act is the acceptance.
    const std::string tail = "FROM disputes d JOIN dispute_actions a ON a.dispute = d.id AND a.act = 'accept'" +
                             std::string(contract.empty() ? "" : " WHERE d.contract = :a");
    std::vector<AcceptedDispute> out;
    for (auto& [d, at] : read_rows(l.sql(), ", a.at", tail, [&](soci::statement& st) {
           if (!contract.empty()) st.exchange(soci::use(contract, "a"));
         })) {
      out.push_back({std::move(d), core::from_unix_ms(at)});
    }
    return out;
  });
}

std::vector<Dispute> Disputes::open_all(const std::string& partner) {
  return db_.wrap("disputes", [&] {
    Lease l(db_);
    const std::string tail = "FROM disputes d WHERE NOT EXISTS (SELECT 1 FROM dispute_actions a WHERE a.dispute = d.id AND "
                             "a.act IN ('accept', 'reject', 'withdraw'))" +
                             std::string(partner.empty() ? "" : " AND d.partner = :a");
    std::vector<Dispute> out;
    for (auto& [d, unused] : read_rows(l.sql(), "", tail, [&](soci::statement& st) {
           if (!partner.empty()) st.exchange(soci::use(partner, "a"));
         })) {
      out.push_back(std::move(d));
    }
    return out;
  });
}

}  // namespace pactwatch::store
