#include "pactwatch/core/time.h"

#include <array>
#include <cstdio>
#include <limits>

namespace pactwatch::core {

namespace {

using namespace std::chrono;

struct Cursor {
  std::string_view s;
  std::size_t i = 0;
  [[nodiscard]] bool done() const { return i >= s.size(); }
  [[nodiscard]] char peek() const { return done() ? '\0' : s[i]; }
};

bool digits(Cursor& c, int n, int& out) {
  out = 0;
  for (int k = 0; k < n; ++k) {
    if (c.done() || c.s[c.i] < '0' || c.s[c.i] > '9') return false;
    out = out * 10 + (c.s[c.i] - '0');
    ++c.i;
  }
  return true;
}

bool expect(Cursor& c, char ch) {
  if (c.peek() != ch) return false;
  ++c.i;
  return true;
}

std::unexpected<std::string> bad(std::string_view text, std::string_view why) {
  return std::unexpected("'" + std::string(text) + "' is not an RFC 3339 date-time: " + std::string(why));
}

}  // namespace

std::expected<Instant, std::string> parse_rfc3339(std::string_view text) {
  Cursor c{text};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(c, 4, y) || !expect(c, '-') || !digits(c, 2, mo) || !expect(c, '-') || !digits(c, 2, d)) {
    return bad(text, "expected YYYY-MM-DD");
  }
  char sep = c.peek();
  if (sep != 'T' && sep != 't' && sep != ' ') return bad(text, "expected 'T' after the date");
  ++c.i;
  if (!digits(c, 2, h) || !expect(c, ':') || !digits(c, 2, mi) || !expect(c, ':') || !digits(c, 2, s)) {
    return bad(text, "expected hh:mm:ss");
  }
  int ms = 0;
  if (c.peek() == '.') {
    ++c.i;
    int n = 0;
    while (!c.done() && c.s[c.i] >= '0' && c.s[c.i] <= '9') {
      if (n < 3) ms = ms * 10 + (c.s[c.i] - '0');
      ++n;
      ++c.i;
    }
    if (n == 0) return bad(text, "expected digits after '.'");
    for (int k = n; k < 3; ++k) ms *= 10;
  }
  int offset_minutes = 0;
  char z = c.peek();
  if (z == 'Z' || z == 'z') {
    ++c.i;
  } else if (z == '+' || z == '-') {
    ++c.i;
    int oh = 0, om = 0;
    if (!digits(c, 2, oh)) return bad(text, "expected an offset such as +02:00");
    expect(c, ':');  // optional: Jira sends +0000
    if (!digits(c, 2, om)) return bad(text, "expected an offset such as +02:00");
    if (oh > 23 || om > 59) return bad(text, "offset out of range");
    offset_minutes = (oh * 60 + om) * (z == '-' ? -1 : 1);
  } else {
    return bad(text, "missing time zone offset ('Z' or +hh:mm)");
  }
  if (!c.done()) return bad(text, "unexpected text after the offset");

  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return bad(text, "no such date");
  if (h > 23 || mi > 59 || s > 60) return bad(text, "time out of range");
  bool leap = s == 60;
  if (leap) {
    s = 59;
    ms = 999;
  }
  Instant t = sys_days(ymd) + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
  return t - minutes(offset_minutes);
}

std::string format_rfc3339(Instant t) {
  const auto day_point = floor<days>(t);
  const year_month_day ymd{day_point};
  const hh_mm_ss<milliseconds> tod{t - day_point};
  std::array<char, 40> buf{};
  const int y = static_cast<int>(ymd.year());
  const auto mo = static_cast<unsigned>(ymd.month());
  const auto d = static_cast<unsigned>(ymd.day());
  const auto h = tod.hours().count();
  const auto mi = tod.minutes().count();
  const auto s = tod.seconds().count();
  const auto ms = tod.subseconds().count();
  int n = 0;
  if (ms != 0) {
    n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", y, mo, d,
                      static_cast<long long>(h), static_cast<long long>(mi), static_cast<long long>(s),
                      static_cast<long long>(ms));
  } else {
    n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", y, mo, d,
                      static_cast<long long>(h), static_cast<long long>(mi), static_cast<long long>(s));
  }
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

namespace {

std::unexpected<std::string> bad_duration(std::string_view text, std::string_view why) {
  return std::unexpected("'" + std::string(text) + "' is not a duration: " + std::string(why) +
                         " (examples: 90s, 45m, 4h, 2d, 1h30m, PT4H)");
}

bool add_unit(std::int64_t& total, std::int64_t value, std::int64_t unit) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max() / 4;
  if (value > kMax / unit) return false;
  total += value * unit;
  return total <= kMax;
}

}  // namespace

std::expected<Duration, std::string> parse_duration(std::string_view text) {
  if (text.empty()) return bad_duration(text, "empty");
  std::int64_t total = 0;
  std::size_t i = 0;
  const bool iso = text[0] == 'P' || text[0] == 'p';
  bool in_time = false;  // ISO: after 'T'
  if (iso) i = 1;
  // Units must come in decreasing order and at most once each.
  int last_rank = 100;
  bool any = false;
  while (i < text.size()) {
    if (iso && (text[i] == 'T' || text[i] == 't')) {
      if (in_time) return bad_duration(text, "two 'T' designators");
      in_time = true;
      ++i;
      continue;
    }
    std::int64_t value = 0;
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > std::numeric_limits<std::int64_t>::max() / 10 - 10) return bad_duration(text, "too large");
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return bad_duration(text, "expected a number");
    if (i == text.size()) return bad_duration(text, "number without a unit");
    char u = static_cast<char>(text[i] | 0x20);  // lower case
    ++i;
    std::int64_t unit = 0;
    int rank = 0;
    if (iso) {
      if (!in_time && u == 'w') { unit = 604800; rank = 5; }
      else if (!in_time && u == 'd') { unit = 86400; rank = 4; }
      else if (in_time && u == 'h') { unit = 3600; rank = 3; }
      else if (in_time && u == 'm') { unit = 60; rank = 2; }
      else if (in_time && u == 's') { unit = 1; rank = 1; }
      else return bad_duration(text, "unknown or misplaced ISO 8601 unit (years and months vary in length)");
    } else {
      switch (u) {
        case 'w': unit = 604800; rank = 5; break;
        case 'd': unit = 86400; rank = 4; break;
        case 'h': unit = 3600; rank = 3; break;
        case 'm': unit = 60; rank = 2; break;
        case 's': unit = 1; rank = 1; break;
        default: return bad_duration(text, "unknown unit '" + std::string(1, text[i - 1]) + "'");
      }
    }
    if (rank >= last_rank) return bad_duration(text, "units must go from largest to smallest, each once");
    last_rank = rank;
    if (!add_unit(total, value, unit)) return bad_duration(text, "too large");
    any = true;
  }
  if (!any) return bad_duration(text, "no value");
  if (iso && in_time && last_rank > 3) return bad_duration(text, "'T' must be followed by hours, minutes or seconds");
  return Duration(total);
}

std::string format_duration(Duration d) {
  std::int64_t s = d.count();
  if (s == 0) return "0s";
  std::string out;
  if (s < 0) {
    out = "-";
    s = -s;
  }
  const std::pair<std::int64_t, char> units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (auto [size, letter] : units) {
    if (s >= size) {
      out += std::to_string(s / size);
      out += letter;
      s %= size;
    }
  }
  return out;
}

}  // namespace pactwatch::core
