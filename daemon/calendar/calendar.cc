#include "pactwatch/calendar/calendar.h"

#include <date/tz.h>

#include <algorithm>

namespace pactwatch::calendar {

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Local wall time -> UTC milliseconds. `first` is the offset in force just before the wall time
// (for a gap) or the earlier of two (for an overlap), which gives exactly the documented rule:
// a missing time moves forward by the gap; an ambiguous one takes its first occurrence.
std::int64_t resolve(const date::time_zone& zone, LocalDate d, int minute) {
  const date::local_seconds local{std::chrono::seconds(d.time_since_epoch()) + std::chrono::minutes(minute)};
  const date::local_info info = zone.get_info(local);
  const auto utc = local.time_since_epoch() - info.first.offset;
  return std::chrono::duration_cast<std::chrono::milliseconds>(utc).count();
}

std::int64_t year_start_ms(int y) {
  const std::chrono::sys_days d = std::chrono::year{y} / std::chrono::January / 1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(d.time_since_epoch()).count();
}

}  // namespace

std::vector<LocalInterval> subtract(const std::vector<LocalInterval>& base, const std::vector<LocalInterval>& cut) {
  std::vector<LocalInterval> out = base;
  for (const auto& c : cut) {
    std::vector<LocalInterval> next;
    for (const auto& b : out) {
      if (c.end <= b.start || c.start >= b.end) {
        next.push_back(b);
        continue;
      }
      if (c.start > b.start) next.push_back({b.start, c.start});
      if (c.end < b.end) next.push_back({c.end, b.end});
    }
    out = std::move(next);
  }
  return out;
}

std::vector<LocalInterval> day_intervals(const CalendarSpec& spec, LocalDate d) {
  if (spec.holidays.contains(d)) return {};
  if (!spec.yearly_holidays.empty()) {
    const std::chrono::year_month_day ymd{d};
    for (const auto& y : spec.yearly_holidays) {
      if (static_cast<unsigned>(ymd.month()) == y.month && static_cast<unsigned>(ymd.day()) == y.day) return {};
    }
  }
  const auto o = spec.overrides.find(d);
  const auto& base = o != spec.overrides.end()
                         ? o->second
                         : spec.weekly[std::chrono::weekday{d}.c_encoding()];
  const auto b = spec.breaks.find(d);
  if (b == spec.breaks.end()) return base;
  return subtract(base, b->second);
}

std::expected<Calendar, std::string> Calendar::compile(const CalendarSpec& spec, YearRange range) {
  if (range.first_year > range.last_year || range.first_year < 1900 || range.last_year > 2200) {
    return std::unexpected("calendar year range must lie within 1900-2200");
  }
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(spec.timezone);
  } catch (const std::exception&) {
    return std::unexpected("unknown time zone '" + spec.timezone + "'");
  }
  Calendar cal;
  cal.name_ = spec.name;
  cal.timezone_ = spec.timezone;
  cal.range_start_ = year_start_ms(range.first_year);
  cal.range_end_ = year_start_ms(range.last_year + 1);

  // Local days far enough on both sides that every interval touching the range is complete
  // (offsets are under a day; an overnight interval reaches into the next day).
  const LocalDate first = LocalDate{std::chrono::days(floor_div(cal.range_start_, kDayMs))} - std::chrono::days(3);
  const LocalDate last = LocalDate{std::chrono::days(floor_div(cal.range_end_, kDayMs))} + std::chrono::days(3);
  std::vector<std::pair<std::int64_t, std::int64_t>> raw;
  raw.reserve(static_cast<std::size_t>((last - first).count()) * 2);
  for (LocalDate d = first; d < last; d += std::chrono::days(1)) {
    for (const auto& iv : day_intervals(spec, d)) {
      const std::int64_t s = resolve(*zone, d, iv.start);
      const std::int64_t e = resolve(*zone, d, iv.end);
      if (e > s) raw.emplace_back(s, e);
    }
  }
  std::sort(raw.begin(), raw.end());
  for (const auto& [s, e] : raw) {
    if (!cal.ends_.empty() && s <= cal.ends_.back()) {
      cal.ends_.back() = std::max(cal.ends_.back(), e);  // overlapping or touching: one open span
    } else {
      cal.starts_.push_back(s);
      cal.ends_.push_back(e);
    }
  }
  const std::size_t n = cal.starts_.size();
  cal.cum_.resize(n + 1);
  cal.cum_[0] = 0;
  for (std::size_t i = 0; i < n; ++i) cal.cum_[i + 1] = cal.cum_[i] + (cal.ends_[i] - cal.starts_[i]);

  cal.first_day_ = floor_div(cal.range_start_, kDayMs) - 1;
  const std::int64_t last_day = floor_div(cal.range_end_, kDayMs) + 1;
  cal.bucket_.resize(static_cast<std::size_t>(last_day - cal.first_day_ + 1));
  std::size_t i = 0;
  for (std::size_t u = 0; u < cal.bucket_.size(); ++u) {
    const std::int64_t day_start = (cal.first_day_ + static_cast<std::int64_t>(u)) * kDayMs;
    while (i < n && cal.ends_[i] <= day_start) ++i;
    cal.bucket_[u] = static_cast<std::uint32_t>(i);
  }
  return cal;
}

CalendarSpec Calendar::always_open_spec() {
  CalendarSpec spec;
  spec.name = "24x7";
  spec.timezone = "UTC";
  for (auto& day : spec.weekly) day = {{0, 1440}};
  return spec;
}

