// Statements across periods against a real store (SQLite and PostgreSQL): earn-back of a credit,
// carry-forward below the minimum payout, adjustments for late data landing once, and closing
// then recomputing a period bit for bit.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include <soci/soci.h>

#include "pactwatch/core/digest.h"
#include "pactwatch/ledger/report.h"
#include "pactwatch/ledger/statements.h"
#include "pactwatch/ledger/verify.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::ledger {
namespace {

using store::Backend;
using nlohmann::json;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

const char* kCalendar =
    "timezone: UTC\nhours: {mon: [\"00:00-24:00\"], tue: [\"00:00-24:00\"], wed: [\"00:00-24:00\"], "
    "thu: [\"00:00-24:00\"], fri: [\"00:00-24:00\"], sat: [\"00:00-24:00\"], sun: [\"00:00-24:00\"]}\n";

std::string contract_text(const std::string& id, const std::string& partner, const std::string& compensation) {
  return "contract: " + id + "\nversion: 1\npartner: " + partner +
         "\neffective: {from: 2026-09-01}\ncurrency: EUR\ncalendar: always\n"
         "kpis:\n  - {id: p1, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 90%\"}, "
         "min_sample: 1, weight: 100}\ncompensation:\n" + compensation;
}

store::Item ticket(const std::string& id, const std::string& partner, const char* created, const char* reply,
                   const char* updated = nullptr) {
  store::Item i;
  i.source = "desk";
  i.external_id = id;
  i.kind = "tickets";
  i.partner_id = partner;
  i.created_at = T(created);
  i.updated_at = T(updated ? updated : created);
  i.payload = json{{"agent_replies", {reply}}}.dump();
  return i;
}

class StatementsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_.write("rules/partners.yaml", "partners:\n  - {id: acme, name: Acme, kind: outsourcer}\n"
                                      "  - {id: beta, name: Beta, kind: reseller}\n");
    dir_.write("rules/calendars/always.yaml", kCalendar);
    approved("acme-desk", "acme", "  base: {fixed: \"1000.00\"}\n  service_credits:\n    at_risk: 10%\n"
                                  "    allocations: {p1: 100%}\n    earn_back_after: 1\n");
    approved("beta-small", "beta", "  base: {fixed: \"80.00\"}\n  minimum_payout: \"100.00\"\n");
    auto r = rules::load_rule_set(dir_.path() / "rules");
    if (!r) throw std::runtime_error(r.error()[0].to_string());
    rules_ = std::move(*r);
    std::string url;
    if (GetParam() == Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / "s.db").string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("statements_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 2});
    if (!s) throw std::runtime_error(s.error());
    store_ = std::move(*s);
    store_->migrate(T("2026-01-01T00:00:00Z"));
  }

  // Writes a contract approved by both parties over its own hash.
  void approved(const std::string& id, const std::string& partner, const std::string& compensation) {
    const std::string text = contract_text(id, partner, compensation);
    const auto hash = *rules::contract_hash(text, id + ".yaml");
    dir_.write("rules/contracts/" + id + ".yaml",
               text + "approvals:\n  - {party: brand, by: b@brand.example, at: 2026-08-01T00:00:00Z, sha256: " + hash +
                   "}\n  - {party: partner, by: p@partner.example, at: 2026-08-01T00:00:00Z, sha256: " + hash + "}\n");
  }

  json statement(const std::string& period, const std::string& partner, const char* as_of) {
    Statements st(rules_, *store_);
    auto v = st.for_period(period, partner, T(as_of));
    EXPECT_TRUE(v) << (v ? "" : v.error());
    EXPECT_EQ(v->size(), 1u);
    return v->front().document;
  }

  static std::vector<std::string> lines(const json& doc, const std::string& kind) {
    std::vector<std::string> out;
    for (const auto& l : doc["lines"]) {
      if (l["kind"] == kind) out.push_back(l["amount"].get<std::string>());
    }
    return out;
  }

  // Raw SQL with the immutability triggers out of the way: someone with direct access to the
  // database, which is what the chains and `ledger verify` are for.
  void tamper(const std::string& sql) {
    store::Transaction tx(store_->database(), store::Durability::normal);
    if (GetParam() == Backend::sqlite) {
      for (const char* t : {"statements_no_update", "statements_no_delete", "statements_insert_once", "audit_log_no_update",
                            "audit_log_no_delete", "audit_log_insert_once"}) {
        tx.sql() << std::string("DROP TRIGGER IF EXISTS ") + t;
      }
    } else {
      tx.sql() << "ALTER TABLE statements DISABLE TRIGGER USER";
      tx.sql() << "ALTER TABLE audit_log DISABLE TRIGGER USER";
    }
    tx.sql() << sql;
    tx.commit();
  }

