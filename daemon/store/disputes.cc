// The disputes repository: disputes and their acts, append-only, each written with its audit
// entry and notifications.
#include "pactwatch/store/disputes.h"

#include <soci/soci.h>

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
    "SELECT id, partner, contract, version, period, rule, item_source, item_kind, item_id, category, opened_at FROM disputes ";

// The disputes a statement selects (`where` with its one bound parameter list), by id.
std::vector<Dispute> read_disputes(soci::session& sql, const std::string& where, const std::vector<std::string>& text_args, int version = 0) {
  Dispute d;
  long long id = 0, at = 0;
  std::string category;
  auto& s = d.subject;
  soci::statement st(sql);
  const std::string query = kDisputeColumns + where + " ORDER BY id";
  if (text_args.empty()) {
    st = (sql.prepare << query, soci::into(id), soci::into(s.partner), soci::into(s.contract), soci::into(s.version),
          soci::into(s.period), soci::into(s.rule), soci::into(s.item_source), soci::into(s.item_kind), soci::into(s.item_id),
          soci::into(category), soci::into(at));
  } else if (text_args.size() == 1) {
    st = (sql.prepare << query, soci::use(text_args[0], "a"), soci::into(id), soci::into(s.partner), soci::into(s.contract),
          soci::into(s.version), soci::into(s.period), soci::into(s.rule), soci::into(s.item_source), soci::into(s.item_kind),
          soci::into(s.item_id), soci::into(category), soci::into(at));
  } else {
    st = (sql.prepare << query, soci::use(text_args[0], "a"), soci::use(version, "v"), soci::use(text_args[1], "b"), soci::into(id),
          soci::into(s.partner), soci::into(s.contract), soci::into(s.version), soci::into(s.period), soci::into(s.rule),
          soci::into(s.item_source), soci::into(s.item_kind), soci::into(s.item_id), soci::into(category), soci::into(at));
  }
  st.execute();
  std::vector<Dispute> out;
  while (st.fetch()) {
    d.id = id;
    d.category = core::dispute_category_from(category).value_or(core::DisputeCategory::other);
    d.opened_at = core::from_unix_ms(at);
    out.push_back(d);
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
std::expected<void, std::string> insert_act(soci::session& sql, long long dispute, std::vector<core::DisputeAction>& recorded,
                                            core::DisputeAction& act) {
  act.dispute = std::to_string(dispute);
  if (auto ok = core::check_dispute_act(core::dispute_state(recorded), act); !ok) return ok;
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
                                                                                               const Events& events) {
  using Out = std::expected<std::pair<Dispute, std::vector<core::DisputeAction>>, std::string>;
  return db_.wrap("dispute", [&]() -> Out {
    Transaction tx(db_, Durability::full);
    soci::session& sql = tx.sql();
    lock(tx);
    // One dispute of a subject at a time: none open or accepted.
    auto& s = d.subject;
    for (const auto& other : read_disputes(sql, "WHERE partner = :a AND version = :v AND contract = :b", {s.partner, s.contract}, s.version)) {
      if (other.subject != s) continue;
      const auto state = core::dispute_state(read_acts(sql, other.id));
      if (state == core::DisputeState::open || state == core::DisputeState::accepted) {
        return std::unexpected("dispute " + std::to_string(other.id) + " of the same " + (s.whole_rule() ? "rule" : "item") + " is already " +
                               std::string(core::to_string(state)));
      }
    }
    const std::string category(core::to_string(d.category));
    const long long at = core::to_unix_ms(d.opened_at);
    sql << "INSERT INTO disputes (partner, contract, version, period, rule, item_source, item_kind, item_id, category, opened_at) "
           "VALUES (:pa, :c, :v, :pe, :r, :s, :k, :i, :ca, :t)",
        soci::use(s.partner, "pa"), soci::use(s.contract, "c"), soci::use(s.version, "v"), soci::use(s.period, "pe"),
        soci::use(s.rule, "r"), soci::use(s.item_source, "s"), soci::use(s.item_kind, "k"), soci::use(s.item_id, "i"),
        soci::use(category, "ca"), soci::use(at, "t");
    long long id = 0;
    sql << "SELECT max(id) FROM disputes", soci::into(id);
    d.id = id;
    std::vector<core::DisputeAction> recorded;
    for (auto& act : acts) {
      if (auto ok = insert_act(sql, id, recorded, act); !ok) return std::unexpected(ok.error());
    }
    AuditEntry entry = audit;
    entry.target = "dispute " + std::to_string(id) + (entry.target.empty() ? "" : " " + entry.target);
    append_audit_in(tx, entry);
    if (events) {
      for (const auto& e : events(d, recorded)) insert_event(sql, e);
    }
    tx.commit();
    return std::pair{d, recorded};
  });
}

std::expected<core::DisputeAction, std::string> Disputes::record(core::DisputeAction act, const AuditEntry& audit,
                                                                const Events& events) {
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
    const auto found = read_disputes(sql, "WHERE id = " + std::to_string(id), {});
    if (found.empty()) return std::unexpected("no dispute " + std::to_string(id));
    auto recorded = read_acts(sql, id);
    if (auto ok = insert_act(sql, id, recorded, act); !ok) return std::unexpected(ok.error());
    append_audit_in(tx, audit);
    if (events) {
      for (const auto& e : events(found.front(), std::span(&act, 1))) insert_event(sql, e);
    }
    tx.commit();
    return act;
  });
}

std::optional<Dispute> Disputes::get(std::int64_t id) {
  return db_.wrap("dispute", [&]() -> std::optional<Dispute> {
    Lease l(db_);
    auto found = read_disputes(l.sql(), "WHERE id = " + std::to_string(id), {});
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
    return partner.empty() ? read_disputes(l.sql(), "", {}) : read_disputes(l.sql(), "WHERE partner = :a", {partner});
  });
}

std::vector<Dispute> Disputes::accepted(const std::string& contract, int version, const std::string& period) {
  return db_.wrap("disputes", [&] {
    Lease l(db_);
    std::vector<Dispute> out;
    for (auto& d : read_disputes(l.sql(), "WHERE contract = :a AND version = :v AND period = :b", {contract, period}, version)) {
      if (core::dispute_state(read_acts(l.sql(), d.id)) == core::DisputeState::accepted) out.push_back(std::move(d));
    }
    return out;
  });
}

}  // namespace pactwatch::store
