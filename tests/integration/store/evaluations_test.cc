// The store conformance suite: evaluations, status changes and the outbox events they cause
// (Evaluations, Outbox), on SQLite and PostgreSQL.
#include "store_conformance.h"

namespace pactwatch::store {
namespace {

using namespace conformance;

TEST_P(StoreConformance, EvaluationsKeepTheLatestAndRecordStatusChanges) {
  EvaluationRecord r{"support", 3, "2026-10", "northwind", t(0), "digest-1", R"({"a":1})",
                     {{"kpi:p1", "met"}, {"standard:reopen", "met"}}};
  auto first = store_->evaluations().save(r, t(1));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_FALSE(first[0].from);
  EXPECT_EQ(first[0].to, "met");
  // The same statuses again: nothing changes.
  EXPECT_TRUE(store_->evaluations().save(r, t(2)).empty());
  r.document = R"({"a":2})";
  r.statuses[0].status = "breached";
  auto second = store_->evaluations().save(r, t(3));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].rule, "kpi:p1");
  EXPECT_EQ(second[0].from, "met");
  EXPECT_EQ(second[0].to, "breached");
  EXPECT_EQ(store_->evaluations().document("support", 3, "2026-10"), R"({"a":2})");
  EXPECT_FALSE(store_->evaluations().document("support", 3, "2026-11"));
  auto history = store_->evaluations().status_changes();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2], second[0]);
  EXPECT_EQ(store_->evaluations().status_changes("support").size(), 3u);
  EXPECT_TRUE(store_->evaluations().status_changes("other").empty());
}

TEST_P(StoreConformance, TheDeliverySweepSeesEventsStampedALittleBeforeTheLastOne) {
  EvaluationRecord r{"support", 3, "2026-10", "northwind", t(0), "d", "{}", {{"kpi:p1", "met"}}};
  store_->evaluations().save(r, t(100));
  r.statuses = {{"kpi:p1", "breached"}};
  store_->evaluations().save(r, t(101));
  EXPECT_EQ(store_->outbox().due("hook", t(101), t(0)).size(), 1u);
  // Another instance (a slower clock, a long transaction) commits an event stamped 5 minutes
  // before the newest one swept: the next sweep still finds it.
  EvaluationRecord late{"support", 3, "2026-11", "northwind", t(0), "d", "{}", {{"kpi:p1", "met"}}};
  store_->evaluations().save(late, t(90));
  late.statuses = {{"kpi:p1", "breached"}};
  store_->evaluations().save(late, t(96));
  const auto due = store_->outbox().due("hook", t(102), t(0));
  ASSERT_EQ(due.size(), 2u);
  std::set<std::string> periods;
  for (const auto& d : due) periods.insert(store_->outbox().event(d.event_id)->period);
  EXPECT_EQ(periods, (std::set<std::string>{"2026-10", "2026-11"}));
}

TEST_P(StoreConformance, StatusChangesWriteOutboxEventsInTheSameTransaction) {
  EvaluationRecord r{"support", 3, "2026-10", "northwind", t(0), "d", "{}", {{"kpi:p1", "met"}, {"standard:pci", "met"}}};
  store_->evaluations().save(r, t(1));
  EXPECT_TRUE(store_->outbox().events().empty());  // a first "met" is no news
  r.statuses = {{"kpi:p1", "breached", "\"80.00%\"", ">= 95.00%"}, {"standard:pci", "breached"}};
  store_->evaluations().save(r, t(2));
  auto events = store_->outbox().events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "kpi.breached");
  EXPECT_EQ(events[1].type, "standard.violated");
  EXPECT_EQ(events[0].partner, "northwind");
  const auto payload = nlohmann::json::parse(events[0].payload);
  EXPECT_EQ(payload["from"], "met");
  EXPECT_EQ(payload["to"], "breached");
  EXPECT_EQ(payload["value"], "80.00%");  // the numbers behind the change travel with it
  EXPECT_EQ(payload["target"], ">= 95.00%");
  r.statuses = {{"kpi:p1", "warning"}, {"standard:pci", "met"}};
  store_->evaluations().save(r, t(3));
  events = store_->outbox().events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].type, "kpi.recovered");

  // Deliveries per channel: created when the channel asks, retried, dead, and put back.
  auto due = store_->outbox().due("hook", t(3), t(0));
  ASSERT_EQ(due.size(), 3u);
  EXPECT_TRUE(store_->outbox().due("late-channel", t(3), t(10)).empty());  // added later: no back-fill
  due[0].status = "delivered";
  due[0].attempts = 1;
  due[0].delivered_at = t(3);
  store_->outbox().update_delivery(due[0]);
  due[1].status = "dead";
  due[1].last_error = "HTTP 410";
  store_->outbox().update_delivery(due[1]);
  due[2].attempts = 1;
  due[2].next_attempt_at = t(30);
  store_->outbox().update_delivery(due[2]);
  EXPECT_TRUE(store_->outbox().due("hook", t(4), t(0)).empty());
  EXPECT_EQ(store_->outbox().due("hook", t(31), t(0)).size(), 1u);
  EXPECT_EQ(store_->outbox().deliveries("dead").size(), 1u);
  EXPECT_EQ(store_->outbox().retry("all", t(32)), 1);
  EXPECT_EQ(store_->outbox().due("hook", t(32), t(0)).size(), 2u);
  // A period close writes a statement.closed event with it.
  store_->statements().close(std::vector<StatementRecord>{{"support", 3, "2026-10", "northwind", t(0), "EUR", 100, 100, 0, "sha",
                                                          "d", "1", t(40), t(41), "finance", "{}"}});
  EXPECT_EQ(store_->outbox().events().back().type, "statement.closed");
  // Reminders for a breach still standing, once per whole interval.
  store_->evaluations().save({"support", 3, "2026-11", "northwind", t(50), "d", "{}", {{"kpi:p1", "breached"}}}, t(50));
  EXPECT_EQ(store_->outbox().write_reminders(t(50 + 59), std::chrono::hours(1)), 0);
  EXPECT_EQ(store_->outbox().write_reminders(t(50 + 61), std::chrono::hours(1)), 1);
  EXPECT_EQ(store_->outbox().write_reminders(t(50 + 62), std::chrono::hours(1)), 0);
  EXPECT_EQ(store_->evaluations().rule_status("support", 3, "2026-11", "kpi:p1"), "breached");
}

}  // namespace
}  // namespace pactwatch::store