  // Closes a period as of two days after it ends, at a `now` a little later.
  void close(const std::string& period, const std::optional<std::string>& partner, const char* as_of) {
    Statements st(rules_, *store_);
    auto r = st.close(period, partner, T(as_of), T(as_of) + std::chrono::seconds(5), "finance");
    ASSERT_TRUE(r) << r.error();
  }

  testutils::TempDir dir_;
  rules::RuleSet rules_;
  std::unique_ptr<store::Store> store_;
};

TEST_P(StatementsTest, EarnBackCarryForwardAndAdjustmentsAcrossClosedPeriods) {
  // September: acme's one ticket waits three hours (credit 100.00); October and November: fast.
  store_->items().upsert(std::vector<store::Item>{
      ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z"),
      ticket("o1", "acme", "2026-10-10T08:00:00Z", "2026-10-10T08:10:00Z"),
      ticket("n1", "acme", "2026-11-10T08:00:00Z", "2026-11-10T08:10:00Z"),
  });
  auto sep = statement("2026-09", "acme", "2026-10-02T00:00:00Z");
  EXPECT_EQ(lines(sep, "credit"), std::vector<std::string>{"-100.00"});
  EXPECT_EQ(sep["total"], "900.00");
  // Beta earns 80.00 a month, under its 100.00 minimum payout: carried forward.
  auto beta_sep = statement("2026-09", "beta", "2026-10-02T00:00:00Z");
  EXPECT_EQ(beta_sep["total"], "0.00");
  EXPECT_EQ(beta_sep["carry_forward_out"], "80.00");

  Statements st(rules_, *store_);
  auto closed = st.close("2026-09", std::nullopt, T("2026-10-02T00:00:00Z"), T("2026-10-02T00:00:05Z"), "finance");
  ASSERT_TRUE(closed) << closed.error();
  ASSERT_EQ(closed->size(), 2u);

  // October: the KPI met again, so September's credit is earned back; Beta's carry arrives.
  auto oct = statement("2026-10", "acme", "2026-11-02T00:00:00Z");
  EXPECT_EQ(lines(oct, "earn_back"), std::vector<std::string>{"100.00"});
  EXPECT_EQ(oct["total"], "1100.00");
  auto beta_oct = statement("2026-10", "beta", "2026-11-02T00:00:00Z");
  EXPECT_EQ(lines(beta_oct, "carry_forward_in"), std::vector<std::string>{"80.00"});
  EXPECT_EQ(beta_oct["total"], "160.00");
  EXPECT_EQ(beta_oct["carry_forward_out"], "0.00");

  // Late correction: September's reply was in fact fast. The closed statement stays; October
  // gets +100.00 as an adjustment, and no earn-back (there is no credit left to earn back).
  store_->items().upsert(std::vector<store::Item>{
      ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T08:20:00Z", "2026-10-20T00:00:00Z")});
  EXPECT_EQ(json::parse(store_->statements().find("acme-desk", 1, "2026-09")->document)["total"], "900.00");
  oct = statement("2026-10", "acme", "2026-11-02T00:00:00Z");
  EXPECT_EQ(lines(oct, "adjustment"), std::vector<std::string>{"100.00"});
  EXPECT_TRUE(lines(oct, "earn_back").empty()) << oct.dump(2);
  EXPECT_EQ(oct["total"], "1100.00");

  // Close October with it; November must not repeat the adjustment.
  ASSERT_TRUE(st.close("2026-10", std::nullopt, T("2026-11-02T00:00:00Z"), T("2026-11-02T00:00:05Z"), "finance"));
  auto nov = statement("2026-11", "acme", "2026-12-02T00:00:00Z");
  EXPECT_TRUE(lines(nov, "adjustment").empty()) << nov.dump(2);
  EXPECT_EQ(nov["total"], "1000.00");

  // Re-closing October recomputes it as of its own instant: the same bytes.
  auto verify = st.close("2026-10", "acme", T("2026-12-02T00:00:00Z"), T("2026-12-02T00:00:05Z"), "finance");
  ASSERT_TRUE(verify);
  ASSERT_EQ(verify->size(), 1u);
  EXPECT_EQ((*verify)[0].kind, CloseOutcome::Kind::reproduced) << (*verify)[0].detail;
  // September, closed before the correction, reports the difference.
  auto sep_again = st.close("2026-09", "acme", T("2026-12-02T00:00:00Z"), T("2026-12-02T00:00:05Z"), "finance");
  ASSERT_TRUE(sep_again);
  EXPECT_EQ((*sep_again)[0].kind, CloseOutcome::Kind::differs);
}

TEST_P(StatementsTest, WhatIfNeverReadsOrWritesClosedStatements) {
  store_->items().upsert(std::vector<store::Item>{ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z")});
  Statements st(rules_, *store_);
  ASSERT_TRUE(st.close("2026-09", "acme", T("2026-10-02T00:00:00Z"), T("2026-10-02T00:00:05Z"), "finance"));
  const std::map<std::string, std::string> met{{"p1", "100%"}};
  auto wi = st.for_period("2026-09", "acme", T("2026-10-02T00:00:00Z"), &met);
  ASSERT_TRUE(wi) << wi.error();
  EXPECT_EQ((*wi)[0].status, "what_if");
  EXPECT_EQ((*wi)[0].document["total"], "1000.00");
  EXPECT_EQ(json::parse(store_->statements().find("acme-desk", 1, "2026-09")->document)["total"], "900.00");
  EXPECT_FALSE(st.for_period("2026-09", "nobody", T("2026-10-02T00:00:00Z")));
}

// Periods close strictly in order once a contract has a closed one. The first close may be any
// ended period; after closing November, September and October are refused (too late), January
// before December is refused (a gap), and what November carried arrives in December: no carried
// money is lost.
TEST_P(StatementsTest, PeriodsCloseInOrderWithoutGapsAndNoCarriedMoneyIsLost) {
  Statements st(rules_, *store_);
  ASSERT_TRUE(st.close("2026-11", "beta", T("2026-12-01T00:00:00Z"), T("2026-12-01T00:00:05Z"), "finance"));
  EXPECT_EQ(json::parse(store_->statements().find("beta-small", 1, "2026-11")->document)["carry_forward_out"], "80.00");
  auto sep = st.close("2026-09", "beta", T("2026-12-01T00:00:00Z"), T("2026-12-01T00:00:05Z"), "finance");
  ASSERT_FALSE(sep);
  EXPECT_EQ(sep.error(), "2026-09 can no longer be closed for beta-small: its periods close in order, and 2026-11 is closed "
                         "already (the next to close is 2026-12)");
  EXPECT_FALSE(st.close("2026-10", "beta", T("2026-12-01T00:00:00Z"), T("2026-12-01T00:00:05Z"), "finance"));
  auto jan = st.close("2027-01", "beta", T("2027-02-01T00:00:00Z"), T("2027-02-01T00:00:05Z"), "finance");
  ASSERT_FALSE(jan);
  EXPECT_EQ(jan.error(), "close 2026-12 first: beta-small's periods close in order, and 2026-12 comes after 2026-11, its last "
                         "closed period");
  EXPECT_FALSE(store_->statements().find("beta-small", 1, "2026-09"));
  EXPECT_FALSE(store_->statements().find("beta-small", 1, "2026-10"));
  EXPECT_FALSE(store_->statements().find("beta-small", 1, "2027-01"));
  // December: its own 80.00 and November's 80.00, paid (at the 100.00 minimum).
  ASSERT_TRUE(st.close("2026-12", "beta", T("2027-01-01T00:00:00Z"), T("2027-01-01T00:00:05Z"), "finance"));
  ASSERT_TRUE(st.close("2027-01", "beta", T("2027-02-01T00:00:00Z"), T("2027-02-01T00:00:05Z"), "finance"));
  // Every cent earned since the first close is paid or still carried.
  core::Money earned = core::Money::zero(*core::Currency::from_code("EUR")), paid = earned, carried = earned;
  for (const auto& r : store_->statements().of_contract("beta-small")) {
    const auto doc = json::parse(r.document);
    const auto eur = *core::Currency::from_code("EUR");
    earned += *core::Money::parse(doc["own"].get<std::string>(), eur);
    paid += *core::Money::parse(doc["total"].get<std::string>(), eur);
    carried = *core::Money::parse(doc["carry_forward_out"].get<std::string>(), eur);
  }
  EXPECT_EQ(earned.to_decimal(), "240.00");
  EXPECT_EQ(paid.to_decimal(), "160.00");
  EXPECT_EQ(carried.to_decimal(), "80.00");
  EXPECT_EQ(paid + carried, earned);
}

// A close names an instant that has passed: as of later than now is refused, whoever asks.
TEST_P(StatementsTest, AClosesAsOfLaterThanNowIsRefused) {
  Statements st(rules_, *store_);
  auto early = st.close("2026-12", "beta", T("2027-01-02T00:00:00Z"), T("2026-12-01T00:00:00Z"), "finance");
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error(), "as of 2027-01-02T00:00:00Z is later than now (2026-12-01T00:00:00Z): a period closes as of an instant "
                           "that has passed");
  EXPECT_FALSE(store_->statements().find("beta-small", 1, "2026-12"));
}

// Someone with raw access sets the carry_out column of a closed statement to 50,720.00 (it was
// 80.00). The next period never pays it: the ledger reads amounts from the closed document and
// checks every column against it, so the statement is refused as damaged, and verify names it.
TEST_P(StatementsTest, AnAlteredAmountColumnIsCaughtAndNeverPaid) {
  close("2026-09", "beta", "2026-10-02T00:00:00Z");
  ASSERT_TRUE(verify_ledger(rules_, *store_).ok());
  tamper("UPDATE statements SET carry_out_minor = 5072000 WHERE contract = 'beta-small' AND period = '2026-09'");
  Statements st(rules_, *store_);
  auto oct = st.for_period("2026-10", "beta", T("2026-11-02T00:00:00Z"));
  ASSERT_FALSE(oct);
  EXPECT_NE(oct.error().find("the carry_out_minor column says 5072000 (50720.00), its document's carry_forward_out 80.00"),
            std::string::npos)
      << oct.error();
  auto closing = st.close("2026-10", "beta", T("2026-11-02T00:00:00Z"), T("2026-11-02T00:00:05Z"), "finance");
  ASSERT_FALSE(closing);
  EXPECT_NE(closing.error().find("is damaged"), std::string::npos) << closing.error();
  EXPECT_FALSE(store_->statements().find("beta-small", 1, "2026-10"));
  // Re-closing September no longer says "recomputed bit for bit".
  EXPECT_FALSE(st.close("2026-09", "beta", T("2026-10-02T00:00:00Z"), T("2026-12-01T00:00:00Z"), "finance"));
  const auto report = verify_ledger(rules_, *store_);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.breaks[0].what.find("carry_out_minor"), std::string::npos) << verify_text(report);
  // Put back, the ledger verifies and October pays 80.00 + 80.00.
  tamper("UPDATE statements SET carry_out_minor = 8000 WHERE contract = 'beta-small' AND period = '2026-09'");
  EXPECT_TRUE(verify_ledger(rules_, *store_).ok());
  EXPECT_EQ(statement("2026-10", "beta", "2026-11-02T00:00:00Z")["total"], "160.00");
}

// `ledger verify` catches a changed byte in any column of a closed statement and of an audit
// entry; put back, it verifies again.
TEST_P(StatementsTest, VerifyCatchesAChangeInAnyColumnOfAStatementOrAnAuditEntry) {
  store_->items().upsert(std::vector<store::Item>{ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z")});
  close("2026-09", std::nullopt, "2026-10-02T00:00:00Z");
  close("2026-10", std::nullopt, "2026-11-02T00:00:00Z");
  store_->audit().append({0, T("2026-11-02T00:00:06Z"), "cli finance", "finance", "period.close", "2026-10", "ok"});
  store_->audit().append({0, T("2026-11-02T00:00:07Z"), "cli finance", "finance", "period.close", "2026-10", "ok"});
  const auto clean = verify_ledger(rules_, *store_);
  ASSERT_TRUE(clean.ok()) << verify_text(clean);
  EXPECT_EQ(clean.statements, 4);
  EXPECT_EQ(clean.audit_entries, 2);
  EXPECT_EQ(clean.rederived, 4);
  EXPECT_EQ(verify_text(clean).substr(0, 71), "verified 4 statement(s) of 2 contract(s) and 2 audit entries; 4 re-deri");
  const std::string where = " WHERE contract = 'acme-desk' AND period = '2026-09'";
  const std::vector<std::string> numbers{"version", "period_start", "own_minor", "total_minor", "carry_out_minor", "as_of", "closed_at",
                                         "chain_seq"};
  const std::vector<std::string> texts{"contract", "period", "partner", "currency", "contract_sha256", "input_digest", "engine_version",
                                       "closed_by", "document", "contract_canonical", "approvals", "document_sha256",
                                       "previous_sha256", "chain_sha256"};
  auto check = [&](const std::string& change, const std::string& undo, const std::string& subject) {
    tamper(change);
    const auto r = verify_ledger(rules_, *store_);
    EXPECT_FALSE(r.ok()) << change;
    if (!r.ok()) {
      EXPECT_NE(r.breaks[0].subject.find(subject), std::string::npos) << change << ": " << verify_text(r);
    }
    tamper(undo);
    EXPECT_TRUE(verify_ledger(rules_, *store_).ok()) << undo;
  };
  for (const auto& c : numbers) check("UPDATE statements SET " + c + " = " + c + " + 10" + where, "UPDATE statements SET " + c + " = " + c + " - 10" + where, "");
  for (const auto& c : texts) {
    const std::string moved = c == "contract" ? " WHERE contract = 'acme-deskx' AND period = '2026-09'"
                              : c == "period" ? " WHERE contract = 'acme-desk' AND period = '2026-09x'"
                                              : where;
    check("UPDATE statements SET " + c + " = " + c + " || 'x'" + where, "UPDATE statements SET " + c + " = substr(" + c + ", 1, length(" + c + ") - 1)" + moved, "");
  }
  // One byte inside the document: an amount, 1000.00 -> 1900.00.
  check("UPDATE statements SET document = replace(document, '\"1000.00\"', '\"1900.00\"')" + where,
        "UPDATE statements SET document = replace(document, '\"1900.00\"', '\"1000.00\"')" + where, "acme-desk v1 2026-09");
  for (const std::string c : {"actor", "role", "action", "target", "outcome", "previous_sha256", "sha256"}) {
    check("UPDATE audit_log SET " + c + " = " + c + " || 'x' WHERE seq = 1",
          "UPDATE audit_log SET " + c + " = substr(" + c + ", 1, length(" + c + ") - 1) WHERE seq = 1", "audit entry 1");
  }
  check("UPDATE audit_log SET at = at + 1 WHERE seq = 1", "UPDATE audit_log SET at = at - 1 WHERE seq = 1", "audit entry 1");
  check("UPDATE audit_log SET seq = 7 WHERE seq = 1", "UPDATE audit_log SET seq = 1 WHERE seq = 7", "audit entry");
  // A removed entry or statement is a break of the chain after it.
  check("DELETE FROM audit_log WHERE seq = 1",
        "INSERT INTO audit_log (seq, at, actor, role, action, target, outcome, previous_sha256, sha256) VALUES (1, " +
            std::to_string(core::to_unix_ms(T("2026-11-02T00:00:06Z"))) + ", 'cli finance', 'finance', 'period.close', '2026-10', 'ok', '" +
            std::string(store::kGenesisSha256) + "', '" + store_->audit().after(0, 1)[0].sha256 + "')",
        "audit entry 2");
}

// Re-derivation from the stored inputs tells a statement rewritten with its hashes recomputed
// (a break, though every hash agrees) from late data (not a break: an adjustment follows).
TEST_P(StatementsTest, ReDerivationTellsARewrittenStatementFromLateData) {
  store_->items().upsert(std::vector<store::Item>{ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z")});
  close("2026-09", "acme", "2026-10-02T00:00:00Z");
  const auto original = *store_->statements().find("acme-desk", 1, "2026-09");
  auto put = [&](const store::StatementRecord& r) {
    std::string quoted;
    for (char ch : r.document) quoted += ch == '\'' ? std::string("''") : std::string(1, ch);
    tamper("UPDATE statements SET document = '" + quoted + "', own_minor = " + std::to_string(r.own_minor) + ", total_minor = " +
           std::to_string(r.total_minor) + ", document_sha256 = '" + r.document_sha256 + "', chain_sha256 = '" + r.chain_sha256 +
           "' WHERE contract = 'acme-desk' AND period = '2026-09'");
  };
  // The head statement rewritten consistently: the base fee 1000.00 -> 1500.00 in its line,
  // steps, own and total, the columns to match, and its hashes recomputed.
  auto r = original;
  json doc = json::parse(r.document);
  doc["lines"][0]["amount"] = "1500.00";
  doc["lines"][0]["derivation"]["per_period"] = "1500.00";
  doc["lines"][0]["derivation"]["steps"][0]["value"] = "1500.00";
  doc["lines"][0]["derivation"]["steps"][0]["result"] = "1500.00";
  doc["own"] = "1400.00";
  doc["total"] = "1400.00";
  r.document = doc.dump();
  r.own_minor = r.total_minor = 140000;
  r.document_sha256 = core::sha256_hex(r.document);
  r.chain_sha256 = store::statement_chain_sha256(r);
  ASSERT_EQ(statement_damage(r), std::nullopt) << "consistent in itself";
  put(r);
  const auto rewritten = verify_ledger(rules_, *store_);
  ASSERT_FALSE(rewritten.ok());
  EXPECT_EQ(rewritten.breaks[0].subject, "statement acme-desk v1 2026-09 (#1 of its contract's chain)");
  EXPECT_EQ(rewritten.breaks[0].what, "recomputed now it totals 900.00 (closed: 1400.00), from unchanged inputs: the stored statement "
                                      "was altered");
  put(original);
  ASSERT_TRUE(verify_ledger(rules_, *store_).ok());
  // Late data: September's reply was fast after all. Not a break; the difference is adjusted.
  store_->items().upsert(std::vector<store::Item>{
      ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T08:20:00Z", "2026-10-20T00:00:00Z")});
  auto late = verify_ledger(rules_, *store_);
  EXPECT_TRUE(late.ok()) << verify_text(late);
  ASSERT_EQ(late.inputs_changed.size(), 1u);
  EXPECT_EQ(late.inputs_changed[0].what, "recomputed now it totals 1000.00 (closed: 900.00); its input changed since the close (late or "
                                         "corrected data: the difference becomes an adjustment in the next open period): 2026-09 (own)");
  EXPECT_NE(verify_text(late).find("inputs changed since the close (not a break)"), std::string::npos);
}

// The bundle of a closed statement checks with nothing but itself, and any change to it shows.
TEST_P(StatementsTest, ABundleVerifiesOfflineAndShowsAnyChange) {
  store_->items().upsert(std::vector<store::Item>{ticket("s1", "acme", "2026-09-10T08:00:00Z", "2026-09-10T11:00:00Z"),
                                                ticket("o1", "acme", "2026-10-10T08:00:00Z", "2026-10-10T08:10:00Z")});
  close("2026-09", "acme", "2026-10-02T00:00:00Z");
  close("2026-10", "acme", "2026-11-02T00:00:00Z");
  auto bundle = statement_bundle(rules_, *store_, "acme-desk", 1, "2026-10");
  ASSERT_TRUE(bundle) << bundle.error();
  EXPECT_EQ((*bundle)["format"], "pactwatch-statement-bundle/1");
  EXPECT_EQ((*bundle)["chain"].size(), 2u);
  EXPECT_EQ(core::sha256_hex((*bundle)["contract"]["canonical"].get<std::string>()), (*bundle)["contract"]["sha256"]);
  const json copy = json::parse(bundle->dump());  // as downloaded
  const auto ok = verify_bundle(copy);
  EXPECT_TRUE(ok.ok()) << ok.summary;
  EXPECT_NE(ok.summary.find("bundle verified: acme-desk v1 2026-10 of acme, total 1100.00 EUR; #2 of its contract's chain"),
            std::string::npos)
      << ok.summary;
  auto broken = [&](const std::function<void(json&)>& change) {
    json b = copy;
    change(b);
    return verify_bundle(b);
  };
  auto doc_byte = broken([](json& b) {
    auto d = b["statement"]["document"].get<std::string>();
    d.replace(d.find("1100.00"), 7, "1190.00");
    b["statement"]["document"] = d;
  });
  EXPECT_FALSE(doc_byte.ok());
  EXPECT_EQ(doc_byte.problems[0], "the document does not match its SHA-256");
  EXPECT_FALSE(broken([](json& b) { b["chain"][0]["closed_by"] = "someone else"; }).ok());
  EXPECT_FALSE(broken([](json& b) { b["chain"].erase(0); }).ok());
  EXPECT_FALSE(broken([](json& b) { b["contract"]["canonical"] = b["contract"]["canonical"].get<std::string>() + " "; }).ok());
  EXPECT_FALSE(broken([](json& b) { b["contract"]["approvals"][0]["by"] = "x@y"; }).ok());
  EXPECT_FALSE(broken([](json& b) { b["input_digest"] = "0"; }).ok());
  EXPECT_FALSE(statement_bundle(rules_, *store_, "acme-desk", 1, "2026-11"));
}

// The finance CSV names the partner and describes the contract; a name or description that a
// spreadsheet would run as a formula is neutralised with a leading apostrophe.
TEST_P(StatementsTest, TheFinanceCsvNeutralisesNamesAndDescriptionsThatLookLikeFormulas) {
  testutils::TempDir dir;
  // A name and a description beginning with each character a spreadsheet reads as a formula.
  const std::vector<std::pair<std::string, std::string>> texts{
      {"=HYPERLINK(\"http://evil.example\",\"x\")", "=1+1 runs the desk"},
      {"+1+2 Partners", "+ support in the EU"},
      {"-2+3 Ltd", "-cmd|' /C calc'!A0"},
      {"@SUM(A1:A9)", "@ the brand's sites"},
      {"\tTab Ltd", "\tfield service"},
      {"\rCR Ltd", "\rreturns, with a, comma"}};
  std::string partners = "partners:\n";
  for (std::size_t i = 0; i < texts.size(); ++i) {
    partners += "  - {id: p" + std::to_string(i) + ", name: " + json(texts[i].first).dump() + ", kind: reseller}\n";
    dir.write("rules/contracts/c" + std::to_string(i) + ".yaml",
              "contract: c" + std::to_string(i) + "\nversion: 1\npartner: p" + std::to_string(i) + "\ndescription: " +
                  json(texts[i].second).dump() +
                  "\neffective: {from: 2026-09-01}\ncurrency: EUR\ncalendar: always\nkpis:\n  - {id: p1, source: tickets, "
                  "measure: {ratio: first_reply <= 1h}, objective: {target: \">= 90%\"}}\ncompensation:\n  base: {fixed: \"10.00\"}\n");
  }
  dir.write("rules/partners.yaml", partners);
  dir.write("rules/calendars/always.yaml", kCalendar);
  auto rules = rules::load_rule_set(dir.path() / "rules");
  ASSERT_TRUE(rules) << rules.error()[0].to_string();
  Statements st(*rules, *store_);
  auto views = st.for_period("2026-10", std::nullopt, T("2026-11-02T00:00:00Z"));
  ASSERT_TRUE(views) << views.error();
  const std::string csv = report_csv(make_report("2026-10", T("2026-11-02T00:00:00Z"), *views));
  // An RFC 4180 reader of our own: fields, quoted with doubled quotes, rows ending in CRLF.
  std::vector<std::vector<std::string>> rows{{}};
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < csv.size(); ++i) {
    const char ch = csv[i];
    if (quoted) {
      if (ch == '"' && i + 1 < csv.size() && csv[i + 1] == '"') field += csv[++i];
      else if (ch == '"') quoted = false;
      else field += ch;
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      rows.back().push_back(std::exchange(field, ""));
    } else if (ch == '\r' && i + 1 < csv.size() && csv[i + 1] == '\n') {
      rows.back().push_back(std::exchange(field, ""));
      rows.emplace_back();
      ++i;
    } else {
      field += ch;
    }
  }
  rows.pop_back();
  ASSERT_EQ(rows.size(), 1u + texts.size()) << "a header and a row each; drafts (previews) make no TOTAL row";
  const auto& header = rows[0];
  const auto name_col = std::find(header.begin(), header.end(), "partner_name") - header.begin();
  const auto desc_col = std::find(header.begin(), header.end(), "contract_description") - header.begin();
  ASSERT_EQ(static_cast<std::size_t>(desc_col), header.size() - 1);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), header.size()) << csv;
    EXPECT_EQ(row[0], "p" + std::to_string(i));
    EXPECT_EQ(row[static_cast<std::size_t>(name_col)], "'" + texts[i].first);
    EXPECT_EQ(row[static_cast<std::size_t>(desc_col)], "'" + texts[i].second);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StatementsTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::ledger
