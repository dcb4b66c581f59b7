// The damp stage alone, against a real SQLite store: a recovery waits for its hold, goes out if
// the rule still holds then, and is dropped if it flapped back; other events pass at once.
#include <gtest/gtest.h>

#include "pactwatch/notify/stages.h"
#include "temp_dir.h"
#include "test_store.h"

namespace pactwatch::notify {
namespace {

using namespace std::chrono_literals;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

class Damp : public ::testing::Test {
 protected:
  void SetUp() override { store_ = testutils::fresh_store(store::Backend::sqlite, dir_, "damp", T("2026-10-01T00:00:00Z")); }

  // Evaluations of support v3, 2026-10, with p1's status as given at `at`.
  void evaluated(const char* at, const std::string& p1) {
    store::EvaluationRecord r{"support", 3, "2026-10", "northwind", T(at), "d", "{}", {{"kpi:p1", p1}}};
    store_->evaluations().save(r, T(at));
  }

  static store::OutboxEvent recovery(const char* at) {
    store::OutboxEvent e;
    e.id = std::string("kpi.recovered/support/3/2026-10/kpi:p1/") + at;
    e.type = "kpi.recovered";
    e.partner = "northwind";
    e.contract = "support";
    e.version = 3;
    e.period = "2026-10";
    e.subject = "kpi:p1";
    e.created_at = T(at);
    return e;
  }

  testutils::TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(Damp, WithoutAHoldEverythingGoesAtOnce) {
  const auto d = damp(recovery("2026-10-20T02:00:00Z"), 0s, T("2026-10-20T02:00:00Z"), *store_);
  EXPECT_EQ(d.verdict, Damping::Verdict::send);
}

TEST_F(Damp, OnlyRecoveriesAreHeld) {
  auto breach = recovery("2026-10-20T02:00:00Z");
  for (const char* type : {"kpi.breached", "kpi.at_risk", "standard.violated", "obligation.breached", "statement.closed"}) {
    breach.type = type;
    EXPECT_EQ(damp(breach, 1800s, T("2026-10-20T02:00:01Z"), *store_).verdict, Damping::Verdict::send) << type;
  }
}

TEST_F(Damp, ARecoveryWaitsForItsHold) {
  evaluated("2026-10-20T02:00:00Z", "met");
  const auto d = damp(recovery("2026-10-20T02:00:00Z"), 1800s, T("2026-10-20T02:29:59Z"), *store_);
  EXPECT_EQ(d.verdict, Damping::Verdict::wait);
  EXPECT_EQ(d.until, T("2026-10-20T02:30:00Z"));
}

TEST_F(Damp, ARecoveryThatHeldGoesOut) {
  evaluated("2026-10-20T01:00:00Z", "breached");
  evaluated("2026-10-20T02:00:00Z", "met");
  EXPECT_EQ(damp(recovery("2026-10-20T02:00:00Z"), 1800s, T("2026-10-20T02:30:00Z"), *store_).verdict, Damping::Verdict::send);
  evaluated("2026-10-20T02:40:00Z", "warning");  // still not breached: it held
  EXPECT_EQ(damp(recovery("2026-10-20T02:00:00Z"), 1800s, T("2026-10-20T02:41:00Z"), *store_).verdict, Damping::Verdict::send);
}

TEST_F(Damp, ARecoveryThatFlappedBackIsDroppedWithTheReason) {
  evaluated("2026-10-20T02:00:00Z", "met");
  evaluated("2026-10-20T02:10:00Z", "breached");
  const auto d = damp(recovery("2026-10-20T02:00:00Z"), 1800s, T("2026-10-20T02:31:00Z"), *store_);
  EXPECT_EQ(d.verdict, Damping::Verdict::drop);
  EXPECT_EQ(d.reason, "did not hold for the recovery hold (now breached)");
}

TEST_F(Damp, ARecoveryOfARuleNeverEvaluatedIsDropped) {
  const auto d = damp(recovery("2026-10-20T02:00:00Z"), 60s, T("2026-10-20T03:00:00Z"), *store_);
  EXPECT_EQ(d.verdict, Damping::Verdict::drop);
  EXPECT_EQ(d.reason, "did not hold for the recovery hold (now unknown)");
}

}  // namespace
}  // namespace pactwatch::notify
