// Business-hours calendars: which instants are open, and business time between instants.
//
// A calendar is compiled once into a sorted list of disjoint open intervals in UTC with the
// business time accumulated before each, plus an index by UTC day, so duration() is two constant-
// time lookups and add()/sub() one binary search. Semantics are in docs/calendars.md.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pactwatch/core/time.h"

namespace pactwatch::calendar {

using Millis = std::chrono::milliseconds;
// A local calendar date, as days since 1970-01-01 (the date's own day number, not an instant).
using LocalDate = std::chrono::sys_days;

// Minutes after the local midnight of the day the interval belongs to: [start, end), with
// 0 <= start < end <= 2880. An overnight interval (22:00-06:00) ends past 1440.
struct LocalInterval {
  int start = 0;
  int end = 0;
  friend bool operator==(const LocalInterval&, const LocalInterval&) = default;
};

struct YearlyHoliday {
  unsigned month = 1;
  unsigned day = 1;
};

// What a calendar file says, before compilation.
struct CalendarSpec {
  std::string name;
  std::string timezone;                               // IANA name
  std::array<std::vector<LocalInterval>, 7> weekly;   // index 0 = Sunday … 6 = Saturday
  std::set<LocalDate> holidays;                       // single dates, ranges and iCalendar events, expanded
  std::vector<YearlyHoliday> yearly_holidays;         // every year on that month and day
  std::map<LocalDate, std::vector<LocalInterval>> overrides;  // replace the weekly hours that day
  std::map<LocalDate, std::vector<LocalInterval>> breaks;     // removed from that day's hours
};

// The span of instants a compiled calendar answers for: [first_year-01-01T00:00Z, last_year+1-01-01T00:00Z).
// The default ends with 2037: the system time zone database has explicit transitions up to then.
struct YearRange {
  int first_year = 1990;
  int last_year = 2037;
};

struct Span {
  core::Instant start;
  core::Instant end;
};

class Calendar {
 public:
  // Compiles a spec; fails only for an unknown time zone or an impossible range.
  [[nodiscard]] static std::expected<Calendar, std::string> compile(const CalendarSpec& spec, YearRange range = {});
  // The built-in always-open calendar named "24x7".
  [[nodiscard]] static const Calendar& always_open();
  [[nodiscard]] static CalendarSpec always_open_spec();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& timezone() const { return timezone_; }
  [[nodiscard]] core::Instant range_start() const { return core::from_unix_ms(range_start_); }
  [[nodiscard]] core::Instant range_end() const { return core::from_unix_ms(range_end_); }

  // Business time in [a, b); zero when b <= a. Instants outside the range are clamped to it.
  [[nodiscard]] Millis duration(core::Instant a, core::Instant b) const;
  // The earliest instant at which d of business time has elapsed since t (t itself for d = 0).
  // When d exactly uses up an open interval the answer is that interval's end.
  [[nodiscard]] std::expected<core::Instant, std::string> add(core::Instant t, Millis d) const;
  // The latest instant s <= t with d of business time in [s, t) (t itself for d = 0).
  [[nodiscard]] std::expected<core::Instant, std::string> sub(core::Instant t, Millis d) const;
  [[nodiscard]] bool is_open(core::Instant t) const;
  // t when open, else the start of the next open interval.
  [[nodiscard]] std::expected<core::Instant, std::string> next_open(core::Instant t) const;
  // Up to n open intervals ending after t (the one containing t first), or, with before, starting
  // before t (the nearest first). Intervals are whole, clipped only to the calendar's range.
  [[nodiscard]] std::vector<Span> periods(core::Instant t, std::size_t n, bool before) const;

 private:
  Calendar() = default;
  [[nodiscard]] std::size_t first_ending_after(std::int64_t t) const;  // first i with ends_[i] > t
  [[nodiscard]] std::int64_t business_before(std::int64_t t) const;     // business ms in [origin, t)
  [[nodiscard]] std::expected<std::int64_t, std::string> check_range(core::Instant t) const;

  std::string name_;
  std::string timezone_;
  std::int64_t range_start_ = 0;  // ms, inclusive
  std::int64_t range_end_ = 0;    // ms, exclusive
  std::int64_t first_day_ = 0;    // UTC day number of bucket_[0]
  std::vector<std::int64_t> starts_;
  std::vector<std::int64_t> ends_;
  std::vector<std::int64_t> cum_;        // cum_[i] = business ms before interval i; size n + 1
  std::vector<std::uint32_t> bucket_;    // per UTC day: first interval ending after that day's start
};

// Subtracts `cut` from `base` (both in one day's minute space), keeping order.
[[nodiscard]] std::vector<LocalInterval> subtract(const std::vector<LocalInterval>& base,
                                                  const std::vector<LocalInterval>& cut);

// The open local intervals of a date: none on a holiday, else the override or the weekly hours,
// minus that date's breaks.
[[nodiscard]] std::vector<LocalInterval> day_intervals(const CalendarSpec& spec, LocalDate date);

}  // namespace pactwatch::calendar
