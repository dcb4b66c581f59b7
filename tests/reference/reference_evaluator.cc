// The reference evaluator: see reference_evaluator.h. Every rule here is taken from the docs; the
// section of the doc it comes from is named next to it. It is deliberately simple and slow: each
// item is looked at afresh for each rule, timers are computed by walking the status history.
//
// Business time: the reference relies on the calendar module's duration() and add(), which are
// checked separately against a minute-stepping reference (tests/property/calendar_property_test.cc,
// 100,000 cases a run). Everything else is written anew here.
//
// Readings: where the docs are silent or ambiguous the reading taken is listed here, numbered, for
// the docs to settle. "(as the engine)" marks a reading that follows what the engine's documents
// show, because the docs give no rule and the engine's choice is a reasonable one; the others are
// read from the docs, and where the engine differs the property test reports it.
//
//  R1  A status history is read in the order of its instants; entries at or before the as-of
//      instant count ("up to the as-of instant" read as inclusive, like "at or before the as-of
//      instant" for counting instants), including any before the creation instant. The record's
//      `status` field plays no part in timers or the solve instant; `status` in a condition is
//      that field (as the engine; the status as of the as-of instant by the history would match
//      how `solved` is judged).
//  R2  The first agent reply is the earliest of `first_reply_at` and `agent_replies`. `first_reply`
//      counts from creation, while not paused, until the first agent reply or the first solve,
//      whichever comes first ("or a solve without one"); a reopen does not resume it (as the
//      engine; "counts while not solved" would also allow a clock that a reopen resumes).
//  R3  `next_reply`: a cycle starts at a customer comment while no cycle is open, also before the
//      first agent reply (as the engine; the docs leave open whether the first reply is "an agent
//      reply pending"); the next agent reply ends it, also one at the very instant of the comment
//      (as the engine). Its value is the longest cycle, the open one included (the parser's field
//      description: "longest wait"); no cycle at all is a missing value. An open cycle keeps the
//      timer going until a reply, even one that has counted nothing yet (opened after hours) and
//      even on a solved ticket (where it is paused: no time counts while solved).
//  R4  `brand_ack` runs from `escalated_at` to `brand_ack_at`, `on_site` from `created_at` to
//      `on_site_at`, `registration_approval` (deals) from `registered_at` to `approved_at`, all in
//      plain business time (no status pauses them, a solve does not stop them). Without a start
//      (no escalation, no registration) the value is missing; a ticket timer without its end at
//      or before the as-of instant is running. `registration_approval` reads the deal's instants
//      whatever the as-of instant, like `approved` (R8). `time_to_close` is elapsed (not business)
//      time from `created_at` to `closed_at`, missing without either (as the engine).
//  R5  A timer that is running or paused is not a value yet: percentile, mean and sum leave it
//      out and count it in `running` (the docs say so for percentiles only).
//  R6  Conditions are three-valued (Kleene): `false and unknown` is false, `true or unknown` is
//      true, `not unknown` is unknown. A comparison on a timer that has not stopped is decided
//      when its elapsed time already decides it (elapsed > target for `<=`, >= target for `<`),
//      else unknown. breach_at of a pending item is the earliest instant at which its whole
//      condition becomes false if every running timer keeps running; a timer comparison flips at
//      the instant its elapsed time reaches the literal ("when the elapsed time reached the
//      target", which may be before the as-of instant). A paused timer never flips, so a
//      condition only a paused timer keeps open, or one that running timers can only make true,
//      or one undecided for a missing value, has no breach_at.
//  R7  A missing value (an absent field) makes a comparison unknown (pending, no breach_at); so
//      does money in another currency than the other side (as the engine; the docs call it
//      missing in a measure and say nothing of conditions). A value of another type than the
//      other side (a label against a number, a boolean custom field) makes `==` and the
//      orderings false and `!=` true. `in`/`not in` with a missing left side are unknown; a
//      number on the left is never in a list of strings. Absent `tags` are an empty list.
//  R8  Booleans read from the record: `first_contact_resolution`, `fixed_first_visit`, `won`,
//      `late` (absent: missing). `solved` is whether the ticket has a solve instant (as of the
//      as-of instant, as the docs say). `closed`, `refunded`, `registered`, `approved` (deals)
//      are whether the record has `closed_at`, `refunded_at`, `registered_at`, `approved_at` at
//      all, whatever the as-of instant (as the engine; judging them as of the as-of instant,
//      like `solved`, would be the consistent rule).
//  R9  A number is a JSON number or a string of the form -?digits(.digits)?; anything else
//      ("4,5", "+3", ".5", "1e3", "") is a label.
//  R10 An item whose `where` is not true (false or undecided) does not count for the rule.
//  R11 A ratio's sample (for min_sample) is its denominator. A ratio over no decided item has no
//      value and no interval. A sum's sample is the number of values summed, a count's the count.
//  R12 Status precedence: insufficient_data, then breached, then at_risk, then warning, then
//      met. A total (sum, count) short of a `>=`/`>` target in an open period is at_risk; one
//      already past a `<=`/`<` target is breached (it cannot recover). Only ratios forecast.
//  R13 The forecast counts the pending items whose breach_at is before the period's end. With
//      nothing decided and nothing due there is no forecast value.
//  R14 A brand standard checks the items created in the period at or before the as-of instant
//      that meet its `where`; `checked` counts those whose `each` is decided, `violations` those
//      failing it, `pending` the undecided ones (as the engine). Its status is breached with any
//      violation, else met.
//  R15 Score: only when KPIs are weighted (as the engine: no `score` otherwise); a KPI without a
//      weight then weighs 0. No KPI left after insufficient data: a null score.
//  R16 A percentile target compared with `==`/`!=` lists its evidence in item order.
//  R17 A rolling period [as_of - N days, as_of) ends at the as-of instant, so it is never open
//      (no forecast, no at_risk).
//  R18 Display forms the docs do not give (as the engine): a number is a decimal string without
//      trailing zeros ("86", "4.5"), money "1234.50 EUR" (targets read "EUR 1234.50"), a count
//      "5".
//  R19 A percentile's evidence holds only items of its sample (a running timer is not evidence).
//  R20 `replies` without the field is the number of agent replies (`agent_replies` with
//      `first_reply_at`, as R2; all of them, whatever the as-of instant); `first_contact_resolution`
//      without the field is "solved (as of the as-of instant) with exactly one agent reply" (as
//      the engine and the parser's field description; the docs list both as plain fields).
//      `reopens` is not derived: without the field it is missing (the docs: "an absent value is
//      missing too").
#include "reference_evaluator.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <variant>

