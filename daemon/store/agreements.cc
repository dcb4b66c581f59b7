// The agreements repository: the parties' acts on contract versions, append-only (the schema's
// triggers refuse every change), each written with its audit entry.
#include "pactwatch/store/agreements.h"

#include <soci/soci.h>

#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

namespace {

// Agreement writes, one at a time: SQLite serializes writers already; on PostgreSQL a
// transaction-scoped advisory lock does, so a check reads every act recorded before it.
constexpr long long kAgreementLockKey = 0x7077616772656531;  // "pwagree1"

// Every act on `contract`, or on every contract when it is empty, in the order recorded.
std::vector<core::ContractAction> read_acts(soci::session& sql, const std::string& contract) {
  core::ContractAction a;
  std::string party, act;
  long long seq = 0, at = 0;
  const std::string columns = "SELECT seq, contract, version, sha256, party, act, actor, actor_name, at, comment FROM contract_actions ";
  soci::statement st = contract.empty() ? (sql.prepare << columns + "ORDER BY seq", soci::into(seq), soci::into(a.contract),
                                           soci::into(a.version), soci::into(a.sha256), soci::into(party), soci::into(act),
                                           soci::into(a.actor), soci::into(a.actor_name), soci::into(at), soci::into(a.comment))
                                        : (sql.prepare << columns + "WHERE contract = :c ORDER BY seq", soci::use(contract, "c"),
                                           soci::into(seq), soci::into(a.contract), soci::into(a.version), soci::into(a.sha256),
                                           soci::into(party), soci::into(act), soci::into(a.actor), soci::into(a.actor_name),
                                           soci::into(at), soci::into(a.comment));
  st.execute();
  std::vector<core::ContractAction> out;
  while (st.fetch()) {
    a.seq = seq;
    a.at = core::from_unix_ms(at);
    a.party = core::party_from(party).value_or(core::Party::brand);
    a.act = core::contract_act_from(act).value_or(core::ContractAct::comment);
    out.push_back(a);
  }
  return out;
}

}  // namespace

std::expected<core::ContractAction, std::string> Agreements::record(const core::ContractAction& act, const AuditEntry& audit,
                                                                    const Check& check, const Events& events) {
  auto stored = record_planned(act.contract, audit, [&](std::span<const core::ContractAction> recorded)
                                                        -> std::expected<std::vector<core::ContractAction>, std::string> {
    if (auto ok = check(recorded); !ok) return std::unexpected(ok.error());
    return std::vector<core::ContractAction>{act};
  }, events);
  if (!stored) return std::unexpected(stored.error());
  return stored->front();
}

std::expected<std::vector<core::ContractAction>, std::string> Agreements::record_planned(const std::string& contract,
                                                                                         const AuditEntry& audit,
                                                                                         const Plan& plan,
                                                                                         const Events& events) {
  return db_.wrap("contract action", [&]() -> std::expected<std::vector<core::ContractAction>, std::string> {
    Transaction tx(db_, Durability::full);
    soci::session& sql = tx.sql();
    if (dialect(db_.backend()).advisory_locks) sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kAgreementLockKey) + ")";
    const auto before = read_acts(sql, contract);
    auto acts = plan(before);
    if (!acts) return std::unexpected(acts.error());
    if (acts->empty()) return std::move(*acts);  // nothing to record: no audit entry either
    for (auto& act : *acts) {
      const std::string party(core::to_string(act.party)), what(core::to_string(act.act));
      const long long at = core::to_unix_ms(act.at);
      sql << "INSERT INTO contract_actions (contract, version, sha256, party, act, actor, actor_name, at, comment) "
             "VALUES (:c, :v, :h, :p, :a, :w, :n, :t, :m)",
          soci::use(act.contract, "c"), soci::use(act.version, "v"), soci::use(act.sha256, "h"), soci::use(party, "p"),
          soci::use(what, "a"), soci::use(act.actor, "w"), soci::use(act.actor_name, "n"), soci::use(at, "t"),
          soci::use(act.comment, "m");
      long long seq = 0;
      sql << "SELECT max(seq) FROM contract_actions WHERE contract = :c", soci::use(act.contract, "c"), soci::into(seq);
      act.seq = seq;
    }
    append_audit_in(tx, audit);
    if (events) {
      for (const auto& e : events(before, *acts)) insert_event(sql, e);
    }
    tx.commit();
    return std::move(*acts);
  });
}

std::vector<core::ContractAction> Agreements::of(const std::string& contract) {
  return db_.wrap("contract actions", [&] {
    Lease l(db_);
    return read_acts(l.sql(), contract);
  });
}

std::int64_t Agreements::last_seq() {
  return db_.wrap("contract actions", [&] {
    Lease l(db_);
    long long seq = 0;
    soci::indicator ind = soci::i_ok;
    l.sql() << "SELECT max(seq) FROM contract_actions", soci::into(seq, ind);
    return static_cast<std::int64_t>(ind == soci::i_ok ? seq : 0);
  });
}

std::vector<core::ContractAction> Agreements::all() {
  return db_.wrap("contract actions", [&] {
    Lease l(db_);
    return read_acts(l.sql(), "");
  });
}

}  // namespace pactwatch::store
