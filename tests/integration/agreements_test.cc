// A contract version from proposal to enforcement against a real store (SQLite and PostgreSQL):
// the parties' acts recorded through ledger::record_act, enforcement only from recorded
// approvals (never from the file's approvals block), the lifecycle's refusals, and the one-time
// adoption of a file's approvals with its audit entry.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "pactwatch/ledger/agreements.h"
#include "pactwatch/ledger/statements.h"
#include "pactwatch/ledger/verify.h"
#include "pactwatch/rules/approvals.h"
#include "pg_server.h"
#include "temp_dir.h"

namespace pactwatch::ledger {
namespace {

using store::Backend;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

const std::filesystem::path kSource = PACTWATCH_SOURCE_DIR;

// A contract file's text without its approvals block (which sits between `effective` and
// `currency` in the examples).
std::string without_approvals(std::string text) {
  const auto from = text.find("approvals:");
  return text.erase(from, text.find("currency:") - from);
}

class AgreementsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::filesystem::copy(kSource / "rules/examples", dir_.path() / "rules", std::filesystem::copy_options::recursive);
    std::string url;
    if (GetParam() == Backend::sqlite) {
      url = "sqlite://" + (dir_.path() / "a.db").string();
    } else {
      static std::atomic<int> n{0};
      url = testutils::shared_postgres().create_database("agreements_" + std::to_string(++n));
    }
    auto s = store::Store::open({url, "", 2});
    if (!s) throw std::runtime_error(s.error());
    store_ = std::move(*s);
    store_->migrate(T("2026-01-01T00:00:00Z"));
  }

  rules::RuleSet in_force() {
    auto r = rules_in_force(dir_.path() / "rules", *store_);
    EXPECT_TRUE(r.has_value());
    return std::move(*r);
  }

  static const rules::ContractVersion& v(const rules::RuleSet& set, const std::string& contract, int version) {
    return **rules::find_version(set, contract, version);
  }

  std::expected<core::ContractAction, std::string> act(core::Party party, core::ContractAct what, const std::string& contract,
                                                       int version, std::string sha = "", std::string comment = "") {
    // An approval names the content it approves: the version's current content unless given.
    if (what == core::ContractAct::approve && sha.empty()) {
      const auto set = in_force();
      if (auto found = rules::find_version(set, contract, version)) sha = (*found)->sha256;
    }
    core::ContractAction a;
    a.contract = contract;
    a.version = version;
    a.party = party;
    a.act = what;
    a.sha256 = std::move(sha);
    a.comment = std::move(comment);
    const Actor who = party == core::Party::brand ? Actor{"cli:ops", "ops@brand.example", "admin"}
                                                  : Actor{"tok_nw", "coo@northwind.example", "partner"};
    return record_act(*store_, in_force(), a, who, T("2026-11-20T10:00:00Z"));
  }

  testutils::TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_P(AgreementsTest, AFileApprovalsBlockAloneEnforcesNothing) {
  const auto set = in_force();
  for (const auto& c : set.contracts) {
    EXPECT_FALSE(c.enforced) << c.contract << " v" << c.version << ": " << c.status_note;
    EXPECT_EQ(c.unverified_approvals.size(), c.approvals.size());
  }
}

TEST_P(AgreementsTest, ProposedThenApprovedByBothIsEnforcedWithEveryStepAudited) {
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::comment, "northwind-support", 3, "", "why 30 min?"));
  EXPECT_EQ(v(in_force(), "northwind-support", 3).agreement->state, core::AgreementState::proposed);
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 3));
  EXPECT_FALSE(v(in_force(), "northwind-support", 3).enforced);
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::approve, "northwind-support", 3));
  const auto set = in_force();
  EXPECT_TRUE(v(set, "northwind-support", 3).enforced) << v(set, "northwind-support", 3).status_note;
  EXPECT_FALSE(v(set, "northwind-support", 2).enforced);
  std::vector<std::string> actions;
  const auto entries = store_->audit().newest(10);
  for (const auto& e : entries) actions.push_back(e.action + " " + e.target + " " + e.actor);
  // Each names the content acted on and who by name, as the act's row does.
  EXPECT_EQ(entries.at(1).outcome, "partner coo@northwind.example sha256 " + v(set, "northwind-support", 3).sha256);
  EXPECT_EQ(entries.at(2).outcome,
            "partner coo@northwind.example sha256 " + v(set, "northwind-support", 3).sha256 + ": why 30 min?");
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_EQ(actions[0], "contract.approve northwind-support v3 cli:ops");
  EXPECT_EQ(actions[1], "contract.approve northwind-support v3 tok_nw");
  EXPECT_EQ(actions[3], "contract.propose northwind-support v3 cli:ops");
}

