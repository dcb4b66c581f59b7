// Fuzz target: the scalar parsers every file and API shares (instants, durations, money, ratios,
// intervals, dates). Checks round trips where a value parsed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/money.h"
#include "pactwatch/core/time.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto t = core::parse_rfc3339(text)) {
    if (core::parse_rfc3339(core::format_rfc3339(*t)) != *t) std::abort();
  }
  if (auto d = core::parse_duration(text)) {
    if (core::parse_duration(core::format_duration(*d)) != *d) std::abort();
  }
  static const auto eur = *core::Currency::from_code("EUR");
  static const auto bhd = *core::Currency::from_code("BHD");
  for (auto c : {eur, bhd}) {
    if (auto m = core::Money::parse(text, c)) {
      auto back = core::Money::parse(m->to_decimal(), c);
      if (!back || back->minor_units() != m->minor_units()) std::abort();
    }
  }
  if (auto r = core::Ratio::parse(text)) {
    try {
      (void)core::Money(123456789, eur).multiply(*r, core::Rounding::half_even);
    } catch (const core::MoneyError&) {
      // overflow is reported, never wrapped
    }
  }
  (void)calendar::parse_interval(text);
  (void)calendar::parse_date(text);
  return 0;
}