namespace pactwatch::reference {

namespace {

using nlohmann::json;
using core::Instant;
using core::Int128;
using rules::CompareOp;
using rules::Expr;

constexpr std::int64_t kMicro = 1'000'000;  // numbers are kept in millionths (six decimals)

// --- small arithmetic --------------------------------------------------------------------------

// n / d rounded half to even (d > 0).
Int128 div_half_even(Int128 n, Int128 d) {
  if (d < 0) {
    n = -n;
    d = -d;
  }
  Int128 q = n / d;
  Int128 r = n % d;
  if (r < 0) {  // floor division
    q -= 1;
    r += d;
  }
  const Int128 twice = 2 * r;
  if (twice > d || (twice == d && q % 2 != 0)) q += 1;
  return q;
}

std::string int128_text(Int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  std::string s;
  while (v != 0) {
    const int digit = static_cast<int>(v % 10);
    s.push_back(static_cast<char>('0' + (digit < 0 ? -digit : digit)));
    v /= 10;
  }
  if (neg) s.push_back('-');
  return {s.rbegin(), s.rend()};
}

// "xx.xx%" for num/den (den > 0), two decimals half-even.
std::string percent_text(Int128 num, Int128 den) {
  const Int128 hundredths = div_half_even(num * 10000, den);
  const bool neg = hundredths < 0;
  const Int128 a = neg ? -hundredths : hundredths;
  std::string frac = int128_text(a % 100);
  if (frac.size() < 2) frac = "0" + frac;
  return (neg ? "-" : "") + int128_text(a / 100) + "." + frac + "%";
}

// A number in millionths as the document shows it (R18).
std::string number_text(std::int64_t micro) {
  const bool neg = micro < 0;
  const std::uint64_t a = neg ? static_cast<std::uint64_t>(-(micro + 1)) + 1 : static_cast<std::uint64_t>(micro);
  std::string s = std::to_string(a / kMicro);
  std::string frac = std::to_string(a % kMicro);
  frac = std::string(6 - frac.size(), '0') + frac;
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  if (!frac.empty()) s += "." + frac;
  return (neg ? "-" : "") + s;
}

// Reads a decimal text exactly into millionths, half-even past six decimals (docs: "Typing of
// measured values"). With allow_exponent, also the exponent forms a JSON number may print as.
std::optional<std::int64_t> read_decimal(std::string_view s, bool allow_exponent) {
  std::size_t i = 0;
  bool neg = false;
  if (i < s.size() && s[i] == '-') {
    neg = true;
    ++i;
  }
  std::string digits;
  int scale = 0;  // digits after the point
  const std::size_t int_start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') digits.push_back(s[i++]);
  if (i == int_start) return std::nullopt;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t frac_start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      digits.push_back(s[i++]);
      ++scale;
    }
    if (i == frac_start) return std::nullopt;
  }
  if (allow_exponent && i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
    int e = 0;
    const std::size_t e_start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && e < 400) e = e * 10 + (s[i++] - '0');
    if (i == e_start) return std::nullopt;
    scale += eneg ? e : -e;
  }
  if (i != s.size()) return std::nullopt;
  // value = digits * 10^-scale; in millionths: digits * 10^(6 - scale).
  Int128 v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
    if (v > (Int128(1) << 100)) return std::nullopt;
  }
  int shift = 6 - scale;
  if (shift >= 0) {
    for (int k = 0; k < shift; ++k) v *= 10;
  } else {
    Int128 d = 1;
    for (int k = 0; k < -shift; ++k) {
      d *= 10;
      if (d > (Int128(1) << 100)) return std::int64_t{0};
    }
    v = div_half_even(v, d);
  }
  if (neg) v = -v;
  if (v > INT64_MAX / 2 || v < INT64_MIN / 2) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

std::optional<std::int64_t> json_number(const json& v) {
  if (v.is_number_integer()) {
    const Int128 x = static_cast<Int128>(v.get<std::int64_t>()) * kMicro;
    return static_cast<std::int64_t>(x);
  }
  if (v.is_number_float()) return read_decimal(v.dump(), true);
  return std::nullopt;
}

std::optional<Instant> instant_field(const json& rec, const char* key) {
  if (!rec.contains(key) || !rec[key].is_string()) return std::nullopt;
  auto t = core::parse_rfc3339(rec[key].get<std::string>());
  if (!t) return std::nullopt;
  return *t;
}

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return v.dump();
}

// --- timelines and timers (docs/calendars.md, "Per-item timers") ------------------------------

struct Change {
  Instant at;
  std::string status;
};

bool is_solved_status(const std::string& s) { return s == "solved" || s == "closed"; }

// A ticket's status history as of the as-of instant (R1), with `solved_at` added as a `solved`
// entry when the whole history has no solved or closed entry (docs/evaluation.md, "The solve
// instant").
struct Timeline {
  Instant created{};
  std::vector<Change> changes;  // sorted, each at or before as_of

  [[nodiscard]] std::string status_at(Instant t) const {
    std::string s = "new";
    for (const auto& c : changes) {
      if (c.at <= t) s = c.status;
    }
    return s;
  }
  [[nodiscard]] std::string current() const { return changes.empty() ? "new" : changes.back().status; }
  // The first time the ticket became solved or closed (up to the as-of instant).
  [[nodiscard]] std::optional<Instant> first_solve() const {
    for (const auto& c : changes) {
      if (is_solved_status(c.status)) return c.at;
    }
    return std::nullopt;
  }
  // The start of the last unbroken run of solved/closed statuses, when the ticket is solved.
  [[nodiscard]] std::optional<Instant> solve_instant() const {
    if (changes.empty() || !is_solved_status(changes.back().status)) return std::nullopt;
    std::size_t i = changes.size() - 1;
    while (i > 0 && is_solved_status(changes[i - 1].status)) --i;
    return changes[i].at;
  }
};

Timeline ticket_timeline(const json& rec, Instant as_of) {
  Timeline tl;
  tl.created = instant_field(rec, "created_at").value_or(Instant{});
  std::vector<Change> all;
  bool has_solve = false;
  if (rec.contains("status_history") && rec["status_history"].is_array()) {
    for (const auto& e : rec["status_history"]) {
      auto at = instant_field(e, "at");
      if (!at || !e.contains("status") || !e["status"].is_string()) continue;
      all.push_back({*at, e["status"].get<std::string>()});
      if (is_solved_status(all.back().status)) has_solve = true;
    }
  }
  if (!has_solve) {
    if (auto s = instant_field(rec, "solved_at")) all.push_back({*s, "solved"});
  }
  std::stable_sort(all.begin(), all.end(), [](const Change& a, const Change& b) { return a.at < b.at; });
  for (const auto& c : all) {
    if (c.at <= as_of) tl.changes.push_back(c);
  }
  return tl;
}

struct Segment {
  Instant start;
  std::optional<Instant> end;  // empty: still going (the last segment of a running timer)
};

enum class TimerState { stopped, running, paused };

struct Timer {
  bool business = true;  // business time on the calendar; false: elapsed time
  std::int64_t elapsed = 0;  // ms
  TimerState state = TimerState::stopped;
  std::vector<Segment> segments;  // counting segments; the last one open while running

