// The store conformance suite: leases and API tokens (Leases, Tokens), on SQLite and PostgreSQL.
#include "store_conformance.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

TEST_P(StoreConformance, LeasesAreHeldByOneHolderUntilTheyExpire) {
  const auto ttl = std::chrono::milliseconds(60'000);
  // a takes the lease; b cannot while it runs; a renews it (same fence).
  EXPECT_EQ(store_->leases().claim("source:zendesk", "a", t(0), ttl), 1);
  EXPECT_FALSE(store_->leases().claim("source:zendesk", "b", t(0), ttl));
  EXPECT_EQ(store_->leases().claim("source:zendesk", "a", t(0) + std::chrono::seconds(30), ttl), 1);
  EXPECT_FALSE(store_->leases().claim("source:zendesk", "b", t(1) + std::chrono::seconds(29), ttl)) << "renewed until t(1)+30s";
  // a stops renewing: b takes over once it expired, with a new fence; a cannot renew any more.
  EXPECT_EQ(store_->leases().claim("source:zendesk", "b", t(2), ttl), 2);
  EXPECT_FALSE(store_->leases().claim("source:zendesk", "a", t(2), ttl));
  // Released by its holder only; then anyone may take it at once.
  EXPECT_FALSE(store_->leases().release("source:zendesk", "a"));
  EXPECT_TRUE(store_->leases().release("source:zendesk", "b"));
  EXPECT_EQ(store_->leases().claim("source:zendesk", "c", t(2), ttl), 3);
  EXPECT_EQ(store_->leases().claim("partner:northwind", "a", t(2), ttl), 1) << "leases are independent";
  const auto all = store_->leases().all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].name, "source:zendesk");
  EXPECT_EQ(all[1].holder, "c");
  EXPECT_EQ(all[1].expires_at, t(3));
}

// Many claimers at once, each on its own connection: exactly one holds the lease.
TEST_P(StoreConformance, ConcurrentClaimsLeaveOneHolder) {
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto s = reopen();
      for (int k = 0; k < 25; ++k) {
        if (s->leases().claim("lease:" + std::to_string(k), "h" + std::to_string(i), t(0), std::chrono::milliseconds(60'000))) ++winners;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(winners.load(), 25);
  for (const auto& l : store_->leases().all()) EXPECT_EQ(l.fence, 1);
}

TEST_P(StoreConformance, TokensAreStoredByHashLimitedPerPartnerAndRevocable) {
  ApiToken admin{"tok_00000001", std::string(64, 'a'), "ops", "admin", std::nullopt, t(1), std::nullopt, std::nullopt};
  ApiToken p1{"tok_00000002", std::string(64, 'b'), "nw", "partner", std::string("northwind"), t(1), t(100), std::nullopt};
  ApiToken p2 = p1;
  p2.id = "tok_00000003";
  p2.sha256 = std::string(64, 'c');
  store_->tokens().create(admin, 2, t(1));
  store_->tokens().create(p1, 2, t(1));
  store_->tokens().create(p2, 2, t(1));
  auto back = store_->tokens().by_hash(std::string(64, 'b'));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "tok_00000002");
  EXPECT_EQ(back->partner, "northwind");
  EXPECT_EQ(back->expires_at, t(100));
  EXPECT_FALSE(back->revoked_at);
  EXPECT_FALSE(store_->tokens().by_hash(std::string(64, 'd')));
  EXPECT_FALSE(store_->tokens().by_hash(admin.sha256)->partner);
  // A third live token for the partner is refused, and nothing is stored.
  ApiToken p3 = p1;
  p3.id = "tok_00000004";
  p3.sha256 = std::string(64, 'e');
  EXPECT_THROW(store_->tokens().create(p3, 2, t(2)), TokenLimit);
  EXPECT_FALSE(store_->tokens().by_hash(p3.sha256));
  // Once one has expired (p1, p2 expire at t(100)) or is revoked, there is room again.
  EXPECT_TRUE(store_->tokens().revoke("tok_00000002", t(3)));
  EXPECT_FALSE(store_->tokens().revoke("tok_00000002", t(4))) << "revoked once";
  EXPECT_FALSE(store_->tokens().revoke("tok_nope", t(4)));
  EXPECT_EQ(store_->tokens().by_hash(p1.sha256)->revoked_at, t(3));
  EXPECT_NO_THROW(store_->tokens().create(p3, 2, t(5)));
  ApiToken p4 = p1;
  p4.id = "tok_00000005";
  p4.sha256 = std::string(64, 'f');
  EXPECT_NO_THROW(store_->tokens().create(p4, 2, t(101))) << "p2 and p3 have expired by t(101)";
  EXPECT_EQ(store_->tokens().all().size(), 5u);
  // A token hash is unique.
  ApiToken dup = admin;
  dup.id = "tok_00000006";
  EXPECT_THROW(store_->tokens().create(dup, 2, t(6)), StoreError);
}

}  // namespace
}  // namespace pactwatch::store
