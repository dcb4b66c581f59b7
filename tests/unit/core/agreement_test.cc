#include "pactwatch/core/agreement.h"

#include <gtest/gtest.h>

#include <random>

namespace pactwatch::core {
namespace {

const std::string kV1 = std::string(64, 'a');
const std::string kV1Edited = std::string(64, 'b');

struct Log {
  std::vector<ContractAction> acts;
  std::string sha = kV1;
  bool later = false;

  Agreement state() const { return agreement_of(acts, sha, later); }
  // Records the act when it may be recorded; returns the refusal otherwise.
  std::expected<void, std::string> act(Party party, ContractAct a, std::string comment = "", std::optional<std::string> sha256 = {}) {
    ContractAction x;
    x.seq = static_cast<std::int64_t>(acts.size()) + 1;
    x.contract = "support";
    x.version = 4;
    x.sha256 = sha256.value_or(sha);
    x.party = party;
    x.act = a;
    x.actor = party == Party::brand ? "tok_brand" : "tok_partner";
    x.comment = std::move(comment);
    auto ok = check_act(state(), x, sha);
    if (ok) acts.push_back(x);
    return ok;
  }
};

TEST(Agreement, BothApprovalsOfTheProposedContentAgreeIt) {
  Log log;
  EXPECT_EQ(log.state().state, AgreementState::draft);
  ASSERT_TRUE(log.act(Party::brand, ContractAct::propose));
  EXPECT_EQ(log.state().state, AgreementState::proposed);
  ASSERT_TRUE(log.act(Party::partner, ContractAct::approve));
  EXPECT_EQ(log.state().state, AgreementState::approved_by_partner);
  ASSERT_TRUE(log.act(Party::brand, ContractAct::approve));
  const auto a = log.state();
  EXPECT_EQ(a.state, AgreementState::approved);
  EXPECT_TRUE(a.agreed());
  ASSERT_TRUE(a.partner_approval);
  EXPECT_EQ(a.partner_approval->actor, "tok_partner");
}

TEST(Agreement, RefusesWhatTheLifecycleDoesNotAllow) {
  Log log;
  EXPECT_FALSE(log.act(Party::partner, ContractAct::approve)) << "approving a draft";
  EXPECT_FALSE(log.act(Party::partner, ContractAct::propose)) << "a partner proposing";
  ASSERT_TRUE(log.act(Party::brand, ContractAct::propose));
  EXPECT_FALSE(log.act(Party::brand, ContractAct::propose)) << "proposing twice";
  const auto stale = log.act(Party::partner, ContractAct::approve, "", kV1Edited);
  ASSERT_FALSE(stale) << "approving other content";
  EXPECT_NE(stale.error().find("stale"), std::string::npos) << stale.error();
  ASSERT_TRUE(log.act(Party::partner, ContractAct::approve));
  EXPECT_FALSE(log.act(Party::partner, ContractAct::approve)) << "approving twice";
  EXPECT_FALSE(log.act(Party::partner, ContractAct::withdraw)) << "a partner withdrawing";
  EXPECT_FALSE(log.act(Party::partner, ContractAct::reject)) << "rejecting without a reason";
  ASSERT_TRUE(log.act(Party::partner, ContractAct::comment, "why 95%?"));
  ASSERT_TRUE(log.act(Party::brand, ContractAct::withdraw));
  EXPECT_EQ(log.state().state, AgreementState::withdrawn);
  const auto late = log.act(Party::brand, ContractAct::approve);
  ASSERT_FALSE(late) << "approving a withdrawn version";
  EXPECT_NE(late.error().find("withdrawn"), std::string::npos) << late.error();
}

TEST(Agreement, AnEditAfterProposingVoidsTheApprovalsOfTheOldContent) {
  Log log;
  ASSERT_TRUE(log.act(Party::brand, ContractAct::propose));
  ASSERT_TRUE(log.act(Party::partner, ContractAct::approve));
  log.sha = kV1Edited;  // someone edits the file
  EXPECT_EQ(log.state().state, AgreementState::changed);
  EXPECT_FALSE(log.state().partner_approval) << "an approval of other content counts for nothing";
  EXPECT_FALSE(log.act(Party::brand, ContractAct::approve)) << "approving changed content before it is proposed";
  ASSERT_TRUE(log.act(Party::brand, ContractAct::propose));
  EXPECT_EQ(log.state().state, AgreementState::proposed) << "the partner approves again";
  ASSERT_TRUE(log.act(Party::partner, ContractAct::approve));
  ASSERT_TRUE(log.act(Party::brand, ContractAct::approve));
  EXPECT_TRUE(log.state().agreed());
  log.sha = kV1;  // and edited back: the agreement is of the other content
  EXPECT_FALSE(log.state().agreed());
}

TEST(Agreement, ALaterProposalSupersedesAnUnagreedOne) {
  Log log;
  ASSERT_TRUE(log.act(Party::brand, ContractAct::propose));
  ASSERT_TRUE(log.act(Party::brand, ContractAct::approve));
  log.later = true;
  EXPECT_EQ(log.state().state, AgreementState::superseded);
  EXPECT_FALSE(log.act(Party::partner, ContractAct::approve)) << "approving a superseded version";
  EXPECT_TRUE(log.act(Party::partner, ContractAct::comment, "noted"));

  Log agreed;
  ASSERT_TRUE(agreed.act(Party::brand, ContractAct::propose));
  ASSERT_TRUE(agreed.act(Party::brand, ContractAct::approve));
  ASSERT_TRUE(agreed.act(Party::partner, ContractAct::approve));
  agreed.later = true;
  EXPECT_EQ(agreed.state().state, AgreementState::approved) << "an agreed version stays agreed (its dates decide when it ends)";
}

// A random walk of acts by both sides, the refused ones not recorded: whatever the order, the
// version is agreed exactly when, since the last proposal of the current content, each party
// approved it (the simple reading of the rule, written here independently).
TEST(Agreement, AgreedExactlyWhenBothApprovedTheCurrentProposalProperty) {
  std::mt19937 rng(20261202);
  const ContractAct all[] = {ContractAct::propose, ContractAct::approve, ContractAct::approve, ContractAct::approve,
                             ContractAct::reject,  ContractAct::withdraw, ContractAct::comment};
  for (int walk = 0; walk < 2000; ++walk) {
    Log log;
    for (int step = 0; step < 12; ++step) {
      if (rng() % 10 == 0) log.sha = log.sha == kV1 ? kV1Edited : kV1;
      const Party party = rng() % 2 ? Party::brand : Party::partner;
      const ContractAct a = all[rng() % std::size(all)];
      const bool stale = rng() % 8 == 0;
      (void)log.act(party, a, rng() % 3 ? "because" : "", stale ? std::optional(std::string(64, 'c')) : std::nullopt);
    }
    // The reference: scan from the last proposal.
    bool brand = false, partner = false, closed = false, proposed = false;
    std::string proposed_sha;
    for (const auto& x : log.acts) {
      if (x.act == ContractAct::propose) brand = partner = closed = false, proposed = true, proposed_sha = x.sha256;
      if (x.act == ContractAct::approve && x.sha256 == log.sha) (x.party == Party::brand ? brand : partner) = true;
      if (x.act == ContractAct::reject || x.act == ContractAct::request_changes || x.act == ContractAct::withdraw) closed = true;
    }
    const bool expected = proposed && !closed && proposed_sha == log.sha && brand && partner;
    ASSERT_EQ(log.state().agreed(), expected) << "walk " << walk;
    // No party's approval is ever recorded twice for one proposal of one content.
    int approvals[2] = {0, 0};
    std::string at_sha;
    for (const auto& x : log.acts) {
      if (x.act == ContractAct::propose) approvals[0] = approvals[1] = 0, at_sha = x.sha256;
      if (x.act == ContractAct::approve && x.sha256 == at_sha) ++approvals[x.party == Party::brand ? 0 : 1];
      ASSERT_LE(approvals[0], 1);
      ASSERT_LE(approvals[1], 1);
    }
  }
}

TEST(Agreement, NamesRoundTrip) {
  for (auto a : {ContractAct::propose, ContractAct::approve, ContractAct::reject, ContractAct::request_changes,
                 ContractAct::withdraw, ContractAct::comment}) {
    EXPECT_EQ(contract_act_from(to_string(a)), a);
  }
  EXPECT_EQ(party_from("partner"), Party::partner);
  EXPECT_FALSE(party_from("finance"));
  EXPECT_FALSE(contract_act_from("sign"));
}

}  // namespace
}  // namespace pactwatch::core