  // The instant at which the counted time reaches `target` ms if the timer keeps running (docs:
  // "breach_at"); empty when it cannot (stopped short of it, or paused).
  [[nodiscard]] std::optional<Instant> reach(const calendar::Calendar& cal, std::int64_t target) const {
    std::int64_t cum = 0;
    for (const auto& s : segments) {
      if (s.end) {
        const std::int64_t d = business ? cal.duration(s.start, *s.end).count() : (*s.end - s.start).count();
        if (cum + d >= target) {
          if (!business) return s.start + std::chrono::milliseconds(target - cum);
          auto t = cal.add(s.start, std::chrono::milliseconds(target - cum));
          if (!t) return std::nullopt;
          return *t;
        }
        cum += d;
      } else {
        if (!business) return s.start + std::chrono::milliseconds(target - cum);
        auto t = cal.add(s.start, std::chrono::milliseconds(target - cum));
        if (!t) return std::nullopt;
        return *t;
      }
    }
    return std::nullopt;
  }
};

// Segments of [from, to) during which `counts(status)` holds, by the timeline. With open_end,
// a last segment still counting at `to` is left open (the timer is running).
std::vector<Segment> counting_segments(const Timeline& tl, Instant from, Instant to,
                                       const std::function<bool(const std::string&)>& counts, bool open_end) {
  std::vector<Instant> cuts{from};
  for (const auto& c : tl.changes) {
    if (c.at > from && c.at < to) cuts.push_back(c.at);
  }
  std::vector<Segment> out;
  for (std::size_t i = 0; i < cuts.size(); ++i) {
    const Instant a = cuts[i];
    const Instant b = i + 1 < cuts.size() ? cuts[i + 1] : to;
    if (b <= a && !(open_end && i + 1 == cuts.size())) continue;
    if (!counts(tl.status_at(a))) continue;
    if (open_end && i + 1 == cuts.size()) out.push_back({a, std::nullopt});
    else out.push_back({a, b});
  }
  return out;
}

std::int64_t elapsed_of(const calendar::Calendar& cal, const std::vector<Segment>& segs, Instant as_of, bool business) {
  std::int64_t total = 0;
  for (const auto& s : segs) {
    const Instant end = s.end.value_or(as_of);
    if (end <= s.start) continue;
    total += business ? cal.duration(s.start, end).count() : (end - s.start).count();
  }
  return total;
}

// A timer from `from` to `stop` (or still going at as_of when stop is empty).
Timer status_timer(const calendar::Calendar& cal, const Timeline& tl, Instant from, std::optional<Instant> stop,
                   bool stopped_anyway, Instant as_of, const std::function<bool(const std::string&)>& counts) {
  Timer t;
  const bool stopped = stop.has_value() || stopped_anyway;
  const Instant to = stop.value_or(as_of);
  if (to < from) {
    t.state = TimerState::stopped;
    return t;
  }
  const bool runs_now = !stopped && counts(tl.current());
  t.segments = counting_segments(tl, from, to, counts, runs_now);
  t.elapsed = elapsed_of(cal, t.segments, as_of, true);
  t.state = stopped ? TimerState::stopped : runs_now ? TimerState::running : TimerState::paused;
  if (!runs_now) {
    for (auto& s : t.segments) {
      if (!s.end) s.end = to;
    }
  }
  return t;
}

Timer plain_timer(const calendar::Calendar& cal, Instant start, std::optional<Instant> end, Instant as_of, bool business) {
  Timer t;
  t.business = business;
  if (end) {
    t.state = TimerState::stopped;
    t.segments.push_back({start, *end});
    t.elapsed = *end > start ? (business ? cal.duration(start, *end).count() : (*end - start).count()) : 0;
  } else {
    t.state = TimerState::running;
    t.segments.push_back({start, std::nullopt});
    t.elapsed = as_of > start ? (business ? cal.duration(start, as_of).count() : (as_of - start).count()) : 0;
  }
  return t;
}

// --- values ----------------------------------------------------------------------------------

enum class VK { missing, boolean, string, number, duration, money, list, other };

struct Value {
  VK kind = VK::missing;
  bool b = false;
  std::string s;
  std::optional<std::int64_t> num;  // number; or a string that reads as one (R9)
  std::int64_t ms = 0;
  std::int64_t minor = 0;
  std::string currency;
  std::vector<std::string> list;
  std::optional<core::Ratio> exact;     // a number literal, exactly
  std::shared_ptr<const Timer> timer;  // durations that are timers (next_reply: its open cycle)
  std::int64_t floor_ms = 0;            // next_reply: the longest closed cycle
};

Value missing() { return {}; }
Value boolean(bool b) {
  Value v;
  v.kind = VK::boolean;
  v.b = b;
  return v;
}
Value string_value(std::string s) {
  Value v;
  v.kind = VK::string;
  v.num = read_decimal(s, false);
  v.s = std::move(s);
  return v;
}
Value number(std::int64_t micro) {
  Value v;
  v.kind = VK::number;
  v.num = micro;
  return v;
}
Value timer_value(Timer t) {
  Value v;
  v.kind = VK::duration;
  v.ms = t.elapsed;
  v.timer = std::make_shared<const Timer>(std::move(t));
  return v;
}
Value duration_ms(std::int64_t ms) {
  Value v;
  v.kind = VK::duration;
  v.ms = ms;
  return v;
}

// A JSON value of a field whose type the data decides (score, custom fields): a number, a string
// (which may read as a number), or something else.
Value dynamic_value(const json& rec, const std::string& key) {
  if (!rec.contains(key) || rec[key].is_null()) return missing();
  const json& v = rec[key];
  if (v.is_number()) {
    auto n = json_number(v);
    if (!n) {
      Value o;
      o.kind = VK::other;
      return o;
    }
    return number(*n);
  }
  if (v.is_string()) return string_value(v.get<std::string>());
  Value o;
  o.kind = VK::other;
  return o;
}

Value string_field(const json& rec, const char* key) {
  if (!rec.contains(key) || !rec[key].is_string()) return missing();
  Value v;
  v.kind = VK::string;
  v.s = rec[key].get<std::string>();
  return v;
}

Value bool_field(const json& rec, const char* key) {
  if (!rec.contains(key) || !rec[key].is_boolean()) return missing();
  return boolean(rec[key].get<bool>());
}

Value tags_field(const json& rec) {
  Value v;
  v.kind = VK::list;
  if (rec.contains("tags") && rec["tags"].is_array()) {
    for (const auto& t : rec["tags"]) {
      if (t.is_string()) v.list.push_back(t.get<std::string>());
    }
  }
  return v;
}

Value money_field(const json& rec) {
  if (!rec.contains("amount") || rec["amount"].is_null()) return missing();
  const std::string code = rec.contains("currency") && rec["currency"].is_string() ? rec["currency"].get<std::string>() : "";
  auto cur = core::Currency::from_code(code);
  if (!cur) return missing();
  auto m = core::Money::parse(text_of(rec["amount"]), *cur);
  if (!m) return missing();
  Value v;
  v.kind = VK::money;
  v.minor = m->minor_units();
  v.currency = code;
  return v;
}

// One item's fields as of the as-of instant, computed on first use.
class ItemView {
 public:
  ItemView(const Record& r, const rules::ContractVersion& c, const calendar::Calendar& cal, Instant as_of)
      : rec_(r.fields), kind_(r.kind), contract_(c), cal_(cal), as_of_(as_of) {
    if (kind_ == "tickets") timeline_ = ticket_timeline(rec_, as_of_);
  }

