// Instants and durations. Instants are UTC with millisecond resolution; RFC 3339 at the edges.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace pactwatch::core {

using Instant = std::chrono::sys_time<std::chrono::milliseconds>;
// Durations are whole seconds: SLA targets, business time and periods never need less.
using Duration = std::chrono::seconds;

// Parses an RFC 3339 date-time: "2026-03-29T01:30:00Z", "2026-03-29T03:30:00+02:00",
// "2026-03-29T01:30:00.123Z", and the colon-less offset Jira sends ("+0000"). 't', 'z' and a space
// separator are accepted. Fractions beyond milliseconds are truncated. A leap second (:60) is
// taken as the last millisecond of that minute.
[[nodiscard]] std::expected<Instant, std::string> parse_rfc3339(std::string_view text);

// Formats as UTC: "2026-03-29T01:30:00Z", with ".123" only when the milliseconds are not zero.
[[nodiscard]] std::string format_rfc3339(Instant t);

// Milliseconds since the Unix epoch (the store's representation).
[[nodiscard]] inline std::int64_t to_unix_ms(Instant t) { return t.time_since_epoch().count(); }
[[nodiscard]] inline Instant from_unix_ms(std::int64_t ms) { return Instant(std::chrono::milliseconds(ms)); }

// Parses "90s", "45m", "4h", "2d", "1w", "1h30m", "1d2h3m4s" and ISO 8601 "PT4H", "P1DT2H30M",
// "PT0.5H" is not accepted (durations are whole seconds). "d" is 24 hours of elapsed time;
// business-day arithmetic belongs to calendars. Negative durations are not accepted.
[[nodiscard]] std::expected<Duration, std::string> parse_duration(std::string_view text);

// Canonical short form: "1h30m", "2d4h", "45s", "0s".
[[nodiscard]] std::string format_duration(Duration d);

}  // namespace pactwatch::core
