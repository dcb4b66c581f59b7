// The outcome of one attempt to deliver one event, and what it means for the next: the retry
// stage of the pipeline. Like Alertmanager's notifiers, an attempt says whether trying again can
// help: a transient failure is retried on a schedule (never before the receiver's Retry-After), a
// permanent one is dead at once.
#pragma once

#include <array>
#include <chrono>
#include <expected>
#include <optional>
#include <string>

#include "pactwatch/core/time.h"
#include "pactwatch/net/http.h"

namespace pactwatch::notify {

enum class Outcome {
  delivered,  // the receiver took it (a 2xx; the SMTP server accepted it)
  transient,  // may succeed later (no connection, a timeout, 5xx, 408, 425, 429): retried
  permanent,  // the receiver refused this event for good (any other answer): dead at once
  refused,    // never sent: the channel's URL may not be called (refuse_url): dead at once
  gone,       // 410 Gone: dead, and the channel is called no more until a reload
  abandoned,  // a stop cut the attempt short: nothing is recorded, the delivery stays as it was
};

struct Attempt {
  Outcome outcome = Outcome::delivered;
  std::string error;                          // why, for the delivery's last_error; empty when delivered
  std::chrono::milliseconds retry_after{0};   // transient: not again before this (the receiver's Retry-After)
};

// Only a timeout (408), a request too early (425), a rate limit (429) and server errors (5xx) can
// succeed later.
[[nodiscard]] bool retryable_status(long status);

// What a receiver's answer (or the transport's failure) means. `now` reads an HTTP-date
// Retry-After.
[[nodiscard]] Attempt classify(const std::expected<net::HttpResponse, net::TransportError>& answer, core::Instant now);

// The retry schedule after the first, second, ... failed attempt.
inline constexpr std::array<std::chrono::seconds, 7> kBackoff{std::chrono::seconds(5), std::chrono::minutes(5),
                                                              std::chrono::minutes(30), std::chrono::hours(2),
                                                              std::chrono::hours(5),    std::chrono::hours(10),
                                                              std::chrono::hours(24)};

// When a delivery whose `attempts`-th attempt failed transiently is tried again: after the
// schedule's step, or `at_least` when that is longer. Nothing once the schedule is used up (the
// delivery is dead).
[[nodiscard]] std::optional<core::Instant> next_attempt(int attempts, core::Instant now, std::chrono::milliseconds at_least);

}  // namespace pactwatch::notify
