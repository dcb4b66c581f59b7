// Property test: compiled calendars against a deliberately simple reference that marks every
// minute of a window open or closed by resolving each day's local intervals with the tz database,
// then answers by stepping through the minutes one at a time.
//
// Random calendars (overnight shifts, holidays, yearly holidays, overrides, breaks) in zones with
// DST and odd offsets, windows placed on DST transitions and year ends. The seed comes from
// PACTWATCH_PROPERTY_SEED (a number, or "random"); a failure prints the seed of its calendar.
#include <date/tz.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "pactwatch/calendar/calendar.h"

namespace pactwatch::calendar {
namespace {

using namespace std::chrono;

constexpr const char* kZones[] = {"Europe/Paris",       "America/New_York", "America/Sao_Paulo", "Australia/Lord_Howe",
                                  "Asia/Kolkata",       "Pacific/Chatham",  "UTC"};
constexpr int kCalendars = 1000;
constexpr int kQueriesPerCalendar = 100;  // 100,000 cases
constexpr std::int64_t kMinute = 60'000;
constexpr int kWindowMinutes = 6 * 1440;

std::uint64_t base_seed() {
  const char* env = std::getenv("PACTWATCH_PROPERTY_SEED");
  if (env == nullptr || *env == '\0') return 20261125;
  if (std::string_view(env) == "random") return std::random_device{}();
  return std::strtoull(env, nullptr, 10);
}

// --- the reference -------------------------------------------------------------------------

// Local wall time -> UTC minute, written independently of the engine: try both offsets around
// the wall time and keep those that round-trip; the earliest wins (first occurrence); when none
// does, the time is in a gap and moves forward by it (the offset from before the gap).
std::int64_t ref_resolve(const date::time_zone* z, LocalDate d, int minute) {
  const date::local_seconds local{seconds(d.time_since_epoch()) + minutes(minute)};
  const auto info = z->get_info(local);
  std::vector<std::int64_t> valid;
  for (auto off : {info.first.offset, info.second.offset}) {
    const date::sys_seconds candidate{local.time_since_epoch() - off};
    if (z->get_info(candidate).offset == off) valid.push_back(candidate.time_since_epoch().count());
  }
  const std::int64_t s = valid.empty() ? (local.time_since_epoch() - info.first.offset).count()
                                       : *std::min_element(valid.begin(), valid.end());
  return s / 60;
}

// Open minutes of a local day as a 2880-minute mask: weekly or override hours, minus breaks; none
// on a holiday.
std::vector<bool> ref_day_mask(const CalendarSpec& spec, LocalDate d) {
  std::vector<bool> mask(2880, false);
  const year_month_day ymd{d};
  if (spec.holidays.contains(d)) return mask;
  for (const auto& y : spec.yearly_holidays) {
    if (static_cast<unsigned>(ymd.month()) == y.month && static_cast<unsigned>(ymd.day()) == y.day) return mask;
  }
  const auto& hours = spec.overrides.contains(d) ? spec.overrides.at(d) : spec.weekly[weekday{d}.c_encoding()];
  for (const auto& iv : hours)
    for (int m = iv.start; m < iv.end; ++m) mask[static_cast<std::size_t>(m)] = true;
  if (spec.breaks.contains(d)) {
    for (const auto& iv : spec.breaks.at(d))
      for (int m = iv.start; m < iv.end; ++m) mask[static_cast<std::size_t>(m)] = false;
  }
  return mask;
}

struct Reference {
  std::int64_t first_minute;   // UTC minute of open[0]
  std::vector<bool> open;      // per UTC minute of the window

