#include "pactwatch/engine/timers.h"

#include <gtest/gtest.h>

#include "pactwatch/calendar/calendar_file.h"

namespace pactwatch::engine {
namespace {

using core::Instant;
using calendar::Calendar;

Instant T(const char* s) { return *core::parse_rfc3339(s); }
Millis H(double h) { return Millis(static_cast<std::int64_t>(h * 3600000)); }

const Calendar& office() {
  // UTC, weekdays 09:00-17:00.
  static const Calendar cal = [] {
    auto spec = calendar::parse_calendar(
        "timezone: UTC\nhours: {mon: [\"09:00-17:00\"], tue: [\"09:00-17:00\"], wed: [\"09:00-17:00\"], "
        "thu: [\"09:00-17:00\"], fri: [\"09:00-17:00\"]}\n",
        "office.yaml", ".");
    return *Calendar::compile(*spec);
  }();
  return cal;
}

TicketTimeline ticket() {
  TicketTimeline t;
  t.created_at = T("2026-01-05T10:00:00Z");  // Monday
  t.statuses = {{T("2026-01-05T10:00:00Z"), "new"}, {T("2026-01-05T10:30:00Z"), "open"}};
  return t;
}

TimerPolicy policy(TimerKind k, std::optional<double> target_hours = std::nullopt, std::set<std::string> pause = {}) {
  TimerPolicy p;
  p.kind = k;
  if (target_hours) p.target = H(*target_hours);
  p.pause_in = std::move(pause);
  return p;
}

TEST(Timers, FirstReplyMetExactlyAtTheTarget) {
  auto t = ticket();
  t.agent_replies = {T("2026-01-05T11:00:00Z")};
  auto r = evaluate_timer(t, policy(TimerKind::first_reply, 1.0), office(), T("2026-01-06T00:00:00Z"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].elapsed, H(1));
  EXPECT_EQ(r[0].state, TimerState::met);
  EXPECT_EQ(r[0].stopped_at, T("2026-01-05T11:00:00Z"));
  EXPECT_FALSE(r[0].breach_at);
}

TEST(Timers, FirstReplyBreachInstantOverBusinessHours) {
  auto t = ticket();
  t.created_at = T("2026-01-05T16:30:00Z");
  t.statuses = {{t.created_at, "open"}};
  t.agent_replies = {T("2026-01-06T10:00:00Z")};
  auto r = evaluate_timer(t, policy(TimerKind::first_reply, 1.0), office(), T("2026-01-07T00:00:00Z"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].elapsed, H(1.5));  // 16:30-17:00 and 09:00-10:00
  EXPECT_EQ(r[0].state, TimerState::breached);
  EXPECT_EQ(r[0].breach_at, T("2026-01-06T09:30:00Z"));
}

TEST(Timers, RunningTimerProjectsItsBreach) {
  auto t = ticket();
  auto r = evaluate_timer(t, policy(TimerKind::first_reply, 4.0), office(), T("2026-01-05T12:00:00Z"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].state, TimerState::running);
  EXPECT_EQ(r[0].elapsed, H(2));
  EXPECT_EQ(r[0].breach_at, T("2026-01-05T14:00:00Z"));
  // The same ticket seen after the deadline with no reply: breached, at the same instant.
  auto late = evaluate_timer(t, policy(TimerKind::first_reply, 4.0), office(), T("2026-01-05T16:00:00Z"));
  EXPECT_EQ(late[0].state, TimerState::breached);
  EXPECT_EQ(late[0].breach_at, T("2026-01-05T14:00:00Z"));
}

TEST(Timers, PauseStatusesStopTheClock) {
  auto t = ticket();
  t.statuses.push_back({T("2026-01-05T11:00:00Z"), "pending"});
  t.statuses.push_back({T("2026-01-05T14:00:00Z"), "open"});
  t.statuses.push_back({T("2026-01-05T15:00:00Z"), "solved"});
  auto p = policy(TimerKind::resolution, 2.0, {"pending", "hold"});
  auto paused = evaluate_timer(t, p, office(), T("2026-01-05T12:00:00Z"));
  ASSERT_EQ(paused.size(), 1u);
  EXPECT_EQ(paused[0].state, TimerState::paused);
  EXPECT_EQ(paused[0].elapsed, H(1));
  EXPECT_EQ(paused[0].paused, H(1));
  EXPECT_FALSE(paused[0].breach_at) << "a paused clock has no known breach instant";
  auto done = evaluate_timer(t, p, office(), T("2026-01-06T00:00:00Z"));
  EXPECT_EQ(done[0].elapsed, H(2));  // 10:00-11:00 and 14:00-15:00
  EXPECT_EQ(done[0].paused, H(3));
  EXPECT_EQ(done[0].state, TimerState::met);
  EXPECT_EQ(done[0].stopped_at, T("2026-01-05T15:00:00Z"));
  // Without the pause the clock ran 5 hours: breached at 12:00.
  auto unpaused = evaluate_timer(t, policy(TimerKind::resolution, 2.0), office(), T("2026-01-06T00:00:00Z"));
  EXPECT_EQ(unpaused[0].elapsed, H(5));
  EXPECT_EQ(unpaused[0].state, TimerState::breached);
  EXPECT_EQ(unpaused[0].breach_at, T("2026-01-05T12:00:00Z"));
}

TEST(Timers, ReopenResumesResolution) {
  auto t = ticket();
  t.statuses.push_back({T("2026-01-05T12:00:00Z"), "solved"});
  t.statuses.push_back({T("2026-01-06T09:00:00Z"), "open"});
  auto mid = evaluate_timer(t, policy(TimerKind::resolution, 8.0), office(), T("2026-01-05T20:00:00Z"));
  EXPECT_EQ(mid[0].state, TimerState::met);
  EXPECT_EQ(mid[0].elapsed, H(2));
  auto reopened = evaluate_timer(t, policy(TimerKind::resolution, 8.0), office(), T("2026-01-06T11:00:00Z"));
  EXPECT_EQ(reopened[0].state, TimerState::running);
  EXPECT_EQ(reopened[0].elapsed, H(4));
  EXPECT_EQ(reopened[0].breach_at, T("2026-01-06T15:00:00Z"));
}

TEST(Timers, RequesterWaitAndAgentWorkCountTheirStatuses) {
  auto t = ticket();
  t.statuses.push_back({T("2026-01-05T11:00:00Z"), "pending"});
  t.statuses.push_back({T("2026-01-05T12:00:00Z"), "hold"});
  t.statuses.push_back({T("2026-01-05T13:00:00Z"), "open"});
  t.statuses.push_back({T("2026-01-05T14:00:00Z"), "solved"});
  const Instant now = T("2026-01-08T00:00:00Z");
  auto wait = evaluate_timer(t, policy(TimerKind::requester_wait), office(), now);
  EXPECT_EQ(wait[0].elapsed, H(3));  // new+open 10-11, hold 12-13, open 13-14
  EXPECT_EQ(wait[0].state, TimerState::met);
  auto work = evaluate_timer(t, policy(TimerKind::agent_work), office(), now);
  EXPECT_EQ(work[0].elapsed, H(2));  // new+open 10-11, open 13-14
}

TEST(Timers, NextReplyHasACyclePerCustomerComment) {
  auto t = ticket();
  t.agent_replies = {T("2026-01-05T10:15:00Z"), T("2026-01-05T13:00:00Z")};
  t.customer_comments = {T("2026-01-05T11:00:00Z"), T("2026-01-05T11:30:00Z"), T("2026-01-05T15:00:00Z")};
  auto r = evaluate_timer(t, policy(TimerKind::next_reply, 1.0), office(), T("2026-01-05T16:30:00Z"));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].started_at, T("2026-01-05T11:00:00Z"));  // 11:30 is part of the same wait
  EXPECT_EQ(r[0].elapsed, H(2));
  EXPECT_EQ(r[0].state, TimerState::breached);
  EXPECT_EQ(r[0].breach_at, T("2026-01-05T12:00:00Z"));
  EXPECT_EQ(r[1].started_at, T("2026-01-05T15:00:00Z"));
  EXPECT_EQ(r[1].state, TimerState::breached);
  EXPECT_FALSE(r[1].stopped_at);
  EXPECT_EQ(r[1].elapsed, H(1.5));
}

