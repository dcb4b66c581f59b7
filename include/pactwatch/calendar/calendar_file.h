// Calendar files (rules/calendars/NAME.yaml) and the iCalendar holidays they may import.
#pragma once

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/diagnostic.h"

namespace pactwatch::calendar {

// Parses a calendar document. `file` names it in diagnostics; an `ical:` path is read relative to
// `base_dir`. Every problem is reported, each with its position.
[[nodiscard]] std::expected<CalendarSpec, core::Diagnostics> parse_calendar(std::string_view text,
                                                                            const std::string& file,
                                                                            const std::filesystem::path& base_dir);
[[nodiscard]] std::expected<CalendarSpec, core::Diagnostics> load_calendar_file(const std::filesystem::path& file);

// A calendar by file path, or by the name of a built-in calendar ("24x7"), compiled.
[[nodiscard]] std::expected<Calendar, core::Diagnostics> load_calendar(const std::string& file_or_name,
                                                                       YearRange range = {});

struct IcalHolidays {
  std::set<LocalDate> dates;
  std::vector<YearlyHoliday> yearly;
};
// All-day VEVENTs of an RFC 5545 document are holidays (DTEND exclusive; RRULE:FREQ=YEARLY repeats
// a one-day event every year). Timed events are ignored.
[[nodiscard]] std::expected<IcalHolidays, core::Diagnostics> parse_ical(std::string_view text, const std::string& file);

// "HH:MM-HH:MM" as a local interval: 24:00 is the end of the day; an end before the start is an
// overnight interval ending the next day.
[[nodiscard]] std::expected<LocalInterval, std::string> parse_interval(std::string_view text);
// "YYYY-MM-DD".
[[nodiscard]] std::expected<LocalDate, std::string> parse_date(std::string_view text);
[[nodiscard]] std::string format_date(LocalDate date);

}  // namespace pactwatch::calendar
