#include "pactwatch/notify/outcome.h"

#include <algorithm>

namespace pactwatch::notify {

namespace {

// The first 200 bytes of a receiver's answer, on one line, for the delivery's last_error.
std::string answer_snippet(const std::string& body) {
  std::string s = body.substr(0, 200);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s.empty() ? "(empty answer)" : s + (body.size() > 200 ? "..." : "");
}

}  // namespace

bool retryable_status(long status) { return status >= 500 || status == 408 || status == 425 || status == 429; }

Attempt classify(const std::expected<net::HttpResponse, net::TransportError>& answer, core::Instant now) {
  if (!answer) return {Outcome::transient, answer.error().message, {}};
  const long status = answer->status;
  if (status >= 200 && status < 300) return {Outcome::delivered, {}, {}};
  if (status == 410) return {Outcome::gone, "endpoint gone (HTTP 410); channel disabled until the next reload", {}};
  if (!retryable_status(status)) {
    // A bad request, a wrong secret, an unknown path, a redirect: sending it again cannot succeed.
    return {Outcome::permanent, "HTTP " + std::to_string(status) + " (permanent; not retried): " + answer_snippet(answer->body), {}};
  }
  return {Outcome::transient, "HTTP " + std::to_string(status) + ": " + answer_snippet(answer->body),
          net::retry_after(*answer, now).value_or(std::chrono::milliseconds(0))};
}

std::optional<core::Instant> next_attempt(int attempts, core::Instant now, std::chrono::milliseconds at_least) {
  const auto n = static_cast<std::size_t>(std::max(attempts, 1));
  if (n > kBackoff.size()) return std::nullopt;
  return now + std::max<std::chrono::milliseconds>(kBackoff[n - 1], at_least);
}

}  // namespace pactwatch::notify