  bool at(std::int64_t minute) const { return open[static_cast<std::size_t>(minute - first_minute)]; }
};

Reference build_reference(const CalendarSpec& spec, std::int64_t first_minute) {
  const auto* z = date::locate_zone(spec.timezone);
  Reference ref{first_minute, std::vector<bool>(kWindowMinutes, false)};
  const LocalDate first_day = LocalDate{days(first_minute / 1440)} - days(3);
  const LocalDate last_day = LocalDate{days(first_minute / 1440 + kWindowMinutes / 1440)} + days(3);
  for (LocalDate d = first_day; d <= last_day; d += days(1)) {
    const auto mask = ref_day_mask(spec, d);
    for (int m = 0; m < 2880;) {
      if (!mask[static_cast<std::size_t>(m)]) {
        ++m;
        continue;
      }
      int e = m;
      while (e < 2880 && mask[static_cast<std::size_t>(e)]) ++e;
      const std::int64_t s_utc = ref_resolve(z, d, m);
      const std::int64_t e_utc = ref_resolve(z, d, e);
      for (std::int64_t u = std::max(s_utc, first_minute); u < std::min(e_utc, first_minute + kWindowMinutes); ++u) {
        ref.open[static_cast<std::size_t>(u - first_minute)] = true;
      }
      m = e;
    }
  }
  return ref;
}

// --- random calendars ----------------------------------------------------------------------

int random_minute(std::mt19937_64& rng) {
  // Bias toward the hours where clocks change, and toward odd minutes.
  switch (rng() % 4) {
    case 0: return static_cast<int>(rng() % 5) * 30;        // 00:00-02:00 on the half hour
    case 1: return 60 + static_cast<int>(rng() % 180);      // 01:00-04:00, any minute
    default: return static_cast<int>(rng() % 96) * 15;      // quarter hours
  }
}

std::vector<LocalInterval> random_intervals(std::mt19937_64& rng, int max_count) {
  std::vector<LocalInterval> out;
  const int count = static_cast<int>(rng() % static_cast<std::uint64_t>(max_count + 1));
  int cursor = 0;
  for (int i = 0; i < count && cursor < 1440; ++i) {
    const int start = cursor + random_minute(rng) % (1440 - cursor);
    int end = start + 15 + static_cast<int>(rng() % 600);
    if (rng() % 5 == 0) end = start + 60 + static_cast<int>(rng() % 1200);  // maybe overnight
    end = std::min(end, 2880);
    out.push_back({start, end});
    cursor = std::min(end, 1440);
  }
  return out;
}

std::vector<std::int64_t> interesting_minutes(const date::time_zone* z) {
  std::vector<std::int64_t> out;
  for (int y = 2025; y <= 2027; ++y) {
    auto t = date::sys_seconds{sys_days(year{y} / January / 1)};
    out.push_back(t.time_since_epoch().count() / 60);  // year end
    const auto end = date::sys_seconds{sys_days(year{y + 1} / January / 1)};
    while (t < end) {
      const auto info = z->get_info(t);
      if (info.end >= end) break;
      out.push_back(info.end.time_since_epoch().count() / 60);  // a transition
      t = info.end;
    }
  }
  return out;
}

CalendarSpec random_spec(std::mt19937_64& rng, std::int64_t window_start_minute) {
  CalendarSpec spec;
  spec.name = "random";
  spec.timezone = kZones[rng() % std::size(kZones)];
  for (auto& day : spec.weekly) day = random_intervals(rng, 3);
  const LocalDate first{days(window_start_minute / 1440)};
  auto random_day = [&] { return first + days(static_cast<int>(rng() % 8) - 1); };
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) spec.holidays.insert(random_day());
  if (rng() % 3 == 0) {
    const year_month_day ymd{random_day()};
    spec.yearly_holidays.push_back({static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day())});
  }
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) spec.overrides[random_day()] = random_intervals(rng, 2);
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) spec.breaks[random_day()] = random_intervals(rng, 2);
  return spec;
}

core::Instant at_minute(std::int64_t m) { return core::from_unix_ms(m * kMinute); }

