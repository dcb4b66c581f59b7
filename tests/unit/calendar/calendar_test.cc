#include "pactwatch/calendar/calendar.h"

#include <gtest/gtest.h>

#include "pactwatch/calendar/calendar_file.h"
#include "temp_dir.h"

namespace pactwatch::calendar {
namespace {

using namespace std::chrono;
using core::Instant;

Instant T(const char* s) { return *core::parse_rfc3339(s); }
Millis H(double h) { return Millis(static_cast<std::int64_t>(h * 3600000)); }

Calendar make(const std::string& yaml, YearRange range = {2020, 2030}) {
  auto spec = parse_calendar(yaml, "test.yaml", ".");
  if (!spec) throw std::runtime_error(spec.error()[0].to_string());
  auto cal = Calendar::compile(*spec, range);
  if (!cal) throw std::runtime_error(cal.error());
  return std::move(*cal);
}

const char* kParisWeek = R"(
timezone: Europe/Paris
hours:
  mon: ["09:00-17:00"]
  tue: ["09:00-12:30", "13:30-17:00"]
  wed: ["09:00-17:00"]
  thu: ["09:00-17:00"]
  fri: ["09:00-17:00", "22:00-06:00"]
holidays:
  - 2026-12-25
  - {yearly: "07-14"}
  - {from: 2026-08-10, to: 2026-08-21}
  - 2026-01-09
overrides:
  - {date: 2026-12-24, hours: ["09:00-12:00"]}
  - {date: 2026-12-25, hours: ["09:00-12:00"]}
  - {date: 2026-01-10, hours: ["10:00-11:00"]}
breaks:
  - {date: 2026-06-18, hours: ["14:00-15:00"]}
  - {date: 2026-12-24, hours: ["10:00-10:30"]}
)";

TEST(Calendar, IntervalsAreHalfOpen) {
  auto cal = make(kParisWeek);
  EXPECT_TRUE(cal.is_open(T("2026-01-05T08:00:00Z")));    // Mon 09:00 Paris
  EXPECT_FALSE(cal.is_open(T("2026-01-05T16:00:00Z")));   // Mon 17:00 Paris: closed
  EXPECT_TRUE(cal.is_open(T("2026-01-05T15:59:59.999Z")));
  EXPECT_FALSE(cal.is_open(T("2026-01-05T07:59:59Z")));
  EXPECT_FALSE(cal.is_open(T("2026-01-06T11:45:00Z")));   // Tue 12:45 lunch
}

TEST(Calendar, DurationCountsBusinessTimeOnly) {
  auto cal = make(kParisWeek);
  EXPECT_EQ(cal.duration(T("2026-01-05T00:00:00Z"), T("2026-01-06T00:00:00Z")), H(8));
  EXPECT_EQ(cal.duration(T("2026-01-06T00:00:00Z"), T("2026-01-07T00:00:00Z")), H(7));
  EXPECT_EQ(cal.duration(T("2026-01-05T10:00:00Z"), T("2026-01-05T10:00:00Z")), Millis(0));
  EXPECT_EQ(cal.duration(T("2026-01-05T12:00:00Z"), T("2026-01-05T10:00:00Z")), Millis(0));
  // A week: 8 + 7 + 8 + 8 + (8 + 8 overnight) = 47 hours.
  EXPECT_EQ(cal.duration(T("2026-01-12T00:00:00Z"), T("2026-01-19T00:00:00Z")), H(47));
}

TEST(Calendar, OvernightIntervalBelongsToTheDayItStarts) {
  auto cal = make(kParisWeek);
  EXPECT_TRUE(cal.is_open(T("2026-01-16T23:00:00Z")));   // Sat 00:00 Paris, Friday's shift
  EXPECT_TRUE(cal.is_open(T("2026-01-17T04:59:00Z")));   // Sat 05:59
  EXPECT_FALSE(cal.is_open(T("2026-01-17T05:00:00Z")));  // Sat 06:00
  // Friday 2026-01-09 is a holiday: its day hours and its night shift are closed ...
  EXPECT_FALSE(cal.is_open(T("2026-01-09T10:00:00Z")));
  EXPECT_FALSE(cal.is_open(T("2026-01-09T23:00:00Z")));
  // ... while Saturday's override (10:00-11:00) opens on its own.
  EXPECT_TRUE(cal.is_open(T("2026-01-10T09:30:00Z")));
}

TEST(Calendar, HolidaysOverridesAndBreaks) {
  auto cal = make(kParisWeek);
  // Christmas Eve: override 09:00-12:00 minus a 10:00-10:30 break = 2.5 h.
  EXPECT_EQ(cal.duration(T("2026-12-24T00:00:00Z"), T("2026-12-25T00:00:00Z")), H(2.5));
  // Christmas: a holiday closes the day even though an override names it.
  EXPECT_EQ(cal.duration(T("2026-12-25T00:00:00Z"), T("2026-12-26T00:00:00Z")), Millis(0));
  // Yearly holiday, every year; a range of dates.
  EXPECT_EQ(cal.duration(T("2027-07-14T00:00:00Z"), T("2027-07-15T00:00:00Z")), Millis(0));
  EXPECT_EQ(cal.duration(T("2026-08-10T00:00:00Z"), T("2026-08-22T00:00:00Z")), Millis(0));
  EXPECT_EQ(cal.duration(T("2026-08-24T00:00:00Z"), T("2026-08-25T00:00:00Z")), H(8));
  // A break on a weekly day (Thursday 2026-06-18, 14:00-15:00).
  EXPECT_EQ(cal.duration(T("2026-06-18T00:00:00Z"), T("2026-06-19T00:00:00Z")), H(7));
  EXPECT_FALSE(cal.is_open(T("2026-06-18T12:30:00Z")));
}

const char* kParisSundays = R"(
timezone: Europe/Paris
hours:
  sun: ["01:00-05:00"]
  sat: ["00:00-24:00"]
)";