TEST(Timers, NothingBeforeTheTicketExists) {
  EXPECT_TRUE(evaluate_timer(ticket(), policy(TimerKind::first_reply, 1.0), office(), T("2026-01-01T00:00:00Z")).empty());
}

TEST(Timers, FirstReplyStopsAtASolveWithoutReply) {
  auto t = ticket();
  t.statuses.push_back({T("2026-01-05T12:00:00Z"), "solved"});
  auto r = evaluate_timer(t, policy(TimerKind::first_reply, 4.0), office(), T("2026-01-07T00:00:00Z"));
  EXPECT_EQ(r[0].state, TimerState::met);
  EXPECT_EQ(r[0].elapsed, H(2));
}

TEST(Timers, NamesRoundTrip) {
  for (auto k : {TimerKind::first_reply, TimerKind::next_reply, TimerKind::resolution, TimerKind::requester_wait,
                 TimerKind::agent_work}) {
    EXPECT_EQ(*parse_timer_kind(to_string(k)), k);
  }
  EXPECT_FALSE(parse_timer_kind("first_response"));
  EXPECT_EQ(to_string(TimerState::breached), "breached");
}

}  // namespace
}  // namespace pactwatch::engine

#include "pactwatch/engine/item_timeline.h"

namespace pactwatch::engine {
namespace {

core::Item stored_ticket(std::string payload) {
  core::Item i;
  i.source = "zendesk";
  i.external_id = "35436";
  i.kind = "tickets";
  i.created_at = T("2026-01-05T10:00:00Z");
  i.updated_at = T("2026-01-05T15:00:00Z");
  i.payload = std::move(payload);
  return i;
}

TEST(ItemTimeline, ReadsHistoryFromThePayload) {
  auto item = stored_ticket(R"({"status_history":[{"at":"2026-01-05T11:00:00Z","status":"Pending"},
      {"at":"2026-01-05T10:00:00Z","status":"open"},{"at":"2026-01-05T14:00:00Z","status":"open"}],
      "agent_replies":["2026-01-05T13:00:00Z","2026-01-05T10:30:00Z"],"customer_comments":["2026-01-05T12:00:00Z"]})");
  item.solved_at = T("2026-01-05T15:00:00Z");
  auto t = timeline_from_item(item);
  ASSERT_TRUE(t) << t.error();
  ASSERT_EQ(t->statuses.size(), 4u);  // sorted, lower-cased, plus the solve from solved_at
  EXPECT_EQ(t->statuses[0].status, "open");
  EXPECT_EQ(t->statuses[1].status, "pending");
  EXPECT_EQ(t->statuses[3].status, "solved");
  EXPECT_EQ(t->agent_replies.front(), T("2026-01-05T10:30:00Z"));
  auto r = evaluate_timer(*t, policy(TimerKind::resolution, 3.0, {"pending"}), office(), T("2026-01-06T00:00:00Z"));
  EXPECT_EQ(r[0].elapsed, H(2));  // 10-11 and 14-15
  EXPECT_EQ(r[0].state, TimerState::met);
}

TEST(ItemTimeline, FallsBackToColumnsAndReportsBadPayloads) {
  auto item = stored_ticket("{}");
  item.first_reply_at = T("2026-01-05T10:45:00Z");
  auto t = timeline_from_item(item);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->agent_replies.size(), 1u);
  for (const char* bad : {"[]", "not json", R"({"status_history":{}})", R"({"status_history":[{"at":"yesterday","status":"open"}]})",
                          R"({"agent_replies":[1]})", R"({"status_history":[{"status":"open"}]})"}) {
    auto r = timeline_from_item(stored_ticket(bad));
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().rfind("zendesk/35436: ", 0), 0u) << r.error();
    }
  }
  auto no_created = stored_ticket("{}");
  no_created.created_at.reset();
  EXPECT_FALSE(timeline_from_item(no_created));
}

}  // namespace
}  // namespace pactwatch::engine
