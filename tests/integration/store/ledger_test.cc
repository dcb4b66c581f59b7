// The store conformance suite: closed statements and the audit log, each a hash chain
// (ClosedStatements, AuditLog), on SQLite and PostgreSQL.
#include "migrations.h"
#include "store_conformance.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

TEST_P(StoreConformance, ClosedStatementsAreWrittenOnceAndNeverChanged) {
  StatementRecord a{"support", 3, "2026-10", "northwind", t(10), "EUR", 150000, 149999, 0, "sha", "digest", "1",
                    t(20), t(21), "finance@brand.example", R"({"total":"1499.99"})"};
  StatementRecord b = a;
  b.period = "2026-11";
  b.period_start = t(30);
  b.total_minor = -500;  // a partner can owe money
  StatementRecord jpy = a;
  jpy.contract = "tokyo";
  jpy.currency = "JPY";
  jpy.total_minor = 1234567;
  store_->statements().close(std::vector<StatementRecord>{b, a, jpy});
  auto back = store_->statements().find("support", 3, "2026-10");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->total_minor, 149999);
  EXPECT_EQ(back->own_minor, 150000);
  EXPECT_EQ(back->closed_by, "finance@brand.example");
  EXPECT_EQ(back->as_of, t(20));
  EXPECT_EQ(back->document, R"({"total":"1499.99"})");
  EXPECT_EQ(store_->statements().find("tokyo", 3, "2026-10")->total_minor, 1234567);
  EXPECT_FALSE(store_->statements().find("support", 3, "2026-12"));
  // In period order, whatever the order they were closed in.
  auto all = store_->statements().of_contract("support");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].period, "2026-10");
  EXPECT_EQ(all[1].total_minor, -500);

  // Closing again is refused, and a batch with one closed statement stores none of the others.
  StatementRecord c = a;
  c.period = "2026-12";
  c.period_start = t(40);
  EXPECT_THROW(store_->statements().close(std::vector<StatementRecord>{c, a}), AlreadyClosed);
  EXPECT_FALSE(store_->statements().find("support", 3, "2026-12"));
  // The database itself refuses to change or delete a closed statement.
  Transaction tx(store_->database(), Durability::normal);
  EXPECT_ANY_THROW(tx.sql() << "UPDATE statements SET total_minor = 0");
}

TEST_P(StoreConformance, TheAuditLogIsAppendOnly) {
  store_->audit().append({0, t(1), "tok_1 finance", "finance", "POST /v1/periods/{period}/close", "/v1/periods/2026-10/close", "200"});
  store_->audit().append({0, t(2), "cli root", "admin", "token.revoke", "tok_1", "ok"});
  auto log = store_->audit().newest(10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].action, "token.revoke") << "newest first";
  EXPECT_GT(log[0].seq, log[1].seq);
  EXPECT_EQ(log[1].at, t(1));
  EXPECT_EQ(store_->audit().newest(1).size(), 1u);
  Transaction tx(store_->database(), Durability::normal);
  EXPECT_ANY_THROW(tx.sql() << "DELETE FROM audit_log");
}

// --- the ledger's immutability and hash chains (schema version 9) ---------------------------

StatementRecord closed_record(const std::string& contract, const std::string& period, int minute) {
  return {contract, 3, period, "northwind", t(minute), "EUR", 150000, 149999, 0, "sha", "digest", "2",
          t(minute + 1), t(minute + 2), "finance@brand.example", R"({"total":"1499.99","period":")" + period + R"("})"};
}

// The columns of a statements row, and a SELECT copying the closed row of `support` with some
// values replaced (column -> SQL expression).
const std::vector<std::string> kStatementColumns{
    "contract", "version", "period", "partner", "period_start", "currency", "own_minor", "total_minor", "carry_out_minor",
    "contract_sha256", "input_digest", "engine_version", "as_of", "closed_at", "closed_by", "document", "contract_canonical",
    "approvals", "chain_seq", "document_sha256", "previous_sha256", "chain_sha256"};

std::string copy_of_closed(const std::map<std::string, std::string>& replaced) {
  std::string cols, select;
  for (const auto& c : kStatementColumns) {
    cols += (cols.empty() ? "" : ", ") + c;
    select += (select.empty() ? "" : ", ") + (replaced.count(c) ? replaced.at(c) : c);
  }
  return "(" + cols + ") SELECT " + select + " FROM statements WHERE contract = 'support'";
}