TEST(Calendar, DurationsAcrossBothDstChangesAreRealElapsedTime) {
  auto cal = make(kParisSundays);
  // 2026-03-29: 02:00 -> 03:00. 01:00 CET = 00:00Z, 05:00 CEST = 03:00Z: three real hours.
  EXPECT_EQ(cal.duration(T("2026-03-29T00:00:00Z"), T("2026-03-30T00:00:00Z")), H(3));
  // 2026-10-25: 03:00 -> 02:00. 01:00 CEST = 23:00Z, 05:00 CET = 04:00Z: five real hours.
  EXPECT_EQ(cal.duration(T("2026-10-24T22:00:00Z"), T("2026-10-26T00:00:00Z")), H(5));
  // A whole Saturday is 24 hours; the Sunday after it changes is not a full day: the 00:00-24:00
  // Saturdays before both changes are ordinary.
  EXPECT_EQ(cal.duration(T("2026-03-27T23:00:00Z"), T("2026-03-28T23:00:00Z")), H(24));
}

TEST(Calendar, MissingWallTimesMoveForwardAmbiguousOnesTakeTheFirst) {
  auto cal = make(R"(
timezone: Europe/Paris
hours:
  sun: ["02:30-04:00"]
)");
  // Spring: 02:30 does not exist, it becomes 03:30 CEST (01:30Z); 04:00 CEST = 02:00Z.
  auto spring = cal.periods(T("2026-03-29T00:00:00Z"), 1, false);
  ASSERT_EQ(spring.size(), 1u);
  EXPECT_EQ(core::format_rfc3339(spring[0].start), "2026-03-29T01:30:00Z");
  EXPECT_EQ(core::format_rfc3339(spring[0].end), "2026-03-29T02:00:00Z");
  // Autumn: 02:30 happens twice; the first (CEST, 00:30Z). 04:00 CET = 03:00Z.
  auto autumn = cal.periods(T("2026-10-25T00:00:00Z"), 1, false);
  ASSERT_EQ(autumn.size(), 1u);
  EXPECT_EQ(core::format_rfc3339(autumn[0].start), "2026-10-25T00:30:00Z");
  EXPECT_EQ(core::format_rfc3339(autumn[0].end), "2026-10-25T03:00:00Z");
}

TEST(Calendar, NewYorkAndHalfHourZones) {
  auto ny = make("timezone: America/New_York\nhours: {sun: [\"00:00-24:00\"]}\n");
  EXPECT_EQ(ny.duration(T("2026-03-08T00:00:00Z"), T("2026-03-10T00:00:00Z")), H(23));  // spring forward
  EXPECT_EQ(ny.duration(T("2026-11-01T00:00:00Z"), T("2026-11-03T00:00:00Z")), H(25));  // fall back
  auto kolkata = make("timezone: Asia/Kolkata\nhours: {mon: [\"09:00-17:30\"]}\n");
  EXPECT_TRUE(kolkata.is_open(T("2026-01-05T03:30:00Z")));    // 09:00 IST
  EXPECT_FALSE(kolkata.is_open(T("2026-01-05T03:29:59Z")));
  EXPECT_FALSE(kolkata.is_open(T("2026-01-05T12:00:00Z")));   // 17:30 IST
  auto lord_howe = make("timezone: Australia/Lord_Howe\nhours: {sun: [\"00:00-24:00\"]}\n");
  // 2026-04-05 02:00 -> 01:30 (30-minute DST): a 24.5-hour Sunday.
  EXPECT_EQ(lord_howe.duration(T("2026-04-04T00:00:00Z"), T("2026-04-06T00:00:00Z")), H(24.5));
}

