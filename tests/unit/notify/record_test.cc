// The record stage alone, against a real SQLite store: each outcome written to the delivery (its
// status, attempts, next attempt, last error), counted by channel and outcome.
#include <gtest/gtest.h>

#include "pactwatch/notify/stages.h"
#include "temp_dir.h"
#include "test_store.h"

namespace pactwatch::notify {
namespace {

using namespace std::chrono_literals;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

class Record : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testutils::fresh_store(store::Backend::sqlite, dir_, "record", T("2026-10-01T00:00:00Z"));
    // met, then breached: one kpi.breached event in the outbox.
    store::EvaluationRecord r{"support", 3, "2026-10", "northwind", T("2026-10-20T00:00:00Z"), "d", "{}", {{"kpi:p1", "met"}}};
    store_->evaluations().save(r, T("2026-10-20T00:00:00Z"));
    r.statuses = {{"kpi:p1", "breached"}};
    store_->evaluations().save(r, T("2026-10-20T01:00:00Z"));
  }

  // The channel's one due delivery at `at`, as the dispatcher gets it.
  store::Delivery due_at(core::Instant at) {
    auto due = store_->outbox().due("ops", at, core::Instant{});
    EXPECT_EQ(due.size(), 1u);
    return due.empty() ? store::Delivery{} : due.front();
  }
  store::Delivery due() { return due_at(now_); }
  // The delivery as stored.
  store::Delivery stored() {
    const auto all = store_->outbox().deliveries();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? store::Delivery{} : all.front();
  }

  testutils::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  core::Instant now_ = T("2026-10-20T01:00:05Z");
  core::MetricsRegistry registry_;
  DeliveryCounters counters_{registry_};
};

TEST_F(Record, DeliveredOnce) {
  auto d = due();
  EXPECT_EQ(d.status, "pending");
  EXPECT_EQ(record(*store_, counters_, "ops", d, {Outcome::delivered, {}, {}}, now_), Recorded::delivered);
  const auto s = stored();
  EXPECT_EQ(s.status, "delivered");
  EXPECT_EQ(s.attempts, 1);
  EXPECT_EQ(s.delivered_at, now_);
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(counters_.get("ops", "delivered"), 1);
  EXPECT_TRUE(store_->outbox().due("ops", now_ + 48h, core::Instant{}).empty()) << "delivered is done";
}

TEST_F(Record, TransientFailuresFollowTheScheduleThenDie) {
  auto d = due();
  const std::vector<std::chrono::milliseconds> steps{5s, 5min, 30min, 2h, 5h, 10h, 24h};
  auto at = now_;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i + 1);
    EXPECT_EQ(record(*store_, counters_, "ops", d, {Outcome::transient, "HTTP 503: busy", {}}, at), Recorded::retried);
    const auto s = stored();
    EXPECT_EQ(s.status, "pending");
    EXPECT_EQ(s.attempts, static_cast<int>(i + 1));
    EXPECT_EQ(s.next_attempt_at, at + steps[i]);
    EXPECT_EQ(s.last_error, "HTTP 503: busy");
    EXPECT_TRUE(store_->outbox().due("ops", at + steps[i] - 1ms, core::Instant{}).empty()) << "not due before its step";
    at += steps[i];
    d = due_at(at);
  }
  EXPECT_EQ(record(*store_, counters_, "ops", d, {Outcome::transient, "HTTP 503: still busy", {}}, at), Recorded::dead);
  const auto s = stored();
  EXPECT_EQ(s.status, "dead");
  EXPECT_EQ(s.attempts, 8);
  EXPECT_EQ(s.last_error, "HTTP 503: still busy");
  EXPECT_EQ(counters_.get("ops", "retried"), 7);
  EXPECT_EQ(counters_.get("ops", "dead"), 1);
}