// A version agreed only through recorded acts (its file carries no approvals block) closes its
// periods with the recorded approvals frozen into the statement, and the ledger and the
// statement's bundle verify.
TEST_P(AgreementsTest, AStatementClosedUnderRecordedApprovalsVerifies) {
  const auto file = dir_.path() / "rules/contracts/northwind-support-v3.yaml";
  std::string text;
  {
    std::ifstream in(file);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ofstream(file) << without_approvals(text);
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::approve, "northwind-support", 3));
  const auto set = in_force();
  ASSERT_TRUE(v(set, "northwind-support", 3).enforced);
  Statements statements(set, *store_);
  auto closed = statements.close("2026-10", std::string("northwind"), T("2026-11-05T00:00:00Z"), T("2026-11-20T11:00:00Z"), "test");
  ASSERT_TRUE(closed) << closed.error();
  ASSERT_EQ(closed->size(), 1u);
  const auto report = verify_ledger(set, *store_);
  EXPECT_TRUE(report.ok()) << verify_text(report);
  auto bundle = statement_bundle(set, *store_, "northwind-support", 3, "2026-10");
  ASSERT_TRUE(bundle) << bundle.error();
  const auto check = verify_bundle(*bundle);
  EXPECT_TRUE(check.ok()) << check.summary;
  const auto records = store_->statements().of_contract("northwind-support");
  ASSERT_EQ(records.size(), 1u);
  const auto approvals = nlohmann::json::parse(records[0].approvals);
  ASSERT_EQ(approvals.size(), 2u) << approvals.dump();
  EXPECT_EQ(approvals[0]["actor"], "cli:ops");
  EXPECT_EQ(approvals[1]["actor"], "tok_nw");
  EXPECT_EQ(approvals[1]["sha256"], v(set, "northwind-support", 3).sha256);
}

TEST_P(AgreementsTest, TheLifecyclesRefusalsStoreNothing) {
  const std::string stale(64, 'b');
  auto refused = [&](std::expected<core::ContractAction, std::string> r, const std::string& why) {
    ASSERT_FALSE(r.has_value()) << "expected a refusal: " << why;
    EXPECT_NE(r.error().find(why), std::string::npos) << r.error();
  };
  refused(act(core::Party::brand, core::ContractAct::approve, "fabrikam-field", 1), "has not been proposed");
  refused(act(core::Party::partner, core::ContractAct::propose, "fabrikam-field", 1), "only the brand proposes");
  refused(act(core::Party::brand, core::ContractAct::propose, "fabrikam-field", 9), "has no v9");
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "fabrikam-field", 1));
  refused(act(core::Party::partner, core::ContractAct::approve, "fabrikam-field", 1, stale), "stale approval");
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "fabrikam-field", 1));
  refused(act(core::Party::partner, core::ContractAct::approve, "fabrikam-field", 1), "already approved by the partner");
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::withdraw, "fabrikam-field", 1, "", "wrong rate"));
  refused(act(core::Party::brand, core::ContractAct::approve, "fabrikam-field", 1), "was withdrawn");
  // A later proposal supersedes a pending one.
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 2));
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  refused(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 2), "was superseded");
  EXPECT_EQ(store_->agreements().all().size(), 5u);  // the refusals recorded nothing
  EXPECT_EQ(store_->audit().newest(20).size(), 5u);
}

