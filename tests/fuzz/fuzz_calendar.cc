// Fuzz target: the calendar file parser, then compilation and queries on whatever parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pactwatch/calendar/calendar_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pactwatch;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = calendar::parse_calendar(text, "fuzz.yaml", "/nonexistent");
  if (!spec) return 0;
  auto cal = calendar::Calendar::compile(*spec, {2026, 2026});
  if (!cal) return 0;
  const auto t = core::from_unix_ms(1'780'000'000'000LL + static_cast<std::int64_t>(size) * 3'600'000);
  (void)cal->duration(t, t + std::chrono::hours(72));
  (void)cal->add(t, calendar::Millis(3'600'000));
  (void)cal->sub(t, calendar::Millis(3'600'000));
  (void)cal->next_open(t);
  (void)cal->periods(t, 3, true);
  return 0;
}