const char* kAuditColumns = "(seq, at, actor, role, action, target, outcome, previous_sha256, sha256)";
const char* kAuditCopy = " SELECT seq, at, 'mallory', role, action, target, outcome, previous_sha256, sha256 FROM audit_log WHERE seq = 1";

int postgres_version(Store& store) {
  Transaction tx(store.database(), Durability::normal);
  std::string v;
  tx.sql() << "SHOW server_version_num", soci::into(v);
  return std::stoi(v);
}

// Every SQL write form against a closed statement and an audit entry is refused by the database
// itself, whoever sends it: REPLACE and INSERT OR REPLACE (which delete without firing a DELETE
// trigger), upserts, UPDATE (OR REPLACE), DELETE, TRUNCATE, MERGE, a second row at the same place
// of a chain, a row without its chain.
TEST_P(StoreConformance, EveryWriteFormAgainstClosedRowsIsRefused) {
  store_->statements().close(std::vector<StatementRecord>{closed_record("support", "2026-10", 10)});
  store_->audit().append({0, t(1), "tok_1 finance", "finance", "POST /v1/periods/{period}/close", "/v1/periods/2026-10/close", "200"});
  store_->audit().append({0, t(2), "cli root", "admin", "token.revoke", "tok_1", "ok"});
  const auto statement_before = *store_->statements().find("support", 3, "2026-10");
  const auto audit_before = store_->audit().newest(10);
  const std::string total_1 = copy_of_closed({{"total_minor", "1"}});
  const std::string forked = copy_of_closed({{"period", "'2099-01'"}, {"total_minor", "1"}});
  const std::string unchained = copy_of_closed({{"period", "'2099-02'"}, {"chain_seq", "2"}, {"chain_sha256", "NULL"}});
  std::vector<std::string> forms{
      "UPDATE statements SET total_minor = 1",
      "UPDATE statements SET document = '{}', document_sha256 = 'x'",
      "DELETE FROM statements",
      "DELETE FROM statements WHERE contract = 'support'",
      "INSERT INTO statements " + total_1 + " ON CONFLICT (contract, version, period) DO UPDATE SET total_minor = excluded.total_minor",
      "INSERT INTO statements " + forked,
      "INSERT INTO statements " + unchained,
      "UPDATE audit_log SET actor = 'mallory'",
      "DELETE FROM audit_log",
      "DELETE FROM audit_log WHERE seq = 1",
      std::string("INSERT INTO audit_log ") + kAuditColumns + kAuditCopy + " ON CONFLICT (seq) DO UPDATE SET actor = excluded.actor",
      "INSERT INTO audit_log (seq, at, actor, role, action, target, outcome) VALUES (3, 0, 'mallory', 'admin', 'x', 'y', 'z')",
  };
  if (GetParam() == Backend::sqlite) {
    for (const std::string verb : {"REPLACE INTO", "INSERT OR REPLACE INTO", "INSERT OR IGNORE INTO", "INSERT OR ROLLBACK INTO"}) {
      forms.push_back(verb + " statements " + total_1);
      forms.push_back(verb + " statements " + forked);
      forms.push_back(verb + std::string(" audit_log ") + kAuditColumns + kAuditCopy);
    }
    forms.push_back("UPDATE OR REPLACE statements SET total_minor = 1");
    forms.push_back("UPDATE OR IGNORE statements SET total_minor = 1");
    forms.push_back("UPDATE OR REPLACE audit_log SET actor = 'mallory'");
  } else {
    forms.push_back("TRUNCATE statements");
    forms.push_back("TRUNCATE audit_log");
    forms.push_back("TRUNCATE statements, audit_log CASCADE");
    if (postgres_version(*store_) >= 150000) {
      forms.push_back("MERGE INTO statements s USING (SELECT 'support' AS c) x ON s.contract = x.c WHEN MATCHED THEN UPDATE SET total_minor = 1");
      forms.push_back("MERGE INTO statements s USING (SELECT 'support' AS c) x ON s.contract = x.c WHEN MATCHED THEN DELETE");
      forms.push_back("MERGE INTO audit_log a USING (SELECT 1 AS s) x ON a.seq = x.s WHEN MATCHED THEN DELETE");
    }
  }
  for (const auto& form : forms) {
    bool refused = false;
    try {
      Transaction tx(store_->database(), Durability::normal);
      tx.sql() << form;
      tx.commit();
    } catch (const std::exception&) {
      refused = true;
    }
    EXPECT_TRUE(refused) << form;
    const auto after = store_->statements().find("support", 3, "2026-10");
    ASSERT_TRUE(after) << form;
    EXPECT_EQ(after->total_minor, statement_before.total_minor) << form;
    EXPECT_EQ(after->document, statement_before.document) << form;
    EXPECT_EQ(after->chain_sha256, statement_before.chain_sha256) << form;
    EXPECT_EQ(store_->statements().all().size(), 1u) << form;
    const auto audit_after = store_->audit().newest(10);
    ASSERT_EQ(audit_after.size(), audit_before.size()) << form;
    for (std::size_t i = 0; i < audit_after.size(); ++i) {
      EXPECT_EQ(audit_after[i].actor, audit_before[i].actor) << form;
      EXPECT_EQ(audit_after[i].sha256, audit_before[i].sha256) << form;
    }
  }
  // The store's own writes still append.
  store_->statements().close(std::vector<StatementRecord>{closed_record("support", "2026-11", 20)});
  EXPECT_EQ(store_->statements().find("support", 3, "2026-11")->chain_seq, 2);
}

