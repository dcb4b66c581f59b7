#include "pactwatch/core/time.h"

#include <gtest/gtest.h>

#include <random>

#include "pactwatch/core/clock.h"

namespace pactwatch::core {
namespace {

using namespace std::chrono;

Instant at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  return sys_days(year{y} / month{mo} / day{d}) + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
}

TEST(Rfc3339, ParsesUtcAndOffsets) {
  EXPECT_EQ(*parse_rfc3339("2026-03-29T01:30:00Z"), at(2026, 3, 29, 1, 30));
  EXPECT_EQ(*parse_rfc3339("2026-03-29T03:30:00+02:00"), at(2026, 3, 29, 1, 30));
  EXPECT_EQ(*parse_rfc3339("2026-03-28T20:30:00-05:00"), at(2026, 3, 29, 1, 30));
  EXPECT_EQ(*parse_rfc3339("2026-03-29T01:30:00+0000"), at(2026, 3, 29, 1, 30));  // Jira
  EXPECT_EQ(*parse_rfc3339("2026-03-29T07:15:00+0545"), at(2026, 3, 29, 1, 30));  // Nepal
  EXPECT_EQ(*parse_rfc3339("2026-03-29t01:30:00z"), at(2026, 3, 29, 1, 30));
  EXPECT_EQ(*parse_rfc3339("2026-03-29 01:30:00Z"), at(2026, 3, 29, 1, 30));
  EXPECT_EQ(*parse_rfc3339("2026-01-01T00:30:00+01:00"), at(2025, 12, 31, 23, 30));
}

TEST(Rfc3339, Fractions) {
  EXPECT_EQ(*parse_rfc3339("2026-03-29T01:30:00.5Z"), at(2026, 3, 29, 1, 30, 0, 500));
  EXPECT_EQ(*parse_rfc3339("2026-03-29T01:30:00.123Z"), at(2026, 3, 29, 1, 30, 0, 123));
  EXPECT_EQ(*parse_rfc3339("2026-03-29T01:30:00.123999999Z"), at(2026, 3, 29, 1, 30, 0, 123));  // truncated
  EXPECT_EQ(*parse_rfc3339("2026-03-29T01:30:00.000+0000"), at(2026, 3, 29, 1, 30));
}

TEST(Rfc3339, LeapSecondAndLeapDay) {
  EXPECT_EQ(*parse_rfc3339("2016-12-31T23:59:60Z"), at(2016, 12, 31, 23, 59, 59, 999));
  EXPECT_TRUE(parse_rfc3339("2028-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2026-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2100-02-29T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z"));
}

TEST(Rfc3339, RejectsMalformed) {
  for (const char* bad : {"", "2026-03-29", "2026-03-29T01:30Z", "2026-03-29T01:30:00", "2026-13-01T00:00:00Z",
                          "2026-04-31T00:00:00Z", "2026-03-29T24:00:00Z", "2026-03-29T01:60:00Z",
                          "2026-03-29T01:30:00+2:00", "2026-03-29T01:30:00+24:00", "2026-03-29T01:30:00.Z",
                          "2026-03-29T01:30:00Zjunk", "26-03-29T01:30:00Z", "2026/03/29T01:30:00Z",
                          "2026-03-29X01:30:00Z", "2026-03-29T01:30:00+02:0"}) {
    auto r = parse_rfc3339(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().find("RFC 3339"), std::string::npos);
    }
  }
}

TEST(Rfc3339, FormatsUtc) {
  EXPECT_EQ(format_rfc3339(at(2026, 3, 29, 1, 30)), "2026-03-29T01:30:00Z");
  EXPECT_EQ(format_rfc3339(at(2026, 3, 29, 1, 30, 5, 7)), "2026-03-29T01:30:05.007Z");
  EXPECT_EQ(format_rfc3339(at(1969, 12, 31, 23, 59, 59)), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339(Instant{}), "1970-01-01T00:00:00Z");
}

TEST(Rfc3339, RoundTripsRandomInstants) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) {
    const Instant t = from_unix_ms(static_cast<std::int64_t>(rng() % 8'000'000'000'000ULL) - 1'000'000'000'000LL);
    auto back = parse_rfc3339(format_rfc3339(t));
    ASSERT_TRUE(back) << format_rfc3339(t);
    ASSERT_EQ(*back, t);
  }
}

TEST(UnixMillis, RoundTrip) {
  EXPECT_EQ(to_unix_ms(at(1970, 1, 1, 0, 0, 1)), 1000);
  EXPECT_EQ(from_unix_ms(-1), at(1969, 12, 31, 23, 59, 59, 999));
}

TEST(DurationParse, ShortForms) {
  EXPECT_EQ(*parse_duration("90s"), seconds(90));
  EXPECT_EQ(*parse_duration("45m"), minutes(45));
  EXPECT_EQ(*parse_duration("4h"), hours(4));
  EXPECT_EQ(*parse_duration("2d"), hours(48));
  EXPECT_EQ(*parse_duration("1w"), hours(168));
  EXPECT_EQ(*parse_duration("1h30m"), minutes(90));
  EXPECT_EQ(*parse_duration("1d2h3m4s"), seconds(86400 + 7200 + 180 + 4));
  EXPECT_EQ(*parse_duration("0s"), seconds(0));
  EXPECT_EQ(*parse_duration("1H"), hours(1));
}

TEST(DurationParse, Iso8601) {
  EXPECT_EQ(*parse_duration("PT4H"), hours(4));
  EXPECT_EQ(*parse_duration("PT30M"), minutes(30));
  EXPECT_EQ(*parse_duration("PT45S"), seconds(45));
  EXPECT_EQ(*parse_duration("P1DT2H30M"), minutes(60 * 26 + 30));
  EXPECT_EQ(*parse_duration("P2D"), hours(48));
  EXPECT_EQ(*parse_duration("P1W"), hours(168));
  EXPECT_EQ(*parse_duration("pt1h"), hours(1));
}

TEST(DurationParse, RejectsAmbiguousOrMalformed) {
  for (const char* bad : {"", "h", "10", "-5m", "1.5h", "1h1h", "30m1h", "5x", "P", "PT", "P1M", "P1Y", "PT1D",
                          "P1H", "1 h", "PT1H2", "P1DT", "99999999999999999999s"}) {
    auto r = parse_duration(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().find("not a duration"), std::string::npos) << bad;
    }
  }
}

TEST(DurationFormat, Canonical) {
  EXPECT_EQ(format_duration(seconds(0)), "0s");
  EXPECT_EQ(format_duration(minutes(90)), "1h30m");
  EXPECT_EQ(format_duration(hours(50)), "2d2h");
  EXPECT_EQ(format_duration(seconds(3601)), "1h1s");
  EXPECT_EQ(format_duration(seconds(-90)), "-1m30s");
  std::mt19937_64 rng(5);
  for (int i = 0; i < 5000; ++i) {
    const seconds d(static_cast<std::int64_t>(rng() % 100'000'000));
    ASSERT_EQ(*parse_duration(format_duration(d)), d);
  }
}

TEST(Clock, ManualClockMovesOnlyWhenTold) {
  ManualClock c(at(2026, 1, 1));
  EXPECT_EQ(c.now(), at(2026, 1, 1));
  c.advance(hours(2));
  EXPECT_EQ(c.now(), at(2026, 1, 1, 2));
  c.set(at(2027, 1, 1));
  EXPECT_EQ(c.now(), at(2027, 1, 1));
  SystemClock real;
  EXPECT_GT(real.now(), at(2020, 1, 1));
}

}  // namespace
}  // namespace pactwatch::core
