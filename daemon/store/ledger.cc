// The ledger's two repositories: closed statements and the audit log, each a hash chain that
// refuses rewrites (they share the chain's canonical form and locking).
#include "pactwatch/store/audit.h"
#include "pactwatch/store/statements.h"

#include <soci/soci.h>

#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "pactwatch/core/digest.h"
#include "pactwatch/store/outbox.h"
#include "queries.h"
#include "store_internal.h"

namespace pactwatch::store {

// --- statements ----------------------------------------------------------------------------

namespace {

// Canonical JSON of string fields (keys sorted, no spaces, UTF-8 as is): what chain hashes are
// taken over. Python writes the same with json.dumps(d, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False).
std::string canonical_fields(const std::map<std::string, std::string>& fields) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : fields) j[k] = v;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sha_or_empty(const std::string& text) { return text.empty() ? std::string() : core::sha256_hex(text); }

struct StatementRow {
  StatementRecord r;
  long long start = 0, own = 0, total = 0, carry = 0, as_of = 0, closed = 0, seq = 0;
  soci::indicator seq_ind = soci::i_ok, doc_sha_ind = soci::i_ok, prev_ind = soci::i_ok, chain_ind = soci::i_ok;
  static constexpr const char* kColumns =
      "SELECT contract, version, period, partner, period_start, currency, own_minor, total_minor, carry_out_minor, "
      "contract_sha256, input_digest, engine_version, as_of, closed_at, closed_by, document, contract_canonical, approvals, "
      "chain_seq, document_sha256, previous_sha256, chain_sha256 FROM statements ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(r.contract), soci::into(r.version), soci::into(r.period), soci::into(r.partner), soci::into(start),
        soci::into(r.currency), soci::into(own), soci::into(total), soci::into(carry), soci::into(r.contract_sha256),
        soci::into(r.input_digest), soci::into(r.engine_version), soci::into(as_of), soci::into(closed),
        soci::into(r.closed_by), soci::into(r.document), soci::into(r.contract_canonical), soci::into(r.approvals),
        soci::into(seq, seq_ind), soci::into(r.document_sha256, doc_sha_ind), soci::into(r.previous_sha256, prev_ind),
        soci::into(r.chain_sha256, chain_ind);
  }
  [[nodiscard]] StatementRecord get() const {
    StatementRecord out = r;
    out.period_start = core::from_unix_ms(start);
    out.own_minor = own;
    out.total_minor = total;
    out.carry_out_minor = carry;
    out.as_of = core::from_unix_ms(as_of);
    out.closed_at = core::from_unix_ms(closed);
    out.chain_seq = seq_ind == soci::i_ok ? seq : 0;
    if (doc_sha_ind != soci::i_ok) out.document_sha256.clear();
    if (prev_ind != soci::i_ok) out.previous_sha256.clear();
    if (chain_ind != soci::i_ok) out.chain_sha256.clear();
    return out;
  }
};

// The head of a contract's chain: its last place and hash (0 and the genesis hash when empty).
std::pair<long long, std::string> chain_head(soci::session& sql, const std::string& contract) {
  long long seq = 0;
  std::string hash;
  soci::indicator seq_ind = soci::i_ok, hash_ind = soci::i_ok;
  soci::statement st = (sql.prepare << "SELECT chain_seq, chain_sha256 FROM statements WHERE contract = :c AND chain_seq IS NOT NULL "
                                       "ORDER BY chain_seq DESC LIMIT 1",
                        soci::use(contract, "c"), soci::into(seq, seq_ind), soci::into(hash, hash_ind));
  st.execute();
  if (!st.fetch() || seq_ind != soci::i_ok || hash_ind != soci::i_ok) return {0, std::string(kGenesisSha256)};
  return {seq, hash};
}

std::pair<long long, std::string> audit_head(soci::session& sql) {
  long long seq = 0;
  std::string hash;
  soci::indicator hash_ind = soci::i_ok;
  soci::statement st = (sql.prepare << "SELECT seq, sha256 FROM audit_log ORDER BY seq DESC LIMIT 1", soci::into(seq),
                        soci::into(hash, hash_ind));
  st.execute();
  if (!st.fetch()) return {0, std::string(kGenesisSha256)};
  return {seq, hash_ind == soci::i_ok ? hash : std::string(kGenesisSha256)};
}