TEST(Calendar, AddEndsAtTheIntervalEndNotTheNextMorning) {
  auto cal = make(kParisWeek);
  EXPECT_EQ(*cal.add(T("2026-01-05T15:00:00Z"), H(1)), T("2026-01-05T16:00:00Z"));  // due 17:00 Paris
  EXPECT_EQ(*cal.add(T("2026-01-05T15:00:00Z"), H(1) + Millis(1000)), T("2026-01-06T08:00:01Z"));
  EXPECT_EQ(*cal.add(T("2026-01-05T07:00:00Z"), H(1)), T("2026-01-05T09:00:00Z"));  // starts at opening
  EXPECT_EQ(*cal.add(T("2026-01-05T20:00:00Z"), Millis(0)), T("2026-01-05T20:00:00Z"));
  // Tuesday lunch: 3.5 h from 09:00 is 12:30, 3.5 h + 1 s is 13:30:01.
  EXPECT_EQ(*cal.add(T("2026-01-06T08:00:00Z"), H(3.5)), T("2026-01-06T11:30:00Z"));
  EXPECT_EQ(*cal.add(T("2026-01-06T08:00:00Z"), H(3.5) + Millis(1000)), T("2026-01-06T12:30:01Z"));
}

TEST(Calendar, SubIsTheMirrorOfAdd) {
  auto cal = make(kParisWeek);
  EXPECT_EQ(*cal.sub(T("2026-01-06T09:00:00Z"), H(1)), T("2026-01-06T08:00:00Z"));   // interval start
  EXPECT_EQ(*cal.sub(T("2026-01-06T09:00:00Z"), H(1) + Millis(1000)), T("2026-01-05T15:59:59Z"));
  EXPECT_EQ(*cal.sub(T("2026-01-06T08:00:00Z"), Millis(0)), T("2026-01-06T08:00:00Z"));
  for (const char* t : {"2026-01-05T10:00:00Z", "2026-02-03T12:34:56Z", "2026-03-27T21:30:00Z"}) {
    for (double h : {0.5, 1.0, 7.0, 8.0, 30.0, 100.0}) {
      auto later = cal.add(T(t), H(h));
      ASSERT_TRUE(later);
      EXPECT_EQ(cal.duration(T(t), *later), H(h));
      auto back = cal.sub(*later, H(h));
      ASSERT_TRUE(back);
      EXPECT_EQ(cal.duration(*back, *later), H(h));
      EXPECT_LE(*back, *later);
    }
  }
  EXPECT_EQ(*cal.add(T("2026-01-06T09:00:00Z"), -H(1)), T("2026-01-06T08:00:00Z"));
}

TEST(Calendar, NextOpenAndPeriods) {
  auto cal = make(kParisWeek);
  EXPECT_EQ(*cal.next_open(T("2026-01-05T10:00:00Z")), T("2026-01-05T10:00:00Z"));
  EXPECT_EQ(*cal.next_open(T("2026-01-05T16:00:00Z")), T("2026-01-06T08:00:00Z"));
  EXPECT_EQ(*cal.next_open(T("2026-01-03T10:00:00Z")), T("2026-01-05T08:00:00Z"));
  auto after = cal.periods(T("2026-01-06T10:00:00Z"), 3, false);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].start, T("2026-01-06T08:00:00Z"));  // the one containing t comes first, whole
  EXPECT_EQ(after[1].start, T("2026-01-06T12:30:00Z"));
  EXPECT_EQ(after[2].start, T("2026-01-07T08:00:00Z"));
  auto before = cal.periods(T("2026-01-06T10:00:00Z"), 2, true);
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0].start, T("2026-01-06T08:00:00Z"));
  EXPECT_EQ(before[1].start, T("2026-01-05T08:00:00Z"));
  auto before_closed = cal.periods(T("2026-01-06T12:00:00Z"), 1, true);
  EXPECT_EQ(before_closed[0].end, T("2026-01-06T11:30:00Z"));
}