// Each closed statement records its document's SHA-256 and the chain hash of its contract's
// previous one; each audit entry chains to the one before. The hash is over the documented
// canonical text (keys sorted, no spaces, every value a string), computed here independently.
TEST_P(StoreConformance, ClosesAndAuditEntriesAreChained) {
  store_->statements().close(std::vector<StatementRecord>{closed_record("support", "2026-10", 10), closed_record("tokyo", "2026-10", 10)});
  auto nov = closed_record("support", "2026-11", 20);
  nov.approvals = R"([{"party":"brand"}])";
  nov.contract_canonical = R"({"contract":"support"})";
  store_->statements().close(std::vector<StatementRecord>{nov});
  const auto oct = *store_->statements().find("support", 3, "2026-10");
  const auto back = *store_->statements().find("support", 3, "2026-11");
  EXPECT_EQ(oct.chain_seq, 1);
  EXPECT_EQ(oct.previous_sha256, std::string(kGenesisSha256));
  EXPECT_EQ(oct.document_sha256, core::sha256_hex(oct.document));
  EXPECT_EQ(store_->statements().find("tokyo", 3, "2026-10")->chain_seq, 1) << "one chain per contract";
  EXPECT_EQ(back.chain_seq, 2);
  EXPECT_EQ(back.previous_sha256, oct.chain_sha256);
  EXPECT_EQ(back.approvals, nov.approvals);
  EXPECT_EQ(back.contract_canonical, nov.contract_canonical);
  const nlohmann::json preimage{{"approvals_sha256", core::sha256_hex(nov.approvals)},
                                {"closed_at", "2026-05-28T20:48:40Z"},
                                {"closed_by", "finance@brand.example"},
                                {"contract", "support"},
                                {"contract_canonical_sha256", core::sha256_hex(nov.contract_canonical)},
                                {"document_sha256", core::sha256_hex(nov.document)},
                                {"period", "2026-11"},
                                {"previous_sha256", oct.chain_sha256},
                                {"seq", "2"},
                                {"version", "3"}};
  EXPECT_EQ(core::format_rfc3339(back.closed_at), "2026-05-28T20:48:40Z");
  EXPECT_EQ(back.chain_sha256, core::sha256_hex(preimage.dump()));
  EXPECT_EQ(statement_chain_sha256(back), back.chain_sha256);

  store_->audit().append({0, t(1), "tok_1 finance", "finance", "GET /v1/compensation", "/v1/compensation?period=2026-10", "200"});
  store_->audit().append({0, t(2), "cli root", "admin", "token.revoke", "tok_1", "ok"});
  auto log = store_->audit().after(0, 10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].seq, 1);
  EXPECT_EQ(log[0].previous_sha256, std::string(kGenesisSha256));
  EXPECT_EQ(log[1].previous_sha256, log[0].sha256);
  const nlohmann::json entry{{"action", "token.revoke"}, {"actor", "cli root"}, {"at", core::format_rfc3339(t(2))},
                             {"outcome", "ok"}, {"previous_sha256", log[0].sha256}, {"role", "admin"}, {"seq", "2"},
                             {"target", "tok_1"}};
  EXPECT_EQ(log[1].sha256, core::sha256_hex(entry.dump()));
  EXPECT_EQ(store_->audit().newest(1)[0].sha256, log[1].sha256);
}