// Closes and audit entries append to chains: one writer at a time. SQLite serializes writers
// already; on PostgreSQL a transaction-scoped advisory lock does.
constexpr long long kStatementChainLockKey = 0x7077636861696e31;  // "pwchain1"
constexpr long long kAuditChainLockKey = 0x7077636861696e32;      // "pwchain2"

void lock_chain(soci::session& sql, Backend b, long long key) {
  if (dialect(b).advisory_locks) sql << "SELECT pg_advisory_xact_lock(" + std::to_string(key) + ")";
}

}  // namespace

std::string statement_chain_text(const StatementRecord& r) {
  return canonical_fields({{"approvals_sha256", sha_or_empty(r.approvals)},
                           {"closed_at", core::format_rfc3339(r.closed_at)},
                           {"closed_by", r.closed_by},
                           {"contract", r.contract},
                           {"contract_canonical_sha256", sha_or_empty(r.contract_canonical)},
                           {"document_sha256", r.document_sha256},
                           {"period", r.period},
                           {"previous_sha256", r.previous_sha256},
                           {"seq", std::to_string(r.chain_seq)},
                           {"version", std::to_string(r.version)}});
}

std::string statement_chain_sha256(const StatementRecord& r) { return core::sha256_hex(statement_chain_text(r)); }

std::string audit_chain_sha256(const AuditEntry& e) {
  return core::sha256_hex(canonical_fields({{"action", e.action},
                                            {"actor", e.actor},
                                            {"at", core::format_rfc3339(e.at)},
                                            {"outcome", e.outcome},
                                            {"previous_sha256", e.previous_sha256},
                                            {"role", e.role},
                                            {"seq", std::to_string(e.seq)},
                                            {"target", e.target}}));
}

// Chains the rows written before schema version 9, in this migration's transaction: each
// contract's statements in the order they were closed (then by period and version), the audit
// log in sequence order.
void chain_existing_rows(soci::session& sql) {
  std::vector<StatementRecord> rows;
  {
    StatementRow row;
    auto prep = (sql.prepare << std::string(StatementRow::kColumns) + "ORDER BY contract, closed_at, period_start, version");
    row.bind(prep);
    soci::statement st(prep);
    st.execute();
    while (st.fetch()) rows.push_back(row.get());
  }
  std::string contract;
  long long seq = 0;
  std::string previous;
  for (auto& r : rows) {
    if (r.contract != contract) {
      contract = r.contract;
      seq = 0;
      previous = std::string(kGenesisSha256);
    }
    r.chain_seq = ++seq;
    r.document_sha256 = core::sha256_hex(r.document);
    r.previous_sha256 = previous;
    r.chain_sha256 = statement_chain_sha256(r);
    previous = r.chain_sha256;
    long long s = r.chain_seq;
    sql << "UPDATE statements SET chain_seq = :s, document_sha256 = :d, previous_sha256 = :p, chain_sha256 = :h "
           "WHERE contract = :c AND version = :v AND period = :pe",
        soci::use(s, "s"), soci::use(r.document_sha256, "d"), soci::use(r.previous_sha256, "p"), soci::use(r.chain_sha256, "h"),
        soci::use(r.contract, "c"), soci::use(r.version, "v"), soci::use(r.period, "pe");
  }
  std::vector<AuditEntry> entries;
  {
    AuditEntry e;
    long long seq_value = 0, at = 0;
    soci::statement st = (sql.prepare << "SELECT seq, at, actor, role, action, target, outcome FROM audit_log ORDER BY seq",
                          soci::into(seq_value), soci::into(at), soci::into(e.actor), soci::into(e.role), soci::into(e.action),
                          soci::into(e.target), soci::into(e.outcome));
    st.execute();
    while (st.fetch()) {
      e.seq = seq_value;
      e.at = core::from_unix_ms(at);
      entries.push_back(e);
    }
  }
  previous = std::string(kGenesisSha256);
  for (auto& e : entries) {
    e.previous_sha256 = previous;
    e.sha256 = audit_chain_sha256(e);
    previous = e.sha256;
    long long s = e.seq;
    sql << "UPDATE audit_log SET previous_sha256 = :p, sha256 = :h WHERE seq = :s", soci::use(e.previous_sha256, "p"),
        soci::use(e.sha256, "h"), soci::use(s, "s");
  }
}

