// The dispute lifecycle (core/dispute.h): each refusal, and 2,000 random act sequences checked
// against a transition table written out by hand.
#include "pactwatch/core/dispute.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace pactwatch::core {
namespace {

DisputeAction act(DisputeAct what, Party party, std::int64_t seq, std::string comment = "why") {
  DisputeAction a;
  a.seq = seq;
  a.dispute = "d-1";
  a.act = what;
  a.party = party;
  a.actor = party == Party::brand ? "cli:ops" : "tok_nw";
  a.comment = std::move(comment);
  return a;
}

TEST(Dispute, NamesRoundTrip) {
  for (const auto c : dispute_categories()) EXPECT_EQ(dispute_category_from(to_string(c)), c);
  EXPECT_EQ(dispute_categories().size(), 6u);
  EXPECT_FALSE(dispute_category_from("weather").has_value());
  for (auto a : {DisputeAct::open, DisputeAct::comment, DisputeAct::accept, DisputeAct::reject, DisputeAct::withdraw}) {
    EXPECT_EQ(dispute_act_from(to_string(a)), a);
  }
  EXPECT_FALSE(dispute_act_from("escalate").has_value());
}

TEST(Dispute, EachRefusalSaysWhy) {
  auto refusal = [](DisputeState s, const DisputeAction& a) {
    auto r = check_dispute_act(s, a);
    return r ? std::string() : r.error();
  };
  EXPECT_NE(refusal(DisputeState::none, act(DisputeAct::open, Party::brand, 1)).find("only the partner"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::none, act(DisputeAct::open, Party::partner, 1, "")).find("needs a reason"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::none, act(DisputeAct::comment, Party::brand, 1)).find("not been opened"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::open, act(DisputeAct::accept, Party::partner, 2)).find("only the brand"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::open, act(DisputeAct::reject, Party::brand, 2, "")).find("needs a comment"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::accepted, act(DisputeAct::reject, Party::brand, 3)).find("already accepted"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::rejected, act(DisputeAct::withdraw, Party::partner, 3)).find("already rejected"), std::string::npos);
  EXPECT_NE(refusal(DisputeState::open, act(DisputeAct::withdraw, Party::brand, 2)).find("only the partner"), std::string::npos);
  EXPECT_TRUE(check_dispute_act(DisputeState::open, act(DisputeAct::accept, Party::brand, 2, "")));  // accepting needs no reason
  EXPECT_TRUE(check_dispute_act(DisputeState::accepted, act(DisputeAct::comment, Party::partner, 3)));
}

// The reference: (state, act, party, has comment) -> next state, or refused.
// `brand` below reads "the answering party": for a correction the partner answers the brand.
std::optional<DisputeState> reference(DisputeState s, DisputeAct a, Party p, bool comment, DisputeKind kind) {
  using S = DisputeState;
  using A = DisputeAct;
  const bool brand = kind == DisputeKind::dispute ? p == Party::brand : p == Party::partner;
  if (s == S::none) return a == A::open && !brand && comment ? std::optional(S::open) : std::nullopt;
  if (a == A::comment) return comment ? std::optional(s) : std::nullopt;
  if (s != S::open) return std::nullopt;
  if (a == A::accept && brand) return S::accepted;
  if (a == A::reject && brand && comment) return S::rejected;
  if (a == A::withdraw && !brand) return S::withdrawn;
  return std::nullopt;
}

TEST(Dispute, RandomSequencesAgreeWithTheTransitionTable) {
  for (const auto kind : {DisputeKind::dispute, DisputeKind::correction}) {
  SCOPED_TRACE(std::string(to_string(kind)));
  std::mt19937 rng(20261203);
  const DisputeAct acts[] = {DisputeAct::open, DisputeAct::comment, DisputeAct::accept, DisputeAct::reject, DisputeAct::withdraw};
  std::map<DisputeState, int> reached;
  for (int round = 0; round < 2000; ++round) {
    std::vector<DisputeAction> recorded;
    DisputeState want = DisputeState::none;
    const int steps = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < steps; ++i) {
      const auto a = acts[rng() % 5];
      const auto p = rng() % 2 ? Party::brand : Party::partner;
      const bool comment = rng() % 4 != 0;
      const auto candidate = act(a, p, static_cast<std::int64_t>(recorded.size() + 1), comment ? "text" : "");
      const auto next = reference(want, a, p, comment, kind);
      const auto got = check_dispute_act(dispute_state(recorded), candidate, kind);
      ASSERT_EQ(got.has_value(), next.has_value()) << "round " << round << " step " << i << " " << to_string(a);
      if (got) {
        recorded.push_back(candidate);
        want = *next;
      }
      ASSERT_EQ(dispute_state(recorded), want) << "round " << round;
    }
    ++reached[want];
  }
  for (auto s : {DisputeState::none, DisputeState::open, DisputeState::accepted, DisputeState::rejected, DisputeState::withdrawn}) {
    EXPECT_GT(reached[s], 0) << to_string(s) << " never reached: the sequences do not cover the table";
  }
  }
}

TEST(Dispute, ACorrectionIsTheBrandsToDeclareAndThePartnersToAnswer) {
  auto refusal = [](DisputeState s, const DisputeAction& a) {
    auto r = check_dispute_act(s, a, DisputeKind::correction);
    return r ? std::string() : r.error();
  };
  EXPECT_NE(refusal(DisputeState::none, act(DisputeAct::open, Party::partner, 1)).find("only the brand declares"), std::string::npos);
  EXPECT_EQ(refusal(DisputeState::none, act(DisputeAct::open, Party::brand, 1)), "");
  EXPECT_NE(refusal(DisputeState::open, act(DisputeAct::accept, Party::brand, 2)).find("only the partner accepts"), std::string::npos);
  EXPECT_EQ(refusal(DisputeState::open, act(DisputeAct::accept, Party::partner, 2)), "");
  EXPECT_NE(refusal(DisputeState::open, act(DisputeAct::withdraw, Party::partner, 2)).find("only the brand withdraws"), std::string::npos);
  EXPECT_EQ(dispute_kind_from("correction"), DisputeKind::correction);
  EXPECT_FALSE(dispute_kind_from("claim"));
}

TEST(Dispute, TheStateIsReadInSeqOrderWhateverOrderTheActsComeIn) {
  std::vector<DisputeAction> acts{act(DisputeAct::accept, Party::brand, 3), act(DisputeAct::open, Party::partner, 1),
                                  act(DisputeAct::comment, Party::brand, 2)};
  EXPECT_EQ(dispute_state(acts), DisputeState::accepted);
  acts.push_back(act(DisputeAct::reject, Party::brand, 4));  // a second resolution the store would refuse
  EXPECT_EQ(dispute_state(acts), DisputeState::accepted) << "the first resolution stands";
}

}  // namespace
}  // namespace pactwatch::core