const Calendar& Calendar::always_open() {
  static const Calendar cal = *compile(always_open_spec());
  return cal;
}

std::size_t Calendar::first_ending_after(std::int64_t t) const {
  const auto u = static_cast<std::size_t>(floor_div(t, kDayMs) - first_day_);
  std::size_t i = bucket_[u];
  const std::size_t n = ends_.size();
  while (i < n && ends_[i] <= t) ++i;
  return i;
}

std::int64_t Calendar::business_before(std::int64_t t) const {
  const std::size_t i = first_ending_after(t);
  if (i < starts_.size() && starts_[i] < t) return cum_[i] + (t - starts_[i]);
  return cum_[i];
}

std::expected<std::int64_t, std::string> Calendar::check_range(core::Instant t) const {
  const std::int64_t ms = core::to_unix_ms(t);
  if (ms < range_start_ || ms > range_end_) {
    return std::unexpected(core::format_rfc3339(t) + " is outside calendar '" + name_ + "' (" +
                           core::format_rfc3339(range_start()) + " to " + core::format_rfc3339(range_end()) + ")");
  }
  return ms;
}

Millis Calendar::duration(core::Instant a, core::Instant b) const {
  const std::int64_t x = std::clamp(core::to_unix_ms(a), range_start_, range_end_);
  const std::int64_t y = std::clamp(core::to_unix_ms(b), range_start_, range_end_);
  if (y <= x) return Millis(0);
  return Millis(business_before(y) - business_before(x));
}

std::expected<core::Instant, std::string> Calendar::add(core::Instant t, Millis d) const {
  if (d.count() < 0) return sub(t, -d);
  auto ms = check_range(t);
  if (!ms) return std::unexpected(ms.error());
  if (d.count() == 0) return t;
  const std::int64_t target = business_before(*ms) + d.count();
  // First interval whose cumulative end reaches the target.
  const auto it = std::lower_bound(cum_.begin() + 1, cum_.end(), target);
  if (it == cum_.end()) {
    return std::unexpected("adding " + core::format_duration(std::chrono::duration_cast<core::Duration>(d)) +
                           " to " + core::format_rfc3339(t) + " goes past the end of calendar '" + name_ + "'");
  }
  const auto i = static_cast<std::size_t>(it - (cum_.begin() + 1));
  const std::int64_t result = starts_[i] + (target - cum_[i]);
  if (result > range_end_) {
    return std::unexpected("adding to " + core::format_rfc3339(t) + " goes past the end of calendar '" + name_ + "'");
  }
  return core::from_unix_ms(result);
}

std::expected<core::Instant, std::string> Calendar::sub(core::Instant t, Millis d) const {
  if (d.count() < 0) return add(t, -d);
  auto ms = check_range(t);
  if (!ms) return std::unexpected(ms.error());
  if (d.count() == 0) return t;
  const std::int64_t target = business_before(*ms) - d.count();
  // First interval whose cumulative end passes the target: the latest instant with that much
  // business time before it lies inside it (or at its start).
  const auto it = target < 0 ? cum_.end() : std::upper_bound(cum_.begin() + 1, cum_.end(), target);
  const std::int64_t result =
      it == cum_.end() ? range_start_ - 1
                       : starts_[static_cast<std::size_t>(it - (cum_.begin() + 1))] +
                             (target - cum_[static_cast<std::size_t>(it - (cum_.begin() + 1))]);
  if (result < range_start_) {
    return std::unexpected("subtracting from " + core::format_rfc3339(t) + " goes past the start of calendar '" +
                           name_ + "'");
  }
  return core::from_unix_ms(result);
}

bool Calendar::is_open(core::Instant t) const {
  const std::int64_t ms = core::to_unix_ms(t);
  if (ms < range_start_ || ms >= range_end_) return false;
  const std::size_t i = first_ending_after(ms);
  return i < starts_.size() && starts_[i] <= ms;
}

std::expected<core::Instant, std::string> Calendar::next_open(core::Instant t) const {
  auto ms = check_range(t);
  if (!ms) return std::unexpected(ms.error());
  const std::size_t i = first_ending_after(*ms);
  if (i >= starts_.size() || starts_[i] >= range_end_) {
    return std::unexpected("calendar '" + name_ + "' has no open time after " + core::format_rfc3339(t));
  }
  return core::from_unix_ms(std::max(starts_[i], *ms));
}

std::vector<Span> Calendar::periods(core::Instant t, std::size_t n, bool before) const {
  std::vector<Span> out;
  const std::int64_t ms = std::clamp(core::to_unix_ms(t), range_start_, range_end_);
  auto clip = [&](std::size_t i) {
    return Span{core::from_unix_ms(std::max(starts_[i], range_start_)), core::from_unix_ms(std::min(ends_[i], range_end_))};
  };
  std::size_t i = first_ending_after(ms);
  if (!before) {
    for (; i < starts_.size() && out.size() < n && starts_[i] < range_end_; ++i) out.push_back(clip(i));
  } else {
    // Intervals starting before t: the one containing t (if any), then earlier ones.
    std::size_t j = (i < starts_.size() && starts_[i] < ms) ? i + 1 : i;
    while (j > 0 && out.size() < n && ends_[j - 1] > range_start_) {
      out.push_back(clip(j - 1));
      --j;
    }
  }
  return out;
}

}  // namespace pactwatch::calendar