namespace {

struct AuditRow {
  AuditEntry e;
  long long seq = 0, at = 0;
  soci::indicator prev_ind = soci::i_ok, sha_ind = soci::i_ok;
  static constexpr const char* kColumns = "SELECT seq, at, actor, role, action, target, outcome, previous_sha256, sha256 FROM audit_log ";
  void bind(soci::details::prepare_temp_type& p) {
    p, soci::into(seq), soci::into(at), soci::into(e.actor), soci::into(e.role), soci::into(e.action), soci::into(e.target),
        soci::into(e.outcome), soci::into(e.previous_sha256, prev_ind), soci::into(e.sha256, sha_ind);
  }
  [[nodiscard]] AuditEntry get() const {
    AuditEntry out = e;
    out.seq = seq;
    out.at = core::from_unix_ms(at);
    if (prev_ind != soci::i_ok) out.previous_sha256.clear();
    if (sha_ind != soci::i_ok) out.sha256.clear();
    return out;
  }
};

}  // namespace

void ClosedStatements::close(std::span<const StatementRecord> statements) {
  db_.wrap("period close", [&] {
    Transaction tx(db_, Durability::full);
    lock_chain(tx.sql(), db_.backend(), kStatementChainLockKey);
    for (const auto& s : statements) {
      long long n = 0;
      std::string contract = s.contract, period = s.period;
      int version = s.version;
      tx.sql() << "SELECT count(*) FROM statements WHERE contract = :c AND version = :v AND period = :p", soci::use(contract),
          soci::use(version), soci::use(period), soci::into(n);
      if (n > 0) {
        throw AlreadyClosed(contract + " v" + std::to_string(version) + " " + period + " is already closed");
      }
      StatementRecord r = s;
      const auto [head_seq, head_hash] = chain_head(tx.sql(), contract);
      r.chain_seq = head_seq + 1;
      r.previous_sha256 = head_hash;
      r.document_sha256 = core::sha256_hex(r.document);
      r.chain_sha256 = statement_chain_sha256(r);
      long long start = core::to_unix_ms(r.period_start), own = r.own_minor, total = r.total_minor,
                carry = r.carry_out_minor, as_of = core::to_unix_ms(r.as_of), closed = core::to_unix_ms(r.closed_at),
                seq = r.chain_seq;
      OutboxEvent event{"statement.closed/" + contract + "/" + std::to_string(version) + "/" + period,
                        "statement.closed", r.partner, contract, version, period, "statement", r.closed_at, ""};
      event.payload = "{\"total\":\"" + std::to_string(total) + "\",\"currency\":" + json_string(r.currency) +
                      ",\"closed_by\":" + json_string(r.closed_by) + links_json(event) + "}";
      insert_event(tx.sql(), event);
      tx.sql() << "INSERT INTO statements (contract, version, period, partner, period_start, currency, own_minor, "
                  "total_minor, carry_out_minor, contract_sha256, input_digest, engine_version, as_of, closed_at, "
                  "closed_by, document, contract_canonical, approvals, chain_seq, document_sha256, previous_sha256, chain_sha256) "
                  "VALUES (:c, :v, :p, :pa, :s, :cu, :o, :t, :ca, :h, :d, :e, :a, :cl, :b, :doc, :cc, :ap, :sq, :ds, :ps, :ch)",
          soci::use(contract), soci::use(version), soci::use(period), soci::use(r.partner), soci::use(start),
          soci::use(r.currency), soci::use(own), soci::use(total), soci::use(carry), soci::use(r.contract_sha256),
          soci::use(r.input_digest), soci::use(r.engine_version), soci::use(as_of), soci::use(closed), soci::use(r.closed_by),
          soci::use(r.document), soci::use(r.contract_canonical), soci::use(r.approvals), soci::use(seq),
          soci::use(r.document_sha256), soci::use(r.previous_sha256), soci::use(r.chain_sha256);
    }
    tx.commit();
    return 0;
  });
}

