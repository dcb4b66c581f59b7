// Fuzz target: the iCalendar holiday importer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pactwatch/calendar/calendar_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)pactwatch::calendar::parse_ical(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.ics");
  return 0;
}