  [[nodiscard]] std::optional<Instant> created() const {
    if (kind_ == "surveys") return instant_field(rec_, "submitted_at");
    if (kind_ == "events") return instant_field(rec_, "at");
    return instant_field(rec_, "created_at");
  }

  // The instant that places the item in a period for `counted_by` (docs/evaluation.md, "Which
  // items count").
  [[nodiscard]] std::optional<Instant> counting_instant(const std::string& counted_by) const {
    if (counted_by == "created") return created();
    if (counted_by == "solved") return kind_ == "tickets" ? timeline_.solve_instant() : std::nullopt;
    if (counted_by == "closed") return instant_field(rec_, "closed_at");
    if (counted_by == "registered") return instant_field(rec_, "registered_at");
    return std::nullopt;
  }

  const Value& get(const std::string& field) {
    auto it = cache_.find(field);
    if (it == cache_.end()) it = cache_.emplace(field, compute(field)).first;
    return it->second;
  }

 private:
  [[nodiscard]] std::optional<Instant> known(const char* key) const {
    auto t = instant_field(rec_, key);
    if (t && *t <= as_of_) return t;
    return std::nullopt;
  }

  [[nodiscard]] std::set<std::string> pause_in(const char* timer) const {
    auto it = contract_.pause_in.find(timer);
    return it == contract_.pause_in.end() ? std::set<std::string>{} : it->second;
  }