TEST(CalendarProperty, MatchesMinuteSteppingReference) {
  const std::uint64_t seed = base_seed();
  std::cout << "calendar property seed: " << seed << " (PACTWATCH_PROPERTY_SEED to repeat)\n";
  int cases = 0;
  for (int c = 0; c < kCalendars; ++c) {
    const std::uint64_t cal_seed = seed * std::uint64_t{1'000'003} + static_cast<std::uint64_t>(c);
    std::mt19937_64 rng(cal_seed);
    const auto* zone = date::locate_zone(kZones[rng() % std::size(kZones)]);
    const auto points = interesting_minutes(zone);
    const std::int64_t center = points[rng() % points.size()];
    const std::int64_t window_start = center - 2 * 1440 - static_cast<std::int64_t>(rng() % 1440);
    CalendarSpec spec = random_spec(rng, window_start);
    spec.timezone = zone->name();
    auto compiled = Calendar::compile(spec, {2024, 2028});
    ASSERT_TRUE(compiled) << "seed " << cal_seed;
    const Calendar& cal = *compiled;
    const Reference ref = build_reference(spec, window_start);
    // Queries stay one day inside the window so the stepping reference never runs off its end.
    const std::int64_t lo = window_start + 1440;
    const std::int64_t span = kWindowMinutes - 2 * 1440;

    for (int q = 0; q < kQueriesPerCalendar; ++q, ++cases) {
      const std::int64_t t1 = lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span));
      switch (q % 4) {
        case 0: {  // duration
          const std::int64_t t2 = lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span));
          std::int64_t expected = 0;
          for (std::int64_t m = t1; m < t2; ++m) expected += ref.at(m) ? 1 : 0;
          ASSERT_EQ(cal.duration(at_minute(t1), at_minute(t2)).count(), expected * kMinute)
              << "seed " << cal_seed << " zone " << spec.timezone << " duration " << core::format_rfc3339(at_minute(t1))
              << " " << core::format_rfc3339(at_minute(t2));
          break;
        }
        case 1: {  // add: the end of the d-th open minute at or after t1
          const std::int64_t d = 1 + static_cast<std::int64_t>(rng() % 1500);
          std::int64_t m = t1, counted = 0;
          while (m < window_start + kWindowMinutes && counted < d) counted += ref.at(m++) ? 1 : 0;
          if (counted < d) break;  // not enough open time inside the reference window
          auto got = cal.add(at_minute(t1), Millis(d * kMinute));
          ASSERT_TRUE(got) << "seed " << cal_seed;
          ASSERT_EQ(*got, at_minute(m)) << "seed " << cal_seed << " zone " << spec.timezone << " add "
                                        << core::format_rfc3339(at_minute(t1)) << " + " << d << "min";
          break;
        }
        case 2: {  // sub: the start of the d-th open minute before t1
          const std::int64_t d = 1 + static_cast<std::int64_t>(rng() % 1500);
          std::int64_t m = t1, counted = 0;
          while (m > window_start && counted < d) counted += ref.at(--m) ? 1 : 0;
          if (counted < d) break;
          auto got = cal.sub(at_minute(t1), Millis(d * kMinute));
          ASSERT_TRUE(got) << "seed " << cal_seed;
          ASSERT_EQ(*got, at_minute(m)) << "seed " << cal_seed << " zone " << spec.timezone << " sub "
                                        << core::format_rfc3339(at_minute(t1)) << " - " << d << "min";
          break;
        }
        default: {  // is_open and next_open
          ASSERT_EQ(cal.is_open(at_minute(t1)), ref.at(t1))
              << "seed " << cal_seed << " zone " << spec.timezone << " is_open " << core::format_rfc3339(at_minute(t1));
          std::int64_t m = t1;
          while (m < window_start + kWindowMinutes && !ref.at(m)) ++m;
          if (m == window_start + kWindowMinutes) break;
          ASSERT_EQ(*cal.next_open(at_minute(t1)), at_minute(m)) << "seed " << cal_seed << " next_open";
          break;
        }
      }
    }
  }
  EXPECT_EQ(cases, kCalendars * kQueriesPerCalendar);
  std::cout << cases << " cases\n";
}

}  // namespace
}  // namespace pactwatch::calendar