std::optional<StatementRecord> ClosedStatements::find(const std::string& contract, int version, const std::string& period) {
  return db_.wrap("statement lookup", [&]() -> std::optional<StatementRecord> {
    Lease l(db_);
    StatementRow row;
    auto prep = (l.sql().prepare << std::string(StatementRow::kColumns) +
                                        "WHERE contract = :c AND version = :v AND period = :p");
    row.bind(prep);
    prep, soci::use(contract, "c"), soci::use(version, "v"), soci::use(period, "p");
    soci::statement st(prep);
    st.execute();
    if (!st.fetch()) return std::nullopt;
    return row.get();
  });
}

std::vector<StatementRecord> ClosedStatements::of_contract(const std::string& contract) {
  return db_.wrap("statement list", [&] {
    Lease l(db_);
    StatementRow row;
    auto prep = (l.sql().prepare << std::string(StatementRow::kColumns) +
                                        "WHERE contract = :c ORDER BY period_start, version");
    row.bind(prep);
    prep, soci::use(contract, "c");
    soci::statement st(prep);
    st.execute();
    std::vector<StatementRecord> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::vector<StatementRecord> ClosedStatements::all() {
  return db_.wrap("statement list", [&] {
    Lease l(db_);
    StatementRow row;
    auto prep = (l.sql().prepare << std::string(StatementRow::kColumns) + "ORDER BY contract, chain_seq, period_start, version");
    row.bind(prep);
    soci::statement st(prep);
    st.execute();
    std::vector<StatementRecord> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

void append_audit_in(Transaction& tx, const AuditEntry& entry) {
  soci::session& sql = tx.sql();
  lock_chain(sql, tx.database().backend(), kAuditChainLockKey);
  AuditEntry e = entry;
  const auto [head_seq, head_hash] = audit_head(sql);
  e.seq = head_seq + 1;
  e.previous_sha256 = head_hash;
  e.sha256 = audit_chain_sha256(e);
  const long long at = core::to_unix_ms(e.at), seq = e.seq;
  sql << "INSERT INTO audit_log (seq, at, actor, role, action, target, outcome, previous_sha256, sha256) "
         "VALUES (:s, :a, :w, :r, :x, :t, :o, :p, :h)",
      soci::use(seq, "s"), soci::use(at, "a"), soci::use(e.actor, "w"), soci::use(e.role, "r"), soci::use(e.action, "x"),
      soci::use(e.target, "t"), soci::use(e.outcome, "o"), soci::use(e.previous_sha256, "p"), soci::use(e.sha256, "h");
}

void AuditLog::append(const AuditEntry& entry) {
  db_.wrap("audit append", [&] {
    Transaction tx(db_, Durability::full);
    append_audit_in(tx, entry);
    tx.commit();
  });
}

std::vector<AuditEntry> AuditLog::newest(std::size_t limit, std::optional<std::int64_t> before) {
  return db_.wrap("audit list", [&] {
    Lease l(db_);
    AuditRow row;
    const long long below = before ? static_cast<long long>(*before) : std::numeric_limits<long long>::max();
    auto prep = (l.sql().prepare << std::string(AuditRow::kColumns) + "WHERE seq < :b ORDER BY seq DESC LIMIT " + std::to_string(limit));
    row.bind(prep);
    prep, soci::use(below, "b");
    soci::statement st(prep);
    st.execute();
    std::vector<AuditEntry> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

std::vector<AuditEntry> AuditLog::after(std::int64_t after_seq, std::size_t limit) {
  return db_.wrap("audit list", [&] {
    Lease l(db_);
    AuditRow row;
    const long long after = after_seq;
    auto prep = (l.sql().prepare << std::string(AuditRow::kColumns) + "WHERE seq > :a ORDER BY seq LIMIT " + std::to_string(limit));
    row.bind(prep);
    prep, soci::use(after, "a");
    soci::statement st(prep);
    st.execute();
    std::vector<AuditEntry> out;
    while (st.fetch()) out.push_back(row.get());
    return out;
  });
}

}  // namespace pactwatch::store