  [[nodiscard]] std::vector<Instant> instants(const char* key) const {
    std::vector<Instant> out;
    if (rec_.contains(key) && rec_[key].is_array()) {
      for (const auto& e : rec_[key]) {
        if (!e.is_string()) continue;
        if (auto t = core::parse_rfc3339(e.get<std::string>()); t && *t <= as_of_) out.push_back(*t);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Every agent reply the record lists (`agent_replies` and `first_reply_at`, as R2), whatever the
  // as-of instant (R20).
  [[nodiscard]] std::size_t all_agent_replies() const {
    std::set<Instant> r;
    if (rec_.contains("agent_replies") && rec_["agent_replies"].is_array()) {
      for (const auto& e : rec_["agent_replies"]) {
        if (auto t = e.is_string() ? core::parse_rfc3339(e.get<std::string>()) : std::unexpected(std::string())) r.insert(*t);
      }
    }
    if (auto f = instant_field(rec_, "first_reply_at")) r.insert(*f);
    return r.size();
  }

  [[nodiscard]] std::vector<Instant> agent_replies() const {  // R2
    auto r = instants("agent_replies");
    if (auto f = known("first_reply_at")) r.push_back(*f);
    std::sort(r.begin(), r.end());
    return r;
  }

  Value ticket_field(const std::string& f) {
    const bool solved = timeline_.solve_instant().has_value();
    const Instant created = timeline_.created;
    auto not_paused_nor_solved = [](std::set<std::string> pause) {
      return [pause = std::move(pause)](const std::string& s) { return !is_solved_status(s) && !pause.contains(s); };
    };
    if (f == "priority" || f == "channel" || f == "satisfaction") return string_field(rec_, f.c_str());
    if (f == "status") return string_field(rec_, "status");  // R1
    if (f == "tags") return tags_field(rec_);
    if (f == "reopens") return dynamic_value(rec_, f);
    if (f == "replies") {  // R20
      if (rec_.contains("replies")) return dynamic_value(rec_, f);
      return number(static_cast<std::int64_t>(all_agent_replies()) * kMicro);
    }
    if (f == "solved") return boolean(solved);
    if (f == "first_contact_resolution") {  // R20
      if (rec_.contains(f)) return bool_field(rec_, f.c_str());
      return boolean(solved && all_agent_replies() == 1);
    }
    if (f == "fixed_first_visit") return bool_field(rec_, f.c_str());
    if (f == "first_reply") {
      // Stops at the first agent reply or the first solve, whichever comes first (R2).
      const auto replies = agent_replies();
      std::optional<Instant> stop;
      if (!replies.empty()) stop = std::max(replies.front(), created);
      if (auto s = timeline_.first_solve(); s && (!stop || *s < *stop)) stop = std::max(*s, created);
      return timer_value(status_timer(cal_, timeline_, created, stop, false, as_of_, not_paused_nor_solved(pause_in("first_reply"))));
    }
    if (f == "resolution") {
      return timer_value(status_timer(cal_, timeline_, created, std::nullopt, solved, as_of_,
                                      not_paused_nor_solved(pause_in("resolution"))));
    }
    if (f == "requester_wait") {
      return timer_value(status_timer(cal_, timeline_, created, std::nullopt, solved, as_of_, [](const std::string& s) {
        return s == "new" || s == "open" || s == "hold";
      }));
    }
    if (f == "agent_work") {
      return timer_value(status_timer(cal_, timeline_, created, std::nullopt, solved, as_of_,
                                      [](const std::string& s) { return s == "new" || s == "open"; }));
    }
    if (f == "next_reply") return next_reply(not_paused_nor_solved(pause_in("next_reply")));
    if (f == "brand_ack") {
      auto start = known("escalated_at");
      if (!start) return missing();
      return timer_value(plain_timer(cal_, *start, known("brand_ack_at"), as_of_, true));
    }
    if (f == "on_site") return timer_value(plain_timer(cal_, created, known("on_site_at"), as_of_, true));
    return missing();
  }

  Value next_reply(const std::function<bool(const std::string&)>& counts) {  // R3
    // Comments and replies in time order; a reply at the instant of a comment answers it.
    const auto replies = agent_replies();
    const auto comments = instants("customer_comments");
    std::vector<std::pair<Instant, bool>> events;  // (at, is_reply)
    for (const auto& c : comments) events.push_back({c, false});
    for (const auto& r : replies) events.push_back({r, true});
    std::sort(events.begin(), events.end());
    std::vector<std::pair<Instant, Instant>> cycles;
    std::optional<Instant> open;
    for (const auto& [at, is_reply] : events) {
      if (!is_reply && !open) open = at;  // further comments join the open cycle
      if (is_reply && open) {
        cycles.push_back({*open, at});
        open.reset();
      }
    }
    if (cycles.empty() && !open) return missing();
    std::int64_t longest = 0;
    for (const auto& [a, b] : cycles) {
      Timer t = status_timer(cal_, timeline_, a, b, true, as_of_, counts);
      longest = std::max(longest, t.elapsed);
    }
    if (!open) {
      Timer t;
      t.elapsed = longest;
      return timer_value(std::move(t));
    }
    // An open cycle: only it can still grow; the longest closed cycle is a floor (see compare()).
    Timer t = status_timer(cal_, timeline_, *open, std::nullopt, false, as_of_, counts);
    Value v = timer_value(t);
    v.ms = std::max(longest, t.elapsed);
    v.floor_ms = longest;
    return v;
  }

  Value deal_field(const std::string& f) {
    if (f == "amount") return money_field(rec_);
    if (f == "stage" || f == "type") return string_field(rec_, f.c_str());
    if (f == "tags") return tags_field(rec_);
    if (f == "won") return bool_field(rec_, "won");
    if (f == "closed") return boolean(instant_field(rec_, "closed_at").has_value());
    if (f == "refunded") return boolean(instant_field(rec_, "refunded_at").has_value());
    if (f == "registered") return boolean(instant_field(rec_, "registered_at").has_value());
    if (f == "approved") return boolean(instant_field(rec_, "approved_at").has_value());
    if (f == "registration_approval") {
      auto start = instant_field(rec_, "registered_at");  // R4
      if (!start) return missing();
      return timer_value(plain_timer(cal_, *start, instant_field(rec_, "approved_at"), as_of_, true));
    }
    if (f == "time_to_close") {  // R4
      auto start = instant_field(rec_, "created_at");
      auto end = instant_field(rec_, "closed_at");
      if (!start || !end) return missing();
      return timer_value(plain_timer(cal_, *start, end, as_of_, false));
    }
    return missing();
  }

  Value compute(const std::string& f) {
    if (f.rfind("custom.", 0) == 0) {
      if (!rec_.contains("custom") || !rec_["custom"].is_object()) return missing();
      return dynamic_value(rec_["custom"], f.substr(7));
    }
    if (kind_ == "tickets") return ticket_field(f);
    if (kind_ == "deals") return deal_field(f);
    if (kind_ == "surveys") {
      if (f == "score") return dynamic_value(rec_, "score");
      if (f == "type" || f == "channel" || f == "comment") return string_field(rec_, f.c_str());
      if (f == "tags") return tags_field(rec_);
      return missing();
    }
    // events
    if (f == "name") return string_field(rec_, "name");
    if (f == "value") return dynamic_value(rec_, "value");
    if (f == "amount") return money_field(rec_);
    if (f == "duration") {
      if (!rec_.contains("duration_seconds") || !rec_["duration_seconds"].is_number_integer()) return missing();
      return duration_ms(rec_["duration_seconds"].get<std::int64_t>() * 1000);
    }
    if (f == "late") return bool_field(rec_, "late");
    if (f == "tags") return tags_field(rec_);
    return missing();
  }

  const json& rec_;
  std::string kind_;
  const rules::ContractVersion& contract_;
  const calendar::Calendar& cal_;
  Instant as_of_;
  Timeline timeline_;
  std::map<std::string, Value> cache_;
};

// --- conditions (three-valued; docs/evaluation.md, "Three-valued conditions") ------------------

enum class T3 { f, t, u };

T3 t3_not(T3 a) { return a == T3::t ? T3::f : a == T3::f ? T3::t : T3::u; }

Value literal_value(const rules::Literal& lit) {
  return std::visit(
      [](const auto& x) -> Value {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, bool>) {
          return boolean(x);
        } else if constexpr (std::is_same_v<X, std::string>) {
          Value v;
          v.kind = VK::string;
          v.s = x;
          return v;
        } else if constexpr (std::is_same_v<X, core::Ratio>) {
          Value v;
          v.kind = VK::number;
          v.num = static_cast<std::int64_t>(div_half_even(static_cast<Int128>(x.numerator) * kMicro, x.denominator));
          v.exact = x;
          return v;
        } else if constexpr (std::is_same_v<X, core::Duration>) {
          return duration_ms(std::chrono::duration_cast<std::chrono::milliseconds>(x).count());
        } else if constexpr (std::is_same_v<X, core::Money>) {
          Value v;
          v.kind = VK::money;
          v.minor = x.minor_units();
          v.currency = std::string(x.currency().code());
          return v;
        } else {
          Value v;
          v.kind = VK::list;
          v.list = x;
          return v;
        }
      },
      lit);
}

int sign3(Int128 a, Int128 b) { return a < b ? -1 : a > b ? 1 : 0; }

bool op_holds(CompareOp op, int cmp) {
  switch (op) {
    case CompareOp::eq: return cmp == 0;
    case CompareOp::ne: return cmp != 0;
    case CompareOp::lt: return cmp < 0;
    case CompareOp::le: return cmp <= 0;
    case CompareOp::gt: return cmp > 0;
    case CompareOp::ge: return cmp >= 0;
  }
  return false;
}

CompareOp mirrored(CompareOp op) {
  switch (op) {
    case CompareOp::lt: return CompareOp::gt;
    case CompareOp::le: return CompareOp::ge;
    case CompareOp::gt: return CompareOp::lt;
    case CompareOp::ge: return CompareOp::le;
    default: return op;
  }
}

// Compares two decided values: nullopt when their types differ (R7). A number compares with a
// number, or with a string that reads as one (R9); a string with a string.
std::optional<int> compare_values(const Value& a, const Value& b) {
  if (a.kind == VK::number || b.kind == VK::number) {
    auto exact = [](const Value& v) -> std::optional<std::pair<Int128, Int128>> {
      if (v.exact) return std::pair<Int128, Int128>{v.exact->numerator, v.exact->denominator};
      if ((v.kind == VK::number || v.kind == VK::string) && v.num) return std::pair<Int128, Int128>{*v.num, kMicro};
      return std::nullopt;
    };
    const auto x = exact(a), y = exact(b);
    if (!x || !y) return std::nullopt;
    return sign3(x->first * y->second, y->first * x->second);
  }
  if (a.kind != b.kind) return std::nullopt;
  switch (a.kind) {
    case VK::boolean: return a.b == b.b ? 0 : (a.b ? 1 : -1);
    case VK::string: return a.s == b.s ? 0 : (a.s < b.s ? -1 : 1);
    case VK::duration: return sign3(a.ms, b.ms);
    case VK::money:
      if (a.currency != b.currency) return std::nullopt;
      return sign3(a.minor, b.minor);
    default: return std::nullopt;
  }
}

struct Ctx {
  ItemView& item;
  const calendar::Calendar& cal;
  Instant as_of;
};

class Conditions {
 public:
  explicit Conditions(Ctx& ctx) : ctx_(ctx) {}

  // The condition's truth now, or — with `at` — at a later instant, assuming every running timer
  // keeps running (R6). `flips` collects the flip instants of running timer comparisons.
  T3 eval(const Expr& e, std::optional<Instant> at, std::vector<Instant>* flips) {
    switch (e.kind) {
      case Expr::Kind::all_of: {
        T3 r = T3::t;
        for (const auto& a : e.args) {
          const T3 x = eval(*a, at, flips);
          if (x == T3::f) r = T3::f;
          else if (x == T3::u && r != T3::f) r = T3::u;
        }
        return r;
      }
      case Expr::Kind::any_of: {
        T3 r = T3::f;
        for (const auto& a : e.args) {
          const T3 x = eval(*a, at, flips);
          if (x == T3::t) r = T3::t;
          else if (x == T3::u && r != T3::t) r = T3::u;
        }
        return r;
      }
      case Expr::Kind::negate: return t3_not(eval(*e.args[0], at, flips));
      case Expr::Kind::in:
      case Expr::Kind::not_in: {
        const Value l = operand(*e.args[0]);
        const Value r = operand(*e.args[1]);
        T3 x;
        if (l.kind == VK::missing || r.kind == VK::missing) x = T3::u;
        else if (l.kind != VK::string || r.kind != VK::list) x = T3::f;
        else x = std::find(r.list.begin(), r.list.end(), l.s) != r.list.end() ? T3::t : T3::f;
        return e.kind == Expr::Kind::in ? x : t3_not(x);
      }
      case Expr::Kind::compare: return compare(e, at, flips);
      case Expr::Kind::field: {
        const Value v = operand(e);
        if (v.kind == VK::missing) return T3::u;
        if (v.kind == VK::boolean) return v.b ? T3::t : T3::f;
        return T3::f;
      }
      case Expr::Kind::literal: {
        const Value v = operand(e);
        return v.kind == VK::boolean && v.b ? T3::t : T3::f;
      }
    }
    return T3::u;
  }

 private:
  Value operand(const Expr& e) {
    if (e.kind == Expr::Kind::literal) return literal_value(*e.value);
    return ctx_.item.get(e.field);
  }

  T3 compare(const Expr& e, std::optional<Instant> at, std::vector<Instant>* flips) {
    Value a = operand(*e.args[0]);
    Value b = operand(*e.args[1]);
    CompareOp op = e.op;
    // Put a timer that has not stopped on the left.
    const auto undecided_timer = [](const Value& v) { return v.timer && v.timer->state != TimerState::stopped; };
    if (undecided_timer(b) && !undecided_timer(a)) {
      std::swap(a, b);
      op = mirrored(op);
    }
    if (a.kind == VK::missing || b.kind == VK::missing) return T3::u;
    // Money in another currency than the other side is missing, as in a measure (R7).
    if (a.kind == VK::money && b.kind == VK::money && a.currency != b.currency) return T3::u;
    if (!undecided_timer(a) || b.kind != VK::duration || undecided_timer(b)) {
      if (undecided_timer(a) || undecided_timer(b)) return T3::u;  // two running timers: not drawn
      auto c = compare_values(a, b);
      if (!c) return op == CompareOp::ne ? T3::t : T3::f;
      return op_holds(op, *c) ? T3::t : T3::f;
    }
    // A running or paused timer against a decided duration (R6).
    const Timer& timer = *a.timer;
    const std::int64_t target = b.ms;
    const bool grows_false = op == CompareOp::le || op == CompareOp::lt || op == CompareOp::eq;
    // next_reply: the longest closed cycle is fixed; only the open cycle grows (R3).
    const std::int64_t fixed = a.floor_ms;
    const std::int64_t open_elapsed = timer.elapsed;
    auto decided_now = [&](std::int64_t el) -> std::optional<T3> {
      switch (op) {
        case CompareOp::le: return el > target ? std::optional(T3::f) : std::nullopt;
        case CompareOp::lt: return el >= target ? std::optional(T3::f) : std::nullopt;
        case CompareOp::eq: return el > target ? std::optional(T3::f) : std::nullopt;
        case CompareOp::ge: return el >= target ? std::optional(T3::t) : std::nullopt;
        case CompareOp::gt: return el > target ? std::optional(T3::t) : std::nullopt;
        case CompareOp::ne: return el > target ? std::optional(T3::t) : std::nullopt;
      }
      return std::nullopt;
    };
    if (auto d = decided_now(std::max(fixed, open_elapsed))) return *d;
    if (timer.state != TimerState::running) return T3::u;
    const auto flip = timer.reach(ctx_.cal, target);
    if (!flip) return T3::u;
    if (flips) flips->push_back(*flip);
    if (at && *at >= *flip) return grows_false ? T3::f : T3::t;
    return T3::u;
  }

  Ctx& ctx_;
};

struct Truth {
  T3 value = T3::u;
  std::optional<Instant> breach_at;
};

Truth truth_of(const Expr& e, Ctx& ctx) {
  Conditions c(ctx);
  std::vector<Instant> flips;
  Truth t;
  t.value = c.eval(e, std::nullopt, &flips);
  if (t.value != T3::u) return t;
  std::sort(flips.begin(), flips.end());
  flips.erase(std::unique(flips.begin(), flips.end()), flips.end());
  for (const auto& f : flips) {
    if (c.eval(e, f, nullptr) == T3::f) {
      t.breach_at = f;
      break;
    }
  }
  return t;
}

// --- periods (docs/evaluation.md, "Periods") -------------------------------------------------

// Local midnight of a date in the zone: a time that does not exist moves forward by the gap, an
// ambiguous one takes the first occurrence (docs/calendars.md, "Semantics").
Instant local_midnight(const date::time_zone* z, date::year_month_day d) {
  const date::local_seconds local{date::local_days{d}.time_since_epoch()};
  // `first` is the offset in force before a gap or an overlap: subtracting it moves a time in a
  // gap forward by the gap and takes the first occurrence of an ambiguous one.
  const auto info = z->get_info(local);
  const date::sys_seconds s{local.time_since_epoch() - info.first.offset};
  return std::chrono::time_point_cast<std::chrono::milliseconds>(s);
}

}  // namespace

ItemKey key_of(const Record& r) {
  ItemKey k;
  k.source = r.fields.contains("source") && r.fields["source"].is_string() ? r.fields["source"].get<std::string>() : "import";
  k.kind = r.kind;
  k.id = r.fields.contains("id") ? text_of(r.fields["id"]) : "";
  return k;
}

Window period_containing(const rules::ContractVersion& c, const std::string& timezone, Instant t, Instant as_of) {
  Window w;
  if (c.period.kind == rules::Period::Kind::rolling) {
    w.end = as_of;
    w.start = as_of - std::chrono::duration_cast<std::chrono::milliseconds>(c.period.rolling);
    return w;
  }
  const auto* z = date::locate_zone(timezone);
  const auto local = z->to_local(std::chrono::time_point_cast<std::chrono::seconds>(t));
  const date::year_month_day ymd{date::floor<date::days>(local)};
  int y = static_cast<int>(ymd.year());
  unsigned m = static_cast<unsigned>(ymd.month());
  char label[32];
  unsigned first = m, months = 1;
  if (c.period.kind == rules::Period::Kind::quarter) {
    first = (m - 1) / 3 * 3 + 1;
    months = 3;
    std::snprintf(label, sizeof label, "%04d-Q%u", y, (m - 1) / 3 + 1);
  } else {
    std::snprintf(label, sizeof label, "%04d-%02u", y, m);
  }
  w.label = label;
  w.start = local_midnight(z, date::year{y} / date::month{first} / 1);
  unsigned next = first + months;
  int ny = y;
  if (next > 12) {
    next -= 12;
    ny += 1;
  }
  w.end = local_midnight(z, date::year{ny} / date::month{next} / 1);
  return w;
}

std::string duration_text(std::int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const std::int64_t days = ms / 86'400'000, hours = ms / 3'600'000 % 24, minutes = ms / 60'000 % 60;
  const std::int64_t secs = ms / 1000 % 60, millis = ms % 1000;
  if (days) out += std::to_string(days) + "d";
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (secs || millis) {
    out += std::to_string(secs);
    if (millis) {
      std::string f = std::to_string(millis);
      f = std::string(3 - f.size(), '0') + f;
      while (f.back() == '0') f.pop_back();
      out += "." + f;
    }
    out += "s";
  }
  return out;
}

json duration_value(std::int64_t ms) { return json{{"milliseconds", ms}, {"text", duration_text(ms)}}; }

namespace {

// A measured value of the measure's type, or why not (docs/evaluation.md, "Typing of measured
// values").
struct Measured {
  enum { value, missing, running } what = missing;
  Int128 v = 0;  // ms, minor units or millionths
};

Measured measured(const Value& v, rules::ValueType type, const std::string& currency) {
  Measured m;
  switch (type) {
    case rules::ValueType::duration:
      if (v.kind != VK::duration) return m;
      if (v.timer && v.timer->state != TimerState::stopped) {
        m.what = Measured::running;
        return m;
      }
      m.what = Measured::value;
      m.v = v.ms;
      return m;
    case rules::ValueType::money:
      if (v.kind != VK::money || v.currency != currency) return m;
      m.what = Measured::value;
      m.v = v.minor;
      return m;
    default:  // number, dynamic
      if ((v.kind == VK::number || v.kind == VK::string) && v.num) {
        m.what = Measured::value;
        m.v = *v.num;
      }
      return m;
  }
}

json shown(Int128 v, rules::ValueType type, const std::string& currency) {
  switch (type) {
    case rules::ValueType::duration: return duration_value(static_cast<std::int64_t>(v));
    case rules::ValueType::money:
      return core::Money(static_cast<std::int64_t>(v), *core::Currency::from_code(currency)).to_string();
    default: return number_text(static_cast<std::int64_t>(v));
  }
}

// Compares a measured value with a threshold literal.
bool meets(Int128 v, rules::ValueType type, const rules::Threshold& t) {
  Int128 lhs_n = v, lhs_d = 1, rhs_n = 0, rhs_d = 1;
  if (type == rules::ValueType::duration) {
    rhs_n = std::chrono::duration_cast<std::chrono::milliseconds>(std::get<core::Duration>(t.value)).count();
  } else if (type == rules::ValueType::money) {
    rhs_n = std::get<core::Money>(t.value).minor_units();
  } else {
    const auto& r = std::get<core::Ratio>(t.value);
    lhs_d = kMicro;
    rhs_n = r.numerator;
    rhs_d = r.denominator;
  }
  return op_holds(t.op, sign3(lhs_n * rhs_d, rhs_n * lhs_d));
}

// num/den against a percentage (or plain ratio) threshold, exactly.
bool ratio_meets(Int128 num, Int128 den, const rules::Threshold& t) {
  const auto& r = std::get<core::Ratio>(t.value);
  return op_holds(t.op, sign3(num * r.denominator, static_cast<Int128>(r.numerator) * den));
}

std::string four_decimals(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", x);
  return buf;
}

// The 95% Wilson score interval, exactly as docs/evaluation.md ("Values") states it.
std::pair<std::string, std::string> wilson(std::int64_t k, std::int64_t n) {
  const double z = 1.959963984540054;
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(k) / nn;
  const double z2 = z * z;
  const double denom = 1 + z2 / nn;
  const double centre = (p + z2 / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / denom;
  return {four_decimals(std::clamp(centre - half, 0.0, 1.0)), four_decimals(std::clamp(centre + half, 0.0, 1.0))};
}

struct Counted {
  std::size_t index;
  ItemKey key;
};

std::string status_of(bool meets_target, const std::optional<rules::Threshold>& warning, bool meets_warning) {
  if (!meets_target) return "breached";
  if (warning && !meets_warning) return "warning";
  return "met";
}

}  // namespace

Document evaluate(const rules::ContractVersion& contract, const calendar::Calendar& cal, std::span<const Record> records,
                  const Window& period, Instant as_of) {
  Document doc;
  doc.period = period;
  doc.open = as_of < period.end;
  std::vector<std::unique_ptr<ItemView>> views;
  views.reserve(records.size());
  for (const auto& r : records) views.push_back(std::make_unique<ItemView>(r, contract, cal, as_of));
  std::set<ItemKey> inputs;

  // The items of a rule's source counting in the period by `counted_by`, in item order, before
  // `where` (docs/evaluation.md, "Which items count", "Inputs of a document").
  auto candidates = [&](rules::SourceKind source, const std::string& counted_by) {
    std::vector<Counted> out;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      if (r.kind != to_string(source)) continue;
      if (!r.fields.contains("partner") || !r.fields["partner"].is_string() || r.fields["partner"].get<std::string>() != contract.partner) continue;
      const auto t = views[i]->counting_instant(counted_by);
      if (!t || *t < period.start || *t >= period.end || *t > as_of) continue;
      out.push_back({i, key_of(r)});
      inputs.insert(out.back().key);
    }
    std::sort(out.begin(), out.end(), [](const Counted& a, const Counted& b) { return a.key < b.key; });
    return out;
  };
  auto where_holds = [&](const std::shared_ptr<const Expr>& where, std::size_t i) {
    if (!where) return true;
    Ctx ctx{*views[i], cal, as_of};
    return truth_of(*where, ctx).value == T3::t;  // R10
  };

