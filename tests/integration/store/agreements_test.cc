// The store conformance suite: the parties' acts on contract versions (Agreements), on SQLite and
// PostgreSQL.
#include "store_conformance.h"

#include "pactwatch/core/agreement.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

const std::string kSha = std::string(64, 'a');

core::ContractAction act(core::Party party, core::ContractAct what, int minute, std::string comment = "") {
  core::ContractAction a;
  a.contract = "support";
  a.version = 4;
  a.sha256 = kSha;
  a.party = party;
  a.act = what;
  a.actor = party == core::Party::brand ? "tok_brand1" : "tok_nw1";
  a.actor_name = party == core::Party::brand ? "ops lead" : "coo@northwind.example";
  a.at = t(minute);
  a.comment = std::move(comment);
  return a;
}

AuditEntry audit_of(const core::ContractAction& a) {
  return {0, a.at, a.actor, a.party == core::Party::brand ? "admin" : "partner",
          "contract." + std::string(core::to_string(a.act)), a.contract + " v4", "200"};
}

// The lifecycle's own check on the acts read inside the transaction.
Agreements::Check lifecycle(const core::ContractAction& a) {
  return [a](std::span<const core::ContractAction> recorded) -> std::expected<void, std::string> {
    std::vector<core::ContractAction> mine;
    for (const auto& r : recorded) {
      if (r.version == a.version) mine.push_back(r);
    }
    return core::check_act(core::agreement_of(mine, kSha, false), a, kSha);
  };
}

TEST_P(StoreConformance, ContractActsAreRecordedInOrderWithTheirAuditEntry) {
  auto& agreements = store_->agreements();
  for (const auto& a : {act(core::Party::brand, core::ContractAct::propose, 1),
                        act(core::Party::partner, core::ContractAct::comment, 2, "why 95% and not 92%?"),
                        act(core::Party::partner, core::ContractAct::approve, 3, "agreed after the call"),
                        act(core::Party::brand, core::ContractAct::approve, 4)}) {
    auto stored = agreements.record(a, audit_of(a), lifecycle(a));
    ASSERT_TRUE(stored) << stored.error();
    EXPECT_GT(stored->seq, 0);
  }
  const auto acts = agreements.of("support");
  ASSERT_EQ(acts.size(), 4u);
  EXPECT_EQ(acts[1].comment, "why 95% and not 92%?");
  EXPECT_EQ(acts[2].party, core::Party::partner);
  EXPECT_EQ(acts[2].act, core::ContractAct::approve);
  EXPECT_EQ(acts[2].actor, "tok_nw1");
  EXPECT_EQ(acts[2].actor_name, "coo@northwind.example");
  EXPECT_EQ(acts[2].at, t(3));
  EXPECT_EQ(acts[2].sha256, kSha);
  EXPECT_TRUE(std::is_sorted(acts.begin(), acts.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; }));
  EXPECT_TRUE(core::agreement_of(acts, kSha, false).agreed());
  EXPECT_TRUE(agreements.of("other").empty());

  // Every act has its audit entry, chained like every other.
  const auto log = store_->audit().newest(10);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].action, "contract.approve");
  EXPECT_EQ(log[3].action, "contract.propose");

  // A refused act stores nothing, neither the act nor its audit entry.
  const auto twice = act(core::Party::partner, core::ContractAct::approve, 5);
  auto refused = agreements.record(twice, audit_of(twice), lifecycle(twice));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("already agreed"), std::string::npos) << refused.error();
  EXPECT_EQ(agreements.of("support").size(), 4u);
  EXPECT_EQ(store_->audit().newest(10).size(), 4u);
}

TEST_P(StoreConformance, ContractActsCannotBeChangedOrDeleted) {
  const auto a = act(core::Party::brand, core::ContractAct::propose, 1);
  ASSERT_TRUE(store_->agreements().record(a, audit_of(a), lifecycle(a)));
  for (const char* statement : {"UPDATE contract_actions SET sha256 = 'forged'", "UPDATE contract_actions SET party = 'partner'",
                                "DELETE FROM contract_actions"}) {
    Transaction tx(store_->database(), Durability::normal);
    EXPECT_ANY_THROW(tx.sql() << statement) << statement;
  }
  const auto acts = store_->agreements().of("support");
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].sha256, kSha);
}

TEST_P(StoreConformance, TwoRacingApprovalsOfOneVersionRecordOne) {
  const auto p = act(core::Party::brand, core::ContractAct::propose, 1);
  ASSERT_TRUE(store_->agreements().record(p, audit_of(p), lifecycle(p)));
  std::atomic<int> recorded{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto a = act(core::Party::partner, core::ContractAct::approve, 2 + i);
      a.actor = "tok_nw" + std::to_string(i);
      auto r = store_->agreements().record(a, audit_of(a), lifecycle(a));
      ++(r ? recorded : refused);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(recorded.load(), 1);
  EXPECT_EQ(refused.load(), 3);
  EXPECT_EQ(store_->agreements().of("support").size(), 2u);
}

}  // namespace
}  // namespace pactwatch::store
