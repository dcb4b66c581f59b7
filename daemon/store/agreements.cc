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

std::vector<core::ContractAction> read_acts(soci::session& sql, const std::string& contract) {
  core::ContractAction a;
  std::string party, act;
  long long seq = 0, at = 0;
  soci::statement st = (sql.prepare << "SELECT seq, contract, version, sha256, party, act, actor, actor_name, at, comment "
                                       "FROM contract_actions WHERE contract = :c ORDER BY seq",
                        soci::use(contract, "c"), soci::into(seq), soci::into(a.contract), soci::into(a.version),
                        soci::into(a.sha256), soci::into(party), soci::into(act), soci::into(a.actor), soci::into(a.actor_name),
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
                                                                    const Check& check) {
  return db_.wrap("contract action", [&]() -> std::expected<core::ContractAction, std::string> {
    Transaction tx(db_, Durability::full);
    soci::session& sql = tx.sql();
    if (dialect(db_.backend()).advisory_locks) sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kAgreementLockKey) + ")";
    const auto recorded = read_acts(sql, act.contract);
    if (auto ok = check(recorded); !ok) return std::unexpected(ok.error());
    const std::string party(core::to_string(act.party)), what(core::to_string(act.act));
    const long long at = core::to_unix_ms(act.at);
    sql << "INSERT INTO contract_actions (contract, version, sha256, party, act, actor, actor_name, at, comment) "
           "VALUES (:c, :v, :h, :p, :a, :w, :n, :t, :m)",
        soci::use(act.contract, "c"), soci::use(act.version, "v"), soci::use(act.sha256, "h"), soci::use(party, "p"),
        soci::use(what, "a"), soci::use(act.actor, "w"), soci::use(act.actor_name, "n"), soci::use(at, "t"),
        soci::use(act.comment, "m");
    long long seq = 0;
    sql << "SELECT max(seq) FROM contract_actions WHERE contract = :c", soci::use(act.contract, "c"), soci::into(seq);
    append_audit_in(tx, audit);
    tx.commit();
    core::ContractAction stored = act;
    stored.seq = seq;
    return stored;
  });
}

std::vector<core::ContractAction> Agreements::of(const std::string& contract) {
  return db_.wrap("contract actions", [&] {
    Lease l(db_);
    return read_acts(l.sql(), contract);
  });
}

}  // namespace pactwatch::store