  auto rule = [&](const rules::Kpi& k, const char* section) {
    RuleResult out;
    out.section = section;
    out.id = k.id;
    out.measure = std::string(rules::to_string(k.measure.kind));
    std::vector<Counted> items;
    for (const auto& c : candidates(k.source, k.counted_by)) {
      if (where_holds(k.where, c.index)) items.push_back(c);
    }
    const auto& target = k.objective.target;
    const auto& warning = k.objective.warning;
    switch (k.measure.kind) {
      case rules::MeasureKind::ratio: {
        std::int64_t num = 0, den = 0;
        for (const auto& c : items) {
          Ctx ctx{*views[c.index], cal, as_of};
          const Truth t = truth_of(*k.measure.condition, ctx);
          if (t.value == T3::t) {
            ++num;
            ++den;
          } else if (t.value == T3::f) {
            ++den;
            out.evidence.push_back({c.key.source, c.key.id, std::nullopt});
          } else {
            out.pending.push_back({c.key.source, c.key.id, t.breach_at});
          }
        }
        out.numerator = num;
        out.denominator = den;
        out.value = den > 0 ? json(percent_text(num, den)) : json(nullptr);
        if (den > 0) out.interval95 = wilson(num, den);
        if (doc.open && contract.period.kind != rules::Period::Kind::rolling) {
          for (const auto& p : out.pending) {
            if (p.breach_at && *p.breach_at < period.end) ++out.pending_due;  // R13
          }
          const std::int64_t fden = den + out.pending_due;
          out.has_forecast = fden > 0;  // R13
          out.forecast_value = fden > 0 ? json(percent_text(num, fden)) : json(nullptr);
          out.forecast_meets_target = fden > 0 && ratio_meets(num, fden, target);
        }
        if (den < k.min_sample) {
          out.status = "insufficient_data";
        } else {
          const bool mt = ratio_meets(num, den, target);
          out.status = status_of(mt, warning, warning && ratio_meets(num, den, *warning));
          if (mt && out.has_forecast && !out.forecast_meets_target) out.status = "at_risk";
        }
        break;
      }
      case rules::MeasureKind::percentile:
      case rules::MeasureKind::mean:
      case rules::MeasureKind::sum: {
        struct Sampled {
          Int128 v;
          Counted c;
        };
        std::vector<Sampled> sample;
        for (const auto& c : items) {
          const Measured m = measured(views[c.index]->get(k.measure.of), k.measure.type, contract.currency);
          if (m.what == Measured::value) sample.push_back({m.v, c});
          else if (m.what == Measured::running) ++out.running;
          else ++out.missing_values;
        }
        const auto n = static_cast<std::int64_t>(sample.size());
        out.sample = n;
        std::optional<Int128> value;
        if (k.measure.kind == rules::MeasureKind::percentile) {
          if (n > 0) {
            std::vector<Int128> sorted;
            for (const auto& s : sample) sorted.push_back(s.v);
            std::sort(sorted.begin(), sorted.end());
            // Nearest rank: ceil(p * n / 100), at least 1.
            std::int64_t rank = (static_cast<std::int64_t>(k.measure.percentile) * n + 99) / 100;
            rank = std::max<std::int64_t>(rank, 1);
            value = sorted[static_cast<std::size_t>(rank - 1)];
          }
          // Evidence: the items whose own value misses the target, worst first (R16, R19).
          std::vector<Sampled> bad;
          for (const auto& s : sample) {
            if (!meets(s.v, k.measure.type, target)) bad.push_back(s);
          }
          const bool descending = target.op == CompareOp::lt || target.op == CompareOp::le;
          const bool ascending = target.op == CompareOp::gt || target.op == CompareOp::ge;
          std::stable_sort(bad.begin(), bad.end(), [&](const Sampled& a, const Sampled& b) {
            if (a.v != b.v && (descending || ascending)) return descending ? a.v > b.v : a.v < b.v;
            return a.c.key < b.c.key;
          });
          for (const auto& s : bad) out.evidence.push_back({s.c.key.source, s.c.key.id, std::nullopt});
        } else if (k.measure.kind == rules::MeasureKind::mean) {
          if (n > 0) {
            Int128 total = 0;
            for (const auto& s : sample) total += s.v;
            value = div_half_even(total, n);  // ms, minor units or millionths: the rounding stated
          }
        } else {
          Int128 total = 0;
          for (const auto& s : sample) total += s.v;
          value = total;  // a sum over no items is zero
        }
        out.value = value ? shown(*value, k.measure.type, contract.currency) : json(nullptr);
        if (k.measure.kind == rules::MeasureKind::sum) {
          const bool mt = meets(*value, k.measure.type, target);
          out.status = status_of(mt, warning, warning && meets(*value, k.measure.type, *warning));
          if (!mt && doc.open && (target.op == CompareOp::ge || target.op == CompareOp::gt)) out.status = "at_risk";  // R12
        } else if (n < k.min_sample || !value) {
          out.status = "insufficient_data";
        } else {
          out.status = status_of(meets(*value, k.measure.type, target), warning,
                                 warning && meets(*value, k.measure.type, *warning));
        }
        break;
      }
      case rules::MeasureKind::count: {
        const auto n = static_cast<std::int64_t>(items.size());
        out.sample = n;
        out.value = std::to_string(n);
        const Int128 v = static_cast<Int128>(n) * kMicro;
        const bool mt = meets(v, rules::ValueType::number, target);
        out.status = status_of(mt, warning, warning && meets(v, rules::ValueType::number, *warning));
        if (!mt && doc.open && (target.op == CompareOp::ge || target.op == CompareOp::gt)) out.status = "at_risk";
        break;
      }
    }
    return out;
  };