TEST(Calendar, RangeLimitsAndNeverOpenCalendars) {
  auto cal = make(kParisWeek, {2026, 2026});
  EXPECT_FALSE(cal.add(T("2025-06-01T00:00:00Z"), H(1)));
  EXPECT_FALSE(cal.add(T("2026-12-31T15:00:00Z"), H(10)));
  EXPECT_FALSE(cal.sub(T("2026-01-02T09:00:00Z"), H(10)));
  // Instants before the range are clamped to its start.
  EXPECT_EQ(cal.duration(T("2025-01-01T00:00:00Z"), T("2026-01-06T00:00:00Z")),
            cal.duration(T("2026-01-01T00:00:00Z"), T("2026-01-06T00:00:00Z")));
  auto never = make("timezone: UTC\n");
  EXPECT_EQ(never.duration(T("2026-01-01T00:00:00Z"), T("2027-01-01T00:00:00Z")), Millis(0));
  auto a = never.add(T("2026-01-01T00:00:00Z"), H(1));
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("goes past the end"), std::string::npos);
  EXPECT_FALSE(never.next_open(T("2026-01-01T00:00:00Z")));
  EXPECT_TRUE(never.periods(T("2026-01-01T00:00:00Z"), 5, false).empty());
}

TEST(Calendar, Builtin24x7) {
  const auto& cal = Calendar::always_open();
  EXPECT_EQ(cal.name(), "24x7");
  EXPECT_EQ(cal.duration(T("2026-03-01T00:00:00Z"), T("2026-04-01T00:00:00Z")), H(31 * 24));
  EXPECT_EQ(*cal.add(T("2026-03-28T12:00:00Z"), H(48)), T("2026-03-30T12:00:00Z"));
  EXPECT_TRUE(cal.is_open(T("2026-12-25T03:00:00Z")));
  auto loaded = load_calendar("24x7");
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->duration(T("2026-01-01T00:00:00Z"), T("2026-01-02T00:00:00Z")), H(24));
}

TEST(Calendar, UnknownZoneFailsToCompile) {
  CalendarSpec spec;
  spec.timezone = "Mars/Olympus_Mons";
  EXPECT_FALSE(Calendar::compile(spec));
}

// --- file format ---------------------------------------------------------------------------

std::vector<std::string> problems(const std::string& yaml) {
  std::vector<std::string> out;
  auto r = parse_calendar(yaml, "cal.yaml", ".");
  if (!r) {
    for (const auto& d : r.error()) out.push_back(d.to_string());
  }
  return out;
}

TEST(CalendarFile, Intervals) {
  EXPECT_EQ(*parse_interval("09:00-17:00"), (LocalInterval{540, 1020}));
  EXPECT_EQ(*parse_interval("00:00-24:00"), (LocalInterval{0, 1440}));
  EXPECT_EQ(*parse_interval("22:00-06:00"), (LocalInterval{1320, 1800}));
  EXPECT_EQ(*parse_interval("22:00-00:00"), (LocalInterval{1320, 1440}));
  for (const char* bad : {"25:00-26:00", "09:60-10:00", "9:00-17:00", "09:00", "09:00-09:00", "24:00-01:00",
                          "24:30-01:00", "ab:cd-ef:gh", "09:00-17:00-18:00"}) {
    EXPECT_FALSE(parse_interval(bad)) << bad;
  }
}

TEST(CalendarFile, ReportsEveryMistakeWithPosition) {
  auto p = problems(R"(timezone: Europe/Pariss
hours:
  mon: ["09:00-17:00", "16:00-18:00"]
  tue: ["25:00-26:00"]
  fri: ["22:00-08:00"]
  sat: ["07:00-09:00"]
  funday: ["09:00-10:00"]
holidays:
  - 2026-02-30
  - {yearly: "13-01"}
  - {from: 2026-05-10, to: 2026-05-01}
  - {date: 2026-01-01, yearly: "01-01"}
overrides:
  - {date: 2026-12-24, hours: ["09:00-12:00"]}
  - {date: 2026-12-24, hours: []}
  - {date: 2026-12-31}
breaks: {}
colour: blue
)");
  ASSERT_EQ(p.size(), 13u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "cal.yaml:1:11: timezone: unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'?)");
  EXPECT_EQ(p[1], "cal.yaml:3:24: hours.mon: interval overlaps another one on the same day");
  EXPECT_EQ(p[2], "cal.yaml:4:9: hours.tue: '25:00' is not a time of day (00:00 to 24:00)");
  EXPECT_EQ(p[3], "cal.yaml:5:9: hours.fri: overnight interval overlaps the hours of sat");
  EXPECT_EQ(p[4], "cal.yaml:7:3: hours: unknown key 'funday'");
  EXPECT_EQ(p[5], "cal.yaml:9:5: holidays: '2026-02-30' is not a valid date");
  EXPECT_EQ(p[6], "cal.yaml:10:14: holiday yearly: expected \"MM-DD\", a day of the year such as \"12-26\"");
  EXPECT_EQ(p[7], "cal.yaml:11:28: holiday: 'to' is before 'from'");
  EXPECT_EQ(p[8], "cal.yaml:12:5: holiday: give exactly one of date, yearly, or from and to");
  EXPECT_EQ(p[9], "cal.yaml:15:12: overrides: 2026-12-24 is given twice");
  EXPECT_EQ(p[10], "cal.yaml:16:5: overrides: missing key 'hours' (use [] for a closed day)");
  EXPECT_EQ(p[11], "cal.yaml:17:9: breaks: expected a list of {date, hours}");
  EXPECT_EQ(p[12], "cal.yaml:18:1: calendar: unknown key 'colour'");
}