TEST_F(Record, ALongerRetryAfterPutsTheNextAttemptLater) {
  auto d = due();
  EXPECT_EQ(record(*store_, counters_, "ops", d, {Outcome::transient, "HTTP 429: slow down", 120s}, now_), Recorded::retried);
  EXPECT_EQ(stored().next_attempt_at, now_ + 120s);
}

TEST_F(Record, PermanentRefusedAndGoneAreDeadAtOnce) {
  struct Case {
    Outcome outcome;
    std::string error;
    std::string counted;
  };
  for (const auto& c : {Case{Outcome::permanent, "HTTP 401 (permanent; not retried): bad signature", "dead"},
                        Case{Outcome::refused, "link-local and cloud metadata addresses are refused", "dead"},
                        Case{Outcome::gone, "endpoint gone (HTTP 410); channel disabled until the next reload", "gone"}}) {
    SCOPED_TRACE(c.error);
    const int dead_before = store_->outbox().deliveries("dead").empty() ? 0 : 1;
    ASSERT_EQ(store_->outbox().retry("all", now_), dead_before);  // the previous case's, queued again
    auto d = due();
    core::MetricsRegistry registry;
    DeliveryCounters counters{registry};
    EXPECT_EQ(record(*store_, counters, "ops", d, {c.outcome, c.error, {}}, now_), Recorded::dead);
    const auto s = stored();
    EXPECT_EQ(s.status, "dead");
    EXPECT_EQ(s.attempts, 1) << "after one attempt";
    EXPECT_EQ(s.last_error, c.error);
    EXPECT_EQ(counters.get("ops", c.counted), 1);
    EXPECT_TRUE(store_->outbox().due("ops", now_ + 48h, core::Instant{}).empty()) << "never tried again";
  }
}

TEST_F(Record, AnAbandonedAttemptLeavesTheDeliveryAsItWas) {
  auto d = due();
  EXPECT_EQ(record(*store_, counters_, "ops", d, {Outcome::abandoned, "aborted", {}}, now_), Recorded::untouched);
  const auto s = stored();
  EXPECT_EQ(s.status, "pending");
  EXPECT_EQ(s.attempts, 0);
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(counters_.prometheus().find("pactwatch_notify_deliveries_total{"), std::string::npos) << "nothing counted";
  EXPECT_EQ(store_->outbox().due("ops", now_, core::Instant{}).size(), 1u) << "still due";
}

TEST_F(Record, SkippedAndWaiting) {
  auto d = due();
  EXPECT_EQ(record_waiting(*store_, d, now_ + 30min), Recorded::waiting);
  EXPECT_EQ(stored().next_attempt_at, now_ + 30min);
  EXPECT_EQ(stored().attempts, 0) << "waiting is no attempt";
  EXPECT_TRUE(store_->outbox().due("ops", now_ + 29min, core::Instant{}).empty());
  d = due_at(now_ + 30min);
  EXPECT_EQ(record_skipped(*store_, d, "did not hold for the recovery hold (now breached)"), Recorded::skipped);
  EXPECT_EQ(stored().status, "skipped");
  EXPECT_EQ(stored().last_error, "did not hold for the recovery hold (now breached)");
}

TEST(DeliveryCounters, PrometheusText) {
  core::MetricsRegistry registry;
  DeliveryCounters c{registry};
  c.count("ops", "delivered");
  c.count("ops", "delivered");
  c.count("chat", "gone");
  EXPECT_EQ(c.prometheus(),
            "# HELP pactwatch_notify_deliveries_total Notification delivery outcomes by channel.\n"
            "# TYPE pactwatch_notify_deliveries_total counter\n"
            "pactwatch_notify_deliveries_total{channel=\"chat\",outcome=\"gone\"} 1\n"
            "pactwatch_notify_deliveries_total{channel=\"ops\",outcome=\"delivered\"} 2\n");
  EXPECT_EQ(c.get("ops", "retried"), 0);
}

}  // namespace
}  // namespace pactwatch::notify