  for (const auto& k : contract.kpis) doc.kpis.push_back(rule(k, "kpis"));
  for (const auto& k : contract.obligations) doc.obligations.push_back(rule(k, "obligations"));
  for (const auto& s : contract.brand_standards) {
    RuleResult out;
    out.section = "brand_standards";
    out.id = s.id;
    out.measure = "standard";
    for (const auto& c : candidates(s.source, "created")) {
      if (!where_holds(s.where, c.index)) continue;
      Ctx ctx{*views[c.index], cal, as_of};
      const Truth t = truth_of(*s.each, ctx);
      if (t.value != T3::u) ++out.checked;
      if (t.value == T3::f) {
        ++out.violations;
        out.evidence.push_back({c.key.source, c.key.id, std::nullopt});
      } else if (t.value == T3::u) {
        ++out.pending_count;  // R14
      }
    }
    out.status = out.violations > 0 ? "breached" : "met";
    doc.brand_standards.push_back(std::move(out));
  }

  // Score (docs/evaluation.md, "Score"; R15).
  bool any_weight = false;
  for (const auto& k : contract.kpis) any_weight = any_weight || k.weight.has_value();
  // Exact fractions: a weight n/d counts as n * (L / d) over the common denominator L.
  std::vector<std::pair<Int128, Int128>> weights;
  for (const auto& k : contract.kpis) {
    if (!any_weight) weights.push_back({1, 1});
    else if (k.weight) weights.push_back({k.weight->numerator, k.weight->denominator});
    else weights.push_back({0, 1});
  }
  auto gcd = [](Int128 a, Int128 b) {
    while (b != 0) {
      const Int128 r = a % b;
      a = b;
      b = r;
    }
    return a;
  };
  Int128 common_d = 1;
  for (const auto& w : weights) common_d = common_d / gcd(common_d, w.second) * w.second;
  Int128 met_n = 0, all_n = 0;
  for (std::size_t i = 0; i < contract.kpis.size(); ++i) {
    const auto& st = doc.kpis[i].status;
    if (st == "insufficient_data") continue;
    const Int128 w = weights[i].first * (common_d / weights[i].second);
    all_n += w;
    if (st == "met" || st == "warning" || st == "at_risk") met_n += w;
  }
  doc.score = all_n > 0 ? json(percent_text(met_n, all_n)) : json(nullptr);
  if (!any_weight) doc.score = "(absent)";

  doc.inputs.assign(inputs.begin(), inputs.end());
  return doc;
}

std::vector<Instant> counting_instants(const rules::ContractVersion& contract, const Record& r, Instant as_of) {
  std::set<std::string> ways;
  for (const auto* list : {&contract.kpis, &contract.obligations}) {
    for (const auto& k : *list) {
      if (to_string(k.source) == r.kind) ways.insert(k.counted_by);
    }
  }
  for (const auto& s : contract.brand_standards) {
    if (to_string(s.source) == r.kind) ways.insert("created");
  }
  ItemView view(r, contract, calendar::Calendar::always_open(), as_of);
  std::vector<Instant> out;
  for (const auto& w : ways) {
    if (auto t = view.counting_instant(w)) out.push_back(*t);
  }
  return out;
}

}  // namespace pactwatch::reference