TEST_P(AgreementsTest, AdoptingAFilesApprovalsRecordsThemOnceVouchedFor) {
  const Actor who{"cli:ops", "ops", "admin"};
  auto set = in_force();
  const auto& v3 = v(set, "northwind-support", 3);
  auto first = adopt_file_approvals(*store_, set, v3, "legal@brand.example", who, T("2026-11-20T10:00:00Z"));
  ASSERT_TRUE(first) << first.error();
  ASSERT_EQ(first->size(), 3u);  // propose, brand approve, partner approve
  for (const auto& a : v3.approvals) {
    if (a.party == "partner") {
      EXPECT_EQ((*first)[2].actor_name, a.by + ", vouched for by legal@brand.example") << "the approver the file names";
    }
  }
  EXPECT_NE((*first)[0].comment.find("vouched for by legal@brand.example"), std::string::npos);
  auto again = adopt_file_approvals(*store_, set, v3, "legal@brand.example", who, T("2026-11-20T10:01:00Z"));
  ASSERT_TRUE(again) << again.error();
  EXPECT_TRUE(again->empty());
  const auto after = in_force();
  EXPECT_TRUE(v(after, "northwind-support", 3).enforced);
  EXPECT_TRUE(v(after, "northwind-support", 3).unverified_approvals.empty());
  const auto audit = store_->audit().newest(10);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "contract.adopt");
  EXPECT_NE(audit[0].outcome.find("sha256 " + v3.sha256), std::string::npos) << audit[0].outcome;
  // A file that does not carry both approvals of its content has nothing to adopt.
  auto unsigned_one = adopt_file_approvals(*store_, after, v(after, "contoso-resale", 1), "legal@brand.example", who,
                                           T("2026-11-20T10:02:00Z"));
  ASSERT_FALSE(unsigned_one);
  EXPECT_NE(unsigned_one.error().find("does not carry both parties' approvals"), std::string::npos) << unsigned_one.error();
  EXPECT_FALSE(adopt_file_approvals(*store_, after, v(after, "fabrikam-field", 1), "", who, T("2026-11-20T10:02:00Z")));
}

TEST_P(AgreementsTest, EditingAnAgreedVersionsFileUnenforcesIt) {
  const Actor who{"cli:ops", "ops", "admin"};
  const auto before = in_force();
  ASSERT_TRUE(adopt_file_approvals(*store_, before, v(before, "tailspin-supply", 1), "legal@brand.example", who, T("2026-11-20T10:00:00Z")));
  ASSERT_TRUE(v(in_force(), "tailspin-supply", 1).enforced);
  const auto file = dir_.path() / "rules/contracts/tailspin-supply-v1.yaml";
  std::string text = *core::read_file(file.string());
  text.replace(text.find("description:"), 12, "description: (edited)");
  std::ofstream(file, std::ios::trunc) << text;
  const auto set = in_force();
  EXPECT_FALSE(v(set, "tailspin-supply", 1).enforced) << v(set, "tailspin-supply", 1).status_note;
  EXPECT_EQ(v(set, "tailspin-supply", 1).agreement->state, core::AgreementState::changed);
}

// The attack adopt must not allow: an agreed version's file edited (new terms) with approval
// lines for the new hash typed in, then adopted again.
TEST_P(AgreementsTest, AnEditedFileWithForgedApprovalsCannotBeAdoptedOverRecordedActs) {
  const Actor who{"cli:ops", "ops", "admin"};
  const auto before = in_force();
  ASSERT_TRUE(adopt_file_approvals(*store_, before, v(before, "northwind-support", 3), "legal@brand.example", who,
                                   T("2026-11-20T10:00:00Z")));
  const auto file = dir_.path() / "rules/contracts/northwind-support-v3.yaml";
  std::string text = *core::read_file(file.string());
  text = without_approvals(text);
  text.replace(text.find("description:"), 12, "description: (cheaper)");
  std::ofstream(file, std::ios::trunc) << text;
  const std::string hash = *rules::contract_hash(text, file.string());
  std::ofstream(file, std::ios::app) << "approvals:\n  - {party: brand, by: x@brand.example, at: 2026-11-21T00:00:00Z, sha256: "
                                     << hash << "}\n  - {party: partner, by: y@northwind.example, at: 2026-11-21T00:00:00Z, sha256: "
                                     << hash << "}\n";
  const auto edited = in_force();
  EXPECT_FALSE(v(edited, "northwind-support", 3).enforced);
  auto forged = adopt_file_approvals(*store_, edited, v(edited, "northwind-support", 3), "mallory", who, T("2026-11-21T10:00:00Z"));
  ASSERT_FALSE(forged);
  EXPECT_NE(forged.error().find("has recorded acts already (changed)"), std::string::npos) << forged.error();
  EXPECT_FALSE(v(in_force(), "northwind-support", 3).enforced);
  EXPECT_EQ(v(in_force(), "northwind-support", 3).unverified_approvals.size(), 2u);
}

