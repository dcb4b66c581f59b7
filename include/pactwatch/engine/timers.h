// Per-item SLA timers: business-time clocks computed from a ticket's timestamps and status
// history on a contract's calendar. Pure functions: `now` is an input, nothing is read or written.
#pragma once

#include <expected>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/time.h"

namespace pactwatch::engine {

using calendar::Millis;

struct StatusChange {
  core::Instant at;
  std::string status;  // new, open, pending, hold, solved, closed (lower case)
};

// What the timers need to know about one ticket.
struct TicketTimeline {
  core::Instant created_at{};
  // In time order. The status before the first change is "new".
  std::vector<StatusChange> statuses;
  std::vector<core::Instant> customer_comments;  // public comments by the requester after creation
  std::vector<core::Instant> agent_replies;      // public replies by an agent
};

enum class TimerKind {
  first_reply,     // creation -> first agent reply
  next_reply,      // each customer comment awaiting an agent reply -> that reply (one cycle each)
  resolution,      // creation -> solved; a reopen resumes the clock
  requester_wait,  // time in new, open or hold until solved
  agent_work,      // time in new or open until solved
};
[[nodiscard]] std::string_view to_string(TimerKind k);
[[nodiscard]] std::expected<TimerKind, std::string> parse_timer_kind(std::string_view s);

enum class TimerState {
  running,   // counting now
  paused,    // started, not stopped, not counting now
  met,       // stopped within the target (or stopped with no target)
  breached,  // elapsed past the target, stopped or not
};
[[nodiscard]] std::string_view to_string(TimerState s);

struct TimerPolicy {
  TimerKind kind = TimerKind::first_reply;
  std::optional<Millis> target;
  std::set<std::string> pause_in;  // statuses that stop the clock (first_reply, next_reply, resolution)
};

struct TimerResult {
  core::Instant started_at{};
  std::optional<core::Instant> stopped_at;
  Millis elapsed{0};  // business time counted
  Millis paused{0};   // business time spent paused while started
  std::optional<Millis> target;
  // When the elapsed time reached the target (exactly at it included: the due time), or, for a
  // clock running now, will reach it if it keeps running. Empty when met, without a target, or
  // while paused short of the target (it depends on the resume).
  std::optional<core::Instant> breach_at;
  TimerState state = TimerState::running;
};

// Evaluates a timer as of `now`. First reply, resolution, requester wait and agent work give at
// most one result (none before the ticket exists); next reply gives one per cycle.
[[nodiscard]] std::vector<TimerResult> evaluate_timer(const TicketTimeline& ticket, const TimerPolicy& policy,
                                                      const calendar::Calendar& cal, core::Instant now);

// The status in force at t (the last change at or before t; "new" before any).
[[nodiscard]] std::string_view status_at(const TicketTimeline& ticket, core::Instant t);

// The ticket's solve instant as of `as_of`: the start of its last unbroken run of solved/closed
// statuses at or before `as_of`; empty when it is not solved then. The resolution timer stops
// here, `solved` is true exactly when it exists, and `counted_by: solved` counts by it.
[[nodiscard]] std::optional<core::Instant> solve_instant(const TicketTimeline& ticket, core::Instant as_of);

}  // namespace pactwatch::engine
