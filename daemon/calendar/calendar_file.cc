#include "pactwatch/calendar/calendar_file.h"

#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "pactwatch/config/yaml_check.h"

namespace pactwatch::calendar {

using config::YamlReport;

namespace {

constexpr std::string_view kDayKeys[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

bool two_digits(std::string_view s, std::size_t at, int& out) {
  if (at + 2 > s.size() || s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9') return false;
  out = (s[at] - '0') * 10 + (s[at + 1] - '0');
  return true;
}

std::expected<int, std::string> parse_clock(std::string_view s) {
  int h = 0, m = 0;
  if (s.size() != 5 || s[2] != ':' || !two_digits(s, 0, h) || !two_digits(s, 3, m)) {
    return std::unexpected("'" + std::string(s) + "' is not a time HH:MM");
  }
  if (h > 24 || m > 59 || (h == 24 && m != 0)) return std::unexpected("'" + std::string(s) + "' is not a time of day (00:00 to 24:00)");
  return h * 60 + m;
}

struct Positioned {
  LocalInterval interval;
  YAML::Mark mark;
};

// A list of "HH:MM-HH:MM" strings; reports format errors and overlaps within the list.
std::vector<Positioned> parse_hours(const YAML::Node& node, const std::string& where, YamlReport& report) {
  std::vector<Positioned> out;
  if (!node || node.IsNull()) return out;
  if (!node.IsSequence()) {
    report.error(node, where + ": expected a list of intervals such as [\"09:00-17:00\"]");
    return out;
  }
  for (const auto& item : node) {
    if (!item.IsScalar()) {
      report.error(item, where + ": expected an interval \"HH:MM-HH:MM\"");
      continue;
    }
    auto iv = parse_interval(item.Scalar());
    if (!iv) {
      report.error(item, where + ": " + iv.error());
      continue;
    }
    out.push_back({*iv, item.Mark()});
  }
  std::vector<Positioned> sorted = out;
  std::sort(sorted.begin(), sorted.end(),
            [](const Positioned& a, const Positioned& b) { return a.interval.start < b.interval.start; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i].interval.start < sorted[i - 1].interval.end) {
      report.error(sorted[i].mark, where + ": interval overlaps another one on the same day");
    }
  }
  return out;
}

std::vector<LocalInterval> plain(const std::vector<Positioned>& v) {
  std::vector<LocalInterval> out;
  for (const auto& p : v) out.push_back(p.interval);
  std::sort(out.begin(), out.end(), [](const LocalInterval& a, const LocalInterval& b) { return a.start < b.start; });
  return out;
}

std::optional<LocalDate> date_at(const YAML::Node& node, const std::string& where, YamlReport& report) {
  if (!node || !node.IsScalar()) {
    report.error(node ? node.Mark() : YAML::Mark::null_mark(), where + ": expected a date YYYY-MM-DD");
    return std::nullopt;
  }
  auto d = parse_date(node.Scalar());
  if (!d) {
    report.error(node, where + ": " + d.error());
    return std::nullopt;
  }
  return *d;
}

void parse_holidays(const YAML::Node& node, CalendarSpec& spec, YamlReport& report) {
  if (!node || node.IsNull()) return;
  if (!node.IsSequence()) {
    report.error(node, "holidays: expected a list");
    return;
  }
  for (const auto& h : node) {
    if (h.IsScalar()) {
      if (auto d = date_at(h, "holidays", report)) spec.holidays.insert(*d);
      continue;
    }
    if (!h.IsMap()) {
      report.error(h, "holidays: expected a date, {date: …}, {yearly: \"MM-DD\"} or {from: …, to: …}");
      continue;
    }
    report.check_keys(h, {"date", "yearly", "from", "to", "name"}, "holiday");
    const int forms = (h["date"] ? 1 : 0) + (h["yearly"] ? 1 : 0) + (h["from"] || h["to"] ? 1 : 0);
    if (forms != 1) {
      report.error(h, "holiday: give exactly one of date, yearly, or from and to");
      continue;
    }
    if (h["date"]) {
      if (auto d = date_at(h["date"], "holiday date", report)) spec.holidays.insert(*d);
    } else if (h["yearly"]) {
      const YAML::Node y = h["yearly"];
      int mo = 0, da = 0;
      const std::string s = y.IsScalar() ? y.Scalar() : "";
      const bool shape = s.size() == 5 && s[2] == '-' && two_digits(s, 0, mo) && two_digits(s, 3, da);
      // Valid in some year: 02-29 counts (it closes the day in leap years).
      if (!shape || !std::chrono::month_day{std::chrono::month{static_cast<unsigned>(mo)},
                                            std::chrono::day{static_cast<unsigned>(da)}}
                         .ok()) {
        report.error(y, "holiday yearly: expected \"MM-DD\", a day of the year such as \"12-26\"");
      } else {
        spec.yearly_holidays.push_back({static_cast<unsigned>(mo), static_cast<unsigned>(da)});
      }
    } else {
      if (!h["from"] || !h["to"]) {
        report.error(h, "holiday: a range needs both from and to");
        continue;
      }
      auto from = date_at(h["from"], "holiday from", report);
      auto to = date_at(h["to"], "holiday to", report);
      if (from && to) {
        if (*to < *from) {
          report.error(h["to"], "holiday: 'to' is before 'from'");
        } else if ((*to - *from).count() > 366) {
          report.error(h["to"], "holiday: a range may span at most a year");
        } else {
          for (LocalDate d = *from; d <= *to; d += std::chrono::days(1)) spec.holidays.insert(d);
        }
      }
    }
  }
}

void parse_dated(const YAML::Node& node, const char* key, std::map<LocalDate, std::vector<LocalInterval>>& out,
                 YamlReport& report) {
  if (!node || node.IsNull()) return;
  if (!node.IsSequence()) {
    report.error(node, std::string(key) + ": expected a list of {date, hours}");
    return;
  }
  for (const auto& entry : node) {
    if (!entry.IsMap()) {
      report.error(entry, std::string(key) + ": expected {date: YYYY-MM-DD, hours: [\"HH:MM-HH:MM\", …]}");
      continue;
    }
    report.check_keys(entry, {"date", "hours", "name"}, std::string(key));
    auto d = date_at(entry["date"], std::string(key) + " date", report);
    if (!entry["hours"]) {
      report.error(entry, std::string(key) + ": missing key 'hours' (use [] for a closed day)");
      continue;
    }
    auto hours = parse_hours(entry["hours"], std::string(key), report);
    if (!d) continue;
    if (out.contains(*d)) {
      report.error(entry["date"], std::string(key) + ": " + std::string(entry["date"].Scalar()) + " is given twice");
      continue;
    }
    out[*d] = plain(hours);
  }
}

std::vector<std::string_view> zone_names() {
  std::vector<std::string_view> names;
  try {
    for (const auto& z : date::get_tzdb().zones) names.push_back(z.name());
  } catch (const std::exception&) {
  }
  return names;
}

}  // namespace

std::expected<LocalInterval, std::string> parse_interval(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::unexpected("'" + std::string(text) + "' is not an interval HH:MM-HH:MM");
  auto start = parse_clock(text.substr(0, dash));
  if (!start) return std::unexpected(start.error());
  auto end = parse_clock(text.substr(dash + 1));
  if (!end) return std::unexpected(end.error());
  if (*start == 1440) return std::unexpected("an interval cannot start at 24:00");
  if (*end == *start) return std::unexpected("'" + std::string(text) + "' is empty (start equals end)");
  if (*end < *start) {
    if (*end == 0) return LocalInterval{*start, 1440};  // "22:00-00:00" ends at midnight
    return LocalInterval{*start, *end + 1440};          // overnight
  }
  return LocalInterval{*start, *end};
}

std::string format_date(LocalDate d) {
  const std::chrono::year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

std::expected<LocalDate, std::string> parse_date(std::string_view text) {
  int y = 0;
  int mo = 0, d = 0;
  bool shape = text.size() == 10 && text[4] == '-' && text[7] == '-';
  for (std::size_t i = 0; shape && i < 4; ++i) {
    if (text[i] < '0' || text[i] > '9') shape = false;
    else y = y * 10 + (text[i] - '0');
  }
  shape = shape && two_digits(text, 5, mo) && two_digits(text, 8, d);
  if (!shape) return std::unexpected("'" + std::string(text) + "' is not a date YYYY-MM-DD");
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::unexpected("'" + std::string(text) + "' is not a valid date");
  return LocalDate{ymd};
}

std::expected<CalendarSpec, core::Diagnostics> parse_calendar(std::string_view text, const std::string& file,
                                                              const std::filesystem::path& base_dir) {
  YamlReport report{file};
  CalendarSpec spec;
  spec.name = std::filesystem::path(file).stem().string();
  YAML::Node root = config::parse_yaml(text, report);
  core::Diagnostics extra;
  if (report.ok() && !root.IsMap()) report.error(root, "a calendar file must be a mapping with timezone and hours");
  if (report.ok()) {
    report.check_keys(root, {"timezone", "hours", "holidays", "ical", "overrides", "breaks", "description"}, "calendar");
    // Time zone
    const YAML::Node tz = root["timezone"];
    if (!tz || tz.IsNull()) {
      report.error(root, "calendar: missing required key 'timezone' (an IANA name such as Europe/Paris)");
    } else if (!tz.IsScalar()) {
      report.error(tz, "timezone: expected an IANA name such as Europe/Paris");
    } else {
      spec.timezone = tz.Scalar();
      bool known = true;
      try {
        (void)date::locate_zone(spec.timezone);
      } catch (const std::exception&) {
        known = false;
      }
      if (!known) {
        std::string msg = "timezone: unknown time zone '" + spec.timezone + "'";
        if (auto hint = core::did_you_mean(spec.timezone, zone_names()); !hint.empty()) msg += " (" + hint + ")";
        report.error(tz, msg);
      }
    }
    // Weekly hours
    const YAML::Node hours = root["hours"];
    std::array<std::vector<Positioned>, 7> week;
    if (hours && !hours.IsNull()) {
      if (!hours.IsMap()) {
        report.error(hours, "hours: expected a mapping from mon, tue, … sun to lists of intervals");
      } else {
        report.check_keys(hours, {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, "hours");
        for (std::size_t d = 0; d < 7; ++d) {
          week[d] = parse_hours(hours[std::string(kDayKeys[d])], "hours." + std::string(kDayKeys[d]), report);
          spec.weekly[d] = plain(week[d]);
        }
        // An overnight interval must not run into the next day's hours.
        for (std::size_t d = 0; d < 7; ++d) {
          const std::size_t next = (d + 1) % 7;
          for (const auto& p : week[d]) {
            if (p.interval.end <= 1440) continue;
            for (const auto& q : week[next]) {
              if (q.interval.start < p.interval.end - 1440) {
                report.error(p.mark, "hours." + std::string(kDayKeys[d]) + ": overnight interval overlaps the hours of " +
                                         std::string(kDayKeys[next]));
              }
            }
          }
        }
      }
    }
    parse_holidays(root["holidays"], spec, report);
    parse_dated(root["overrides"], "overrides", spec.overrides, report);
    parse_dated(root["breaks"], "breaks", spec.breaks, report);
    // iCalendar holidays
    if (const YAML::Node ical = root["ical"]; ical && !ical.IsNull()) {
      if (!ical.IsScalar()) {
        report.error(ical, "ical: expected the path of an .ics file");
      } else {
        const auto path = base_dir / ical.Scalar();
        auto content = core::read_file(path);
        if (!content) {
          report.error(ical, "ical: cannot read " + path.string());
        } else if (auto parsed = parse_ical(*content, path.string()); !parsed) {
          extra = parsed.error();
        } else {
          spec.holidays.insert(parsed->dates.begin(), parsed->dates.end());
          spec.yearly_holidays.insert(spec.yearly_holidays.end(), parsed->yearly.begin(), parsed->yearly.end());
        }
      }
    }
  }
  auto& ds = report.diagnostics();
  core::sort_by_position(ds);
  ds.insert(ds.end(), extra.begin(), extra.end());
  if (!ds.empty()) return std::unexpected(std::move(ds));
  return spec;
}

std::expected<CalendarSpec, core::Diagnostics> load_calendar_file(const std::filesystem::path& file) {
  auto text = core::read_file(file);
  if (!text) return std::unexpected(core::Diagnostics{{file.string(), 0, 0, "cannot read the calendar file"}});
  return parse_calendar(*text, file.string(), file.parent_path());
}

std::expected<Calendar, core::Diagnostics> load_calendar(const std::string& file_or_name, YearRange range) {
  CalendarSpec spec;
  if (file_or_name == "24x7") {
    spec = Calendar::always_open_spec();
  } else {
    auto loaded = load_calendar_file(file_or_name);
    if (!loaded) return std::unexpected(loaded.error());
    spec = std::move(*loaded);
  }
  auto cal = Calendar::compile(spec, range);
  if (!cal) return std::unexpected(core::Diagnostics{{file_or_name, 0, 0, cal.error()}});
  return std::move(*cal);
}

// --- iCalendar -----------------------------------------------------------------------------

namespace {

struct IcalLine {
  int number;  // first physical line
  std::string name;    // upper-cased property name
  std::string params;  // ";VALUE=DATE" etc., upper-cased
  std::string value;
};

std::vector<IcalLine> unfold(std::string_view text) {
  std::vector<IcalLine> lines;
  std::string current;
  int current_line = 0;
  int number = 0;
  auto flush = [&] {
    if (current.empty()) return;
    IcalLine l{current_line, "", "", ""};
    const auto colon = current.find(':');
    std::string head = current.substr(0, colon);
    l.value = colon == std::string::npos ? "" : current.substr(colon + 1);
    const auto semi = head.find(';');
    l.name = head.substr(0, semi);
    if (semi != std::string::npos) l.params = head.substr(semi);
    for (auto& c : l.name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (auto& c : l.params) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (colon == std::string::npos) l.name = "\x01" + l.name;  // marks a line without ':'
    lines.push_back(std::move(l));
    current.clear();
  };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    ++number;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) {
      current.append(raw.substr(1));  // continuation of the previous line
    } else {
      flush();
      current = std::string(raw);
      current_line = number;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  flush();
  return lines;
}

std::optional<LocalDate> ical_date(const std::string& v) {
  if (v.size() != 8) return std::nullopt;
  auto d = parse_date(v.substr(0, 4) + "-" + v.substr(4, 2) + "-" + v.substr(6, 2));
  if (!d) return std::nullopt;
  return *d;
}

}  // namespace

std::expected<IcalHolidays, core::Diagnostics> parse_ical(std::string_view text, const std::string& file) {
  IcalHolidays out;
  core::Diagnostics ds;
  auto error = [&](int line, std::string msg) { ds.push_back({file, line, 0, std::move(msg)}); };
  const auto lines = unfold(text);
  bool in_calendar = false;
  bool in_event = false;
  int event_line = 0;
  // Plain values with flags (GCC 12 misreads optional<sys_days> as maybe-uninitialized).
  LocalDate start{}, end{};
  bool has_start = false, has_end = false;
  bool timed = false;
  std::string rrule;
  int rrule_line = 0;
  for (const auto& l : lines) {
    if (l.name.empty() && l.value.empty()) continue;
    if (!l.name.empty() && l.name[0] == '\x01') {
      error(l.number, "not an iCalendar content line (NAME:value)");
      continue;
    }
    if (l.name == "BEGIN" && l.value == "VCALENDAR") {
      in_calendar = true;
    } else if (l.name == "END" && l.value == "VCALENDAR") {
      in_calendar = false;
    } else if (l.name == "BEGIN" && l.value == "VEVENT") {
      if (in_event) error(l.number, "VEVENT inside a VEVENT");
      in_event = true;
      event_line = l.number;
      has_start = has_end = false;
      timed = false;
      rrule.clear();
    } else if (l.name == "END" && l.value == "VEVENT") {
      if (!in_event) {
        error(l.number, "END:VEVENT without BEGIN:VEVENT");
        continue;
      }
      in_event = false;
      if (timed) continue;  // only all-day events are holidays
      if (!has_start) {
        error(event_line, "VEVENT without an all-day DTSTART");
        continue;
      }
      const LocalDate last = has_end ? end - std::chrono::days(1) : start;  // DTEND is exclusive
      if (last < start) {
        error(event_line, "VEVENT ends before it starts");
        continue;
      }
      if (!rrule.empty()) {
        if (rrule != "FREQ=YEARLY") {
          error(rrule_line, "unsupported RRULE '" + rrule + "' (only FREQ=YEARLY is understood)");
          continue;
        }
        for (LocalDate d = start; d <= last; d += std::chrono::days(1)) {
          const std::chrono::year_month_day ymd{d};
          out.yearly.push_back({static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day())});
        }
      } else {
        if ((last - start).count() > 366) {
          error(event_line, "VEVENT spans more than a year");
          continue;
        }
        for (LocalDate d = start; d <= last; d += std::chrono::days(1)) out.dates.insert(d);
      }
    } else if (in_event && (l.name == "DTSTART" || l.name == "DTEND")) {
      const bool all_day = l.params.find("VALUE=DATE") != std::string::npos || l.value.size() == 8;
      if (!all_day || l.params.find("VALUE=DATE-TIME") != std::string::npos) {
        timed = true;
        continue;
      }
      auto d = ical_date(l.value);
      if (!d) {
        error(l.number, l.name + ": '" + l.value + "' is not a date YYYYMMDD");
        continue;
      }
      if (l.name == "DTSTART") {
        start = *d;
        has_start = true;
      } else {
        end = *d;
        has_end = true;
      }
    } else if (in_event && l.name == "RRULE") {
      rrule = l.value;
      rrule_line = l.number;
    }
  }
  if (in_event) error(event_line, "VEVENT is not closed (missing END:VEVENT)");
  if (in_calendar) error(static_cast<int>(lines.empty() ? 0 : lines.back().number), "missing END:VCALENDAR");
  if (!ds.empty()) return std::unexpected(std::move(ds));
  return out;
}

}  // namespace pactwatch::calendar