// Restoring an agreed version's file after an edit enforces it again: an approval given while it
// was edited must still be refused when its dates overlap, or the restored file would stop every
// process from loading the rules (the hostile review's repro).
TEST_P(AgreementsTest, AnEditedAgreedVersionStillBlocksAnOverlappingApproval) {
  const auto v3_file = dir_.path() / "rules/contracts/northwind-support-v3.yaml";
  const std::string original = *core::read_file(v3_file.string());
  std::string v4 = without_approvals(original);
  v4.replace(v4.find("version: 3"), 10, "version: 4");
  v4.replace(v4.find("from: 2026-01-01"), 16, "from: 2026-12-01");
  std::ofstream(dir_.path() / "rules/contracts/northwind-support-v4.yaml") << v4;
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::approve, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 3));
  std::string edited = original;
  edited.replace(edited.find("description:"), 12, "description: (edited)");
  std::ofstream(v3_file, std::ios::trunc) << edited;
  ASSERT_FALSE(v(in_force(), "northwind-support", 3).enforced) << "edited: enforces nothing today";
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 4));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 4));
  auto second = act(core::Party::brand, core::ContractAct::approve, "northwind-support", 4);
  ASSERT_FALSE(second) << "v3 is agreed on the content last proposed";
  EXPECT_NE(second.error().find("while agreed v3"), std::string::npos) << second.error();
  std::ofstream(v3_file, std::ios::trunc) << original;
  EXPECT_TRUE(rules_in_force(dir_.path() / "rules", *store_).has_value()) << "the restored file loads";
}

// What every act must carry, whatever the surface it comes from: an approval names its hash; a
// comment, rejection or change request says something (not blanks); no control characters; no
// comment posing as an adoption's.
TEST_P(AgreementsTest, ActsWithoutTheirSubstanceAreRefused) {
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  core::ContractAction empty_sha;
  empty_sha.contract = "northwind-support";
  empty_sha.version = 3;
  empty_sha.party = core::Party::partner;
  empty_sha.act = core::ContractAct::approve;
  auto r = record_act(*store_, in_force(), empty_sha, {"tok_nw", "coo", "partner"}, T("2026-11-20T10:00:00Z"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("names the content hash"), std::string::npos) << r.error();
  EXPECT_FALSE(act(core::Party::partner, core::ContractAct::comment, "northwind-support", 3, "", " \n\t "));
  EXPECT_FALSE(act(core::Party::partner, core::ContractAct::request_changes, "northwind-support", 3, "", " \n"));
  EXPECT_FALSE(act(core::Party::partner, core::ContractAct::comment, "northwind-support", 3, "", std::string("a\0b", 3)));
  EXPECT_FALSE(act(core::Party::partner, core::ContractAct::comment, "northwind-support", 3, "", "adopted from the approvals block of x"));
  EXPECT_TRUE(act(core::Party::partner, core::ContractAct::comment, "northwind-support", 3, "", "line one\r\nline two"));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::reject, "northwind-support", 3, "", "too tight"));
  EXPECT_FALSE(act(core::Party::brand, core::ContractAct::comment, "northwind-support", 3, "", "")) << "blank, though rejected";
  EXPECT_EQ(store_->agreements().of("northwind-support").size(), 3u);
}