// A store at version 7 with closed statements and audit entries, closed out of order as older
// pactwatch allowed, migrates to the latest version (a gap in the numbering is fine: versions are
// applied by number, each once) and gets its chains in the same transaction.
TEST_P(StoreConformance, AStoreAtVersion7IsChainedWhenItMigrates) {
  testutils::TempDir other;
  const std::string url = GetParam() == Backend::sqlite ? "sqlite://" + (other.path() / "v7.db").string()
                                                        : testutils::shared_postgres().create_database("at_version_7");
  {
    const auto target = *parse_database_url(url, "");
    soci::session sql;
    if (GetParam() == Backend::sqlite) sql.open(soci::sqlite3, target.connect_string);
    else sql.open(soci::postgresql, target.connect_string);
    sql << "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";
    for (const auto& m : GetParam() == Backend::sqlite ? sqlite_migrations() : postgresql_migrations()) {
      if (m.version > 7) continue;
      for (const auto& statement : split_sql(m.sql)) sql << statement;
      const std::string name = m.name;
      sql << "INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, 'then')", soci::use(m.version), soci::use(name);
    }
    // support: November was closed before October (out of order, as older versions allowed).
    for (const auto& [contract, period, closed] : std::vector<std::tuple<std::string, std::string, int>>{
             {"support", "2026-11", 100}, {"support", "2026-10", 200}, {"tokyo", "2026-10", 150}}) {
      const std::string document = R"({"period":")" + period + "\"}";
      sql << "INSERT INTO statements (contract, version, period, partner, period_start, currency, own_minor, total_minor, "
             "carry_out_minor, contract_sha256, input_digest, engine_version, as_of, closed_at, closed_by, document) VALUES "
             "(:c, 3, :p, 'northwind', 0, 'EUR', 100, 100, 0, 'sha', 'd', '1', 0, :cl, 'finance', :doc)",
          soci::use(contract), soci::use(period), soci::use(closed), soci::use(document);
    }
    for (int i = 0; i < 3; ++i) {
      sql << "INSERT INTO audit_log (at, actor, role, action, target, outcome) VALUES (:a, 'cli root', 'admin', 'token.create', 'tok', 'ok')",
          soci::use(i);
    }
  }
  auto db = Store::open({url, "", 2});
  ASSERT_TRUE(db) << db.error();
  EXPECT_EQ((*db)->schema_status().current, 7);
  EXPECT_GE((*db)->migrate(t(0)), 1);
  EXPECT_TRUE((*db)->schema_status().up_to_date());
  // Each contract's chain in the order its statements were closed.
  const auto all = (*db)->statements().all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].period, "2026-11");
  EXPECT_EQ(all[0].chain_seq, 1);
  EXPECT_EQ(all[1].period, "2026-10");
  EXPECT_EQ(all[1].chain_seq, 2);
  EXPECT_EQ(all[1].previous_sha256, all[0].chain_sha256);
  EXPECT_EQ(all[2].contract, "tokyo");
  EXPECT_EQ(all[2].chain_seq, 1);
  for (const auto& r : all) {
    EXPECT_EQ(r.document_sha256, core::sha256_hex(r.document));
    EXPECT_EQ(statement_chain_sha256(r), r.chain_sha256);
  }
  const auto log = (*db)->audit().after(0, 10);
  ASSERT_EQ(log.size(), 3u);
  std::string previous(kGenesisSha256);
  for (const auto& e : log) {
    EXPECT_EQ(e.previous_sha256, previous);
    EXPECT_EQ(audit_chain_sha256(e), e.sha256);
    previous = e.sha256;
  }
  // Chained rows are as immutable as new ones; new closes and entries extend the chains.
  {
    Transaction tx((*db)->database(), Durability::normal);
    EXPECT_ANY_THROW(tx.sql() << "UPDATE statements SET total_minor = 1");
  }
  (*db)->statements().close(std::vector<StatementRecord>{closed_record("support", "2026-12", 300)});
  const auto dec = *(*db)->statements().find("support", 3, "2026-12");
  EXPECT_EQ(dec.chain_seq, 3);
  EXPECT_EQ(dec.previous_sha256, all[1].chain_sha256);
  (*db)->audit().append({0, t(5), "cli root", "admin", "token.revoke", "tok", "ok"});
  EXPECT_EQ((*db)->audit().after(3, 10).at(0).previous_sha256, previous);
}

}  // namespace
}  // namespace pactwatch::store
