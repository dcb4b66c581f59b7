#include "pactwatch/engine/timers.h"

#include <algorithm>

namespace pactwatch::engine {

namespace {

bool is_solved(std::string_view s) { return s == "solved" || s == "closed"; }

// Whether the clock counts while the ticket is in `status`.
bool counts(const TimerPolicy& p, std::string_view status) {
  switch (p.kind) {
    case TimerKind::requester_wait: return status == "new" || status == "open" || status == "hold";
    case TimerKind::agent_work: return status == "new" || status == "open";
    case TimerKind::first_reply:
    case TimerKind::next_reply:
    case TimerKind::resolution: return !is_solved(status) && !p.pause_in.contains(std::string(status));
  }
  return false;
}

// One clock run over [start, stop or now): splits at status changes, sums running and paused
// business time, finds the breach instant and the state.
TimerResult run_clock(const TicketTimeline& ticket, const TimerPolicy& policy, const calendar::Calendar& cal,
                      core::Instant start, std::optional<core::Instant> stop, core::Instant now) {
  TimerResult r;
  r.started_at = start;
  r.target = policy.target;
  const core::Instant end = stop ? std::min(*stop, now) : now;
  const bool stopped = stop && *stop <= now;
  if (stopped) r.stopped_at = stop;

  // Segment boundaries: start, every status change inside (start, end), end.
  std::vector<core::Instant> cuts{start};
  for (const auto& c : ticket.statuses) {
    if (c.at > start && c.at < end) cuts.push_back(c.at);
  }
  cuts.push_back(std::max(end, start));

  // breach_at is the instant the counted time reaches the target: inside a counting segment when
  // it got there (exactly at the target included), else, still counting, projected from the start
  // of the segment counting now.
  Millis remaining = policy.target.value_or(Millis(0));
  bool reached = false;
  bool last_running = false;
  core::Instant last_start = end;
  Millis last_remaining = remaining;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const core::Instant a = cuts[i];
    const core::Instant b = cuts[i + 1];
    const bool running = counts(policy, status_at(ticket, a));
    if (b <= a) continue;
    last_running = running;
    const Millis biz = cal.duration(a, b);
    if (running) {
      r.elapsed += biz;
      last_start = a;
      last_remaining = remaining;
      if (policy.target && !reached) {
        if (biz >= remaining) {
          reached = true;
          if (auto at = cal.add(a, remaining)) r.breach_at = *at;
        } else {
          remaining -= biz;
        }
      }
    } else {
      r.paused += biz;
    }
  }
  const bool running_at_end = !stopped && counts(policy, status_at(ticket, end));

  if (policy.target && r.elapsed > *policy.target) {
    r.state = TimerState::breached;
  } else if (stopped) {
    r.state = TimerState::met;
    r.breach_at.reset();  // stopped at the target exactly: met, never breached
  } else {
    r.state = running_at_end ? TimerState::running : TimerState::paused;
    // Still counting: project the instant it reaches the target if the clock keeps running.
    if (policy.target && running_at_end && !reached) {
      const auto at = last_running ? cal.add(last_start, last_remaining) : cal.add(end, remaining);
      if (at) r.breach_at = *at;
    }
  }
  return r;
}

std::optional<core::Instant> first_solved(const TicketTimeline& t, core::Instant after) {
  for (const auto& c : t.statuses) {
    if (c.at >= after && is_solved(c.status)) return c.at;
  }
  return std::nullopt;
}

}  // namespace

std::optional<core::Instant> solve_instant(const TicketTimeline& t, core::Instant as_of) {
  std::optional<core::Instant> solved;
  for (const auto& c : t.statuses) {
    if (c.at > as_of) break;
    if (is_solved(c.status)) {
      if (!solved) solved = c.at;
    } else {
      solved.reset();
    }
  }
  return solved;
}

std::string_view to_string(TimerKind k) {
  switch (k) {
    case TimerKind::first_reply: return "first_reply";
    case TimerKind::next_reply: return "next_reply";
    case TimerKind::resolution: return "resolution";
    case TimerKind::requester_wait: return "requester_wait";
    case TimerKind::agent_work: return "agent_work";
  }
  return "first_reply";
}

std::expected<TimerKind, std::string> parse_timer_kind(std::string_view s) {
  for (auto k : {TimerKind::first_reply, TimerKind::next_reply, TimerKind::resolution, TimerKind::requester_wait,
                 TimerKind::agent_work}) {
    if (s == to_string(k)) return k;
  }
  return std::unexpected("unknown timer '" + std::string(s) +
                         "' (expected first_reply, next_reply, resolution, requester_wait or agent_work)");
}

std::string_view to_string(TimerState s) {
  switch (s) {
    case TimerState::running: return "running";
    case TimerState::paused: return "paused";
    case TimerState::met: return "met";
    case TimerState::breached: return "breached";
  }
  return "running";
}

std::string_view status_at(const TicketTimeline& ticket, core::Instant t) {
  std::string_view s = "new";
  for (const auto& c : ticket.statuses) {
    if (c.at > t) break;
    s = c.status;
  }
  return s;
}

std::vector<TimerResult> evaluate_timer(const TicketTimeline& ticket, const TimerPolicy& policy,
                                        const calendar::Calendar& cal, core::Instant now) {
  std::vector<TimerResult> out;
  if (now < ticket.created_at) return out;
  switch (policy.kind) {
    case TimerKind::first_reply: {
      std::optional<core::Instant> stop;
      for (auto r : ticket.agent_replies) {
        if (r >= ticket.created_at && (!stop || r < *stop)) stop = r;
      }
      // Solved without a public reply: the clock stops at the solve.
      if (auto solved = first_solved(ticket, ticket.created_at); solved && (!stop || *solved < *stop)) stop = solved;
      out.push_back(run_clock(ticket, policy, cal, ticket.created_at, stop, now));
      break;
    }
    case TimerKind::next_reply: {
      std::vector<core::Instant> comments = ticket.customer_comments;
      std::vector<core::Instant> replies = ticket.agent_replies;
      std::sort(comments.begin(), comments.end());
      std::sort(replies.begin(), replies.end());
      std::size_t c = 0;
      while (c < comments.size() && comments[c] <= now) {
        const core::Instant start = comments[c];
        // The first agent reply at or after the comment answers it (one at the same instant too).
        const auto reply = std::lower_bound(replies.begin(), replies.end(), start);
        std::optional<core::Instant> stop;
        if (reply != replies.end()) stop = *reply;
        out.push_back(run_clock(ticket, policy, cal, start, stop, now));
        // Comments up to that reply belong to the same cycle (this one always does).
        while (c < comments.size() && (!stop || comments[c] <= *stop)) ++c;
        if (!stop) break;
      }
      break;
    }
    case TimerKind::resolution:
    case TimerKind::requester_wait:
    case TimerKind::agent_work:
      out.push_back(run_clock(ticket, policy, cal, ticket.created_at, solve_instant(ticket, now), now));
      break;
  }
  return out;
}

}  // namespace pactwatch::engine