// adopt is a migration: once a contract has gone the recorded way, approval lines typed into a
// new version's file are never adopted (the hostile review's repro: they enforced a new version
// and superseded the partner's pending one).
TEST_P(AgreementsTest, AContractThatWentTheRecordedWayAdoptsNothingMore) {
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  std::string text = without_approvals(*core::read_file((dir_.path() / "rules/contracts/northwind-support-v3.yaml").string()));
  text.replace(text.find("version: 3"), 10, "version: 5");
  text.replace(text.find("effective: {from: 2026-01-01, until: 2026-12-31}"), 48, "effective: {from: 2028-01-01, until: 2028-12-31}");
  const auto file = dir_.path() / "rules/contracts/northwind-support-v5.yaml";
  std::ofstream(file) << text;
  const std::string hash = *rules::contract_hash(text, file.string());
  std::ofstream(file, std::ios::app) << "approvals:\n  - {party: brand, by: x@brand.example, at: 2026-11-21T00:00:00Z, sha256: " << hash
                                     << "}\n  - {party: partner, by: y@northwind.example, at: 2026-11-21T00:00:00Z, sha256: " << hash << "}\n";
  const auto set = in_force();
  auto adopted = adopt_file_approvals(*store_, set, v(set, "northwind-support", 5), "mallory", {"cli:ops", "ops", "admin"},
                                      T("2026-11-21T10:00:00Z"));
  ASSERT_FALSE(adopted);
  EXPECT_NE(adopted.error().find("never adopted"), std::string::npos) << adopted.error();
  EXPECT_FALSE(v(in_force(), "northwind-support", 5).enforced);
  EXPECT_EQ(v(in_force(), "northwind-support", 3).agreement->state, core::AgreementState::proposed) << "not superseded";
  // Another contract, never acted on, still migrates.
  const auto again = in_force();
  EXPECT_TRUE(adopt_file_approvals(*store_, again, v(again, "tailspin-supply", 1), "legal", {"cli:ops", "ops", "admin"},
                                   T("2026-11-21T10:00:00Z")));
}

// Two agreed versions in effect on one day would stop every process from loading the rules: the
// approval that would make the second is refused, and so is proposing an older version.
TEST_P(AgreementsTest, AnApprovalThatWouldOverlapAnAgreedVersionIsRefused) {
  const auto file = dir_.path() / "rules/contracts/northwind-support-v4.yaml";
  std::string text = *core::read_file((dir_.path() / "rules/contracts/northwind-support-v3.yaml").string());
  text = without_approvals(text);
  text.replace(text.find("version: 3"), 10, "version: 4");
  text.replace(text.find("from: 2026-01-01"), 16, "from: 2026-12-01");
  std::ofstream(file) << text;
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::approve, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 3));
  ASSERT_TRUE(act(core::Party::brand, core::ContractAct::propose, "northwind-support", 4));
  ASSERT_TRUE(act(core::Party::partner, core::ContractAct::approve, "northwind-support", 4));
  auto second = act(core::Party::brand, core::ContractAct::approve, "northwind-support", 4);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find("while agreed v3 (2026-01-01 to 2026-12-31) is in effect on the same days"), std::string::npos)
      << second.error();
  auto older = act(core::Party::brand, core::ContractAct::propose, "northwind-support", 2);
  ASSERT_FALSE(older);
  EXPECT_NE(older.error().find("a later version of northwind-support is already proposed"), std::string::npos) << older.error();
  EXPECT_TRUE(rules_in_force(dir_.path() / "rules", *store_).has_value()) << "the rules still load";
}

// A file's approvals cannot stop the rules loading either: v4's forged approvals overlap v3's
// dates, which the files alone would call two enforced versions on one day.
TEST_P(AgreementsTest, FileApprovalsThatOverlapDoNotStopTheRulesLoading) {
  std::string text = without_approvals(*core::read_file((dir_.path() / "rules/contracts/northwind-support-v3.yaml").string()));
  text.replace(text.find("version: 3"), 10, "version: 4");
  const auto file = dir_.path() / "rules/contracts/northwind-support-v4.yaml";
  const std::string hash = *rules::contract_hash(text, file.string());
  std::ofstream(file) << text << "approvals:\n  - {party: brand, by: x@brand.example, at: 2026-11-21T00:00:00Z, sha256: " << hash
                      << "}\n  - {party: partner, by: y@northwind.example, at: 2026-11-21T00:00:00Z, sha256: " << hash << "}\n";
  EXPECT_FALSE(rules::load_rule_set(dir_.path() / "rules").has_value()) << "read from the files, v3 and v4 overlap";
  const auto set = in_force();
  EXPECT_FALSE(v(set, "northwind-support", 4).enforced);
  EXPECT_EQ(v(set, "northwind-support", 4).unverified_approvals.size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, AgreementsTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::ledger
