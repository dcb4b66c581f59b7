// Enforcement from recorded approvals (rules/approvals.h) on the shipped example contracts: the
// file's approvals block enforces nothing; both parties' recorded approvals of the current
// content do, and only they.
#include "pactwatch/rules/approvals.h"

#include <gtest/gtest.h>

#include <random>

namespace pactwatch::rules {
namespace {

const std::filesystem::path kSource = PACTWATCH_SOURCE_DIR;

RuleSet examples() {
  auto set = load_rule_set(kSource / "rules/examples");
  EXPECT_TRUE(set.has_value());
  return std::move(*set);
}

const ContractVersion& version(const RuleSet& set, const std::string& contract, int v) {
  auto found = find_version(set, contract, v);
  EXPECT_TRUE(found.has_value()) << (found ? "" : found.error());
  return **found;
}

core::ContractAction act(const ContractVersion& v, core::Party party, core::ContractAct what, std::int64_t seq,
                         std::string sha = "") {
  core::ContractAction a;
  a.seq = seq;
  a.contract = v.contract;
  a.version = v.version;
  a.sha256 = sha.empty() ? v.sha256 : std::move(sha);
  a.party = party;
  a.act = what;
  a.actor = party == core::Party::brand ? "cli:ops" : "tok_partner";
  a.actor_name = party == core::Party::brand ? "ops@brand.example" : "coo@partner.example";
  return a;
}

std::vector<core::ContractAction> agreed(const ContractVersion& v, std::int64_t first_seq) {
  return {act(v, core::Party::brand, core::ContractAct::propose, first_seq),
          act(v, core::Party::partner, core::ContractAct::approve, first_seq + 1),
          act(v, core::Party::brand, core::ContractAct::approve, first_seq + 2)};
}

TEST(RecordedApprovals, TheFilesApprovalsAloneEnforceNothingAndAreListedUnverified) {
  auto set = examples();
  ASSERT_TRUE(version(set, "northwind-support", 3).enforced);  // as parsed, the file says so
  EXPECT_TRUE(apply_recorded_approvals(set, {}).empty());
  for (const auto& v : set.contracts) {
    EXPECT_FALSE(v.enforced) << v.contract << " v" << v.version;
    ASSERT_TRUE(v.agreement.has_value());
    EXPECT_EQ(v.agreement->state, core::AgreementState::draft);
    EXPECT_EQ(v.unverified_approvals.size(), v.approvals.size()) << v.contract << " v" << v.version;
  }
}

TEST(RecordedApprovals, BothRecordedApprovalsOfTheCurrentContentEnforceAndBackTheFile) {
  auto set = examples();
  const auto acts = agreed(version(set, "northwind-support", 3), 1);
  EXPECT_TRUE(apply_recorded_approvals(set, acts).empty());
  const auto& v3 = version(set, "northwind-support", 3);
  EXPECT_TRUE(v3.enforced);
  EXPECT_EQ(v3.agreement->state, core::AgreementState::approved);
  EXPECT_TRUE(v3.unverified_approvals.empty()) << "the file's approvals are the recorded ones";
  EXPECT_NE(v3.status_note.find("coo@partner.example"), std::string::npos) << v3.status_note;
  EXPECT_FALSE(version(set, "northwind-support", 2).enforced) << "acts on v3 say nothing of v2";
}

TEST(RecordedApprovals, OneSideOrOtherContentEnforcesNothing) {
  auto set = examples();
  const auto& v3 = version(set, "northwind-support", 3);
  const std::string other(64, 'e');
  for (const auto& acts : std::vector<std::vector<core::ContractAction>>{
           {act(v3, core::Party::brand, core::ContractAct::propose, 1), act(v3, core::Party::brand, core::ContractAct::approve, 2)},
           {act(v3, core::Party::brand, core::ContractAct::propose, 1, other),
            act(v3, core::Party::partner, core::ContractAct::approve, 2, other),
            act(v3, core::Party::brand, core::ContractAct::approve, 3, other)},
           {act(v3, core::Party::partner, core::ContractAct::approve, 1), act(v3, core::Party::brand, core::ContractAct::approve, 2)}}) {
    auto copy = set;
    EXPECT_TRUE(apply_recorded_approvals(copy, acts).empty());
    EXPECT_FALSE(version(copy, "northwind-support", 3).enforced) << version(copy, "northwind-support", 3).status_note;
  }
}

TEST(RecordedApprovals, ALaterProposalSupersedesAPendingOneButNotAnAgreedOne) {
  auto set = examples();
  const auto& v2 = version(set, "northwind-support", 2);
  const auto& v3 = version(set, "northwind-support", 3);
  auto acts = agreed(v2, 1);
  acts.push_back(act(v3, core::Party::brand, core::ContractAct::propose, 4));
  EXPECT_TRUE(apply_recorded_approvals(set, acts).empty());
  EXPECT_TRUE(version(set, "northwind-support", 2).enforced);
  EXPECT_EQ(version(set, "northwind-support", 3).agreement->state, core::AgreementState::proposed);

  auto pending = examples();
  const std::vector<core::ContractAction> two = {act(version(pending, "northwind-support", 2), core::Party::brand, core::ContractAct::propose, 1),
                                                 act(version(pending, "northwind-support", 3), core::Party::brand, core::ContractAct::propose, 2)};
  EXPECT_TRUE(apply_recorded_approvals(pending, two).empty());
  EXPECT_EQ(version(pending, "northwind-support", 2).agreement->state, core::AgreementState::superseded);
}

TEST(RecordedApprovals, TwoRecordedVersionsInEffectOnOneDayAreAProblem) {
  auto set = examples();
  auto& v2 = const_cast<ContractVersion&>(version(set, "northwind-support", 2));
  v2.effective_until.reset();  // open-ended: it now overlaps v3
  auto acts = agreed(v2, 1);
  for (auto a : agreed(version(set, "northwind-support", 3), 4)) acts.push_back(a);
  const auto problems = apply_recorded_approvals(set, acts);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("overlaps enforced v2"), std::string::npos) << problems[0].message;
}

// Against a one-line reference: a version is enforced exactly when, among its own acts in order,
// the last propose named its current content, no reject, change request or withdrawal followed
// it, and both parties approved the current content after it.
TEST(RecordedApprovals, EnforcedExactlyWhenBothApprovedTheProposedCurrentContent) {
  const auto base = examples();
  std::mt19937 rng(7);
  const std::string other(64, 'f');
  int enforced_cases = 0;
  for (int round = 0; round < 2000; ++round) {
    auto set = base;
    const auto& v = version(set, "fabrikam-field", 1);
    std::vector<core::ContractAction> acts;
    // Approvals weighted up, so that agreement is reached often enough to test both answers.
    constexpr core::ContractAct kActs[] = {core::ContractAct::propose, core::ContractAct::approve, core::ContractAct::approve,
                                           core::ContractAct::approve, core::ContractAct::reject, core::ContractAct::request_changes,
                                           core::ContractAct::withdraw, core::ContractAct::comment};
    const int n = 2 + static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      const auto what = i == 0 && rng() % 2 ? core::ContractAct::propose : kActs[rng() % std::size(kActs)];
      const auto party = rng() % 2 ? core::Party::brand : core::Party::partner;
      acts.push_back(act(v, party, what, i + 1, rng() % 5 == 0 ? other : ""));
    }
    bool proposed = false, closed = false, brand = false, partner = false;
    for (const auto& a : acts) {
      switch (a.act) {
        case core::ContractAct::propose:
          proposed = a.sha256 == v.sha256;
          closed = brand = partner = false;
          break;
        case core::ContractAct::approve:
          (a.party == core::Party::brand ? brand : partner) = a.sha256 == v.sha256;
          break;
        case core::ContractAct::reject:
        case core::ContractAct::request_changes:
        case core::ContractAct::withdraw: closed = true; break;
        case core::ContractAct::comment: break;
      }
    }
    const bool expected = proposed && !closed && brand && partner;
    EXPECT_TRUE(apply_recorded_approvals(set, acts).empty());
    ASSERT_EQ(version(set, "fabrikam-field", 1).enforced, expected) << "round " << round;
    enforced_cases += expected ? 1 : 0;
  }
  EXPECT_GT(enforced_cases, 10);  // the generator reaches agreement, not only refusals
}

TEST(RecordedApprovals, AnUnknownVersionNamesTheVersionsThereAre) {
  const auto set = examples();
  auto v = find_version(set, "northwind-support", 7);
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().find("v2, v3"), std::string::npos) << v.error();
  auto c = find_version(set, "northwind-suport", 3);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().find("northwind-support"), std::string::npos) << c.error();
}

}  // namespace
}  // namespace pactwatch::rules