TEST(CalendarFile, RequiresATimeZone) {
  auto p = problems("hours: {mon: [\"09:00-17:00\"]}\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("missing required key 'timezone'"), std::string::npos);
  EXPECT_FALSE(problems("[]\n").empty());
  EXPECT_FALSE(problems("timezone: [UTC]\n").empty());
}

TEST(CalendarFile, ImportsICalendarHolidays) {
  testutils::TempDir dir;
  dir.write("hol.ics",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260406\r\nDTEND;VALUE=DATE:20260408\r\nSUMMARY:Two days\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260714\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Yearly\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nDTSTART:20260410T090000Z\r\nDTEND:20260410T100000Z\r\nSUMMARY:A meeting, not a holiday\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260501\r\nSUMMARY:Folded\r\n  line\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n");
  auto path = dir.write("cal.yaml", "timezone: Europe/Paris\nhours: {mon: [\"09:00-17:00\"], tue: [\"09:00-17:00\"], "
                                     "fri: [\"09:00-17:00\"]}\nical: hol.ics\n");
  auto spec = load_calendar_file(path);
  ASSERT_TRUE(spec) << spec.error()[0].to_string();
  EXPECT_EQ(spec->holidays.size(), 3u);  // 04-06, 04-07 (DTEND exclusive) and 05-01
  EXPECT_EQ(spec->yearly_holidays.size(), 1u);
  auto cal = Calendar::compile(*spec);
  ASSERT_TRUE(cal);
  EXPECT_FALSE(cal->is_open(T("2026-04-06T10:00:00Z")));
  EXPECT_FALSE(cal->is_open(T("2026-04-07T10:00:00Z")));
  EXPECT_TRUE(cal->is_open(T("2026-04-10T10:00:00Z")));  // the timed event does not close the day
  EXPECT_FALSE(cal->is_open(T("2028-07-14T10:00:00Z")));  // a Friday, yearly
}

TEST(CalendarFile, ICalendarErrorsArePositioned) {
  auto r = parse_ical("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:2026130\nEND:VEVENT\nBEGIN:VEVENT\n"
                      "DTSTART;VALUE=DATE:20260101\nRRULE:FREQ=MONTHLY\nEND:VEVENT\ngarbage\nBEGIN:VEVENT\n",
                      "h.ics");
  ASSERT_FALSE(r);
  std::vector<std::string> m;
  for (const auto& d : r.error()) m.push_back(d.to_string());
  ASSERT_GE(m.size(), 4u) << ::testing::PrintToString(m);
  EXPECT_EQ(m[0], "h.ics:3: DTSTART: '2026130' is not a date YYYYMMDD");
  EXPECT_EQ(m[1], "h.ics:2: VEVENT without an all-day DTSTART");
  EXPECT_EQ(m[2], "h.ics:7: unsupported RRULE 'FREQ=MONTHLY' (only FREQ=YEARLY is understood)");
  EXPECT_EQ(m[3], "h.ics:9: not an iCalendar content line (NAME:value)");
}

TEST(CalendarFile, ShippedCalendarIsValid) {
  auto cal = load_calendar(std::string(PACTWATCH_SOURCE_DIR) + "/rules/examples/calendars/eu-support.yaml");
  ASSERT_TRUE(cal) << cal.error()[0].to_string();
  EXPECT_FALSE(cal->is_open(T("2026-07-14T10:00:00Z")));  // from holidays-fr.ics
  EXPECT_TRUE(cal->is_open(T("2026-07-15T10:00:00Z")));
}

}  // namespace
}  // namespace pactwatch::calendar
