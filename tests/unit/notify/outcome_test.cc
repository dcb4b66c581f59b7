// The retry stage alone: what an answer means (delivered, transient with its Retry-After,
// permanent, gone) and the schedule a transient failure is retried on.
#include <gtest/gtest.h>

#include "pactwatch/notify/outcome.h"

namespace pactwatch::notify {
namespace {

using namespace std::chrono_literals;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }
const core::Instant kNow = T("2026-10-20T00:00:00Z");

std::expected<net::HttpResponse, net::TransportError> answer(long status, std::string body = {}, net::Headers headers = {}) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

TEST(Classify, TwoHundredsDeliver) {
  for (const long status : {200L, 201L, 202L, 204L, 299L}) {
    SCOPED_TRACE(status);
    const auto a = classify(answer(status), kNow);
    EXPECT_EQ(a.outcome, Outcome::delivered);
    EXPECT_EQ(a.error, "");
  }
}

TEST(Classify, WhatCanSucceedLaterIsTransient) {
  for (const long status : {408L, 425L, 429L, 500L, 502L, 503L, 504L, 599L}) {
    SCOPED_TRACE(status);
    const auto a = classify(answer(status, "busy"), kNow);
    EXPECT_EQ(a.outcome, Outcome::transient);
    EXPECT_EQ(a.error, "HTTP " + std::to_string(status) + ": busy");
    EXPECT_EQ(a.retry_after, 0ms);
    EXPECT_TRUE(retryable_status(status));
  }
}

TEST(Classify, TransportFailuresAreTransient) {
  for (const auto kind : {net::TransportError::Kind::timeout, net::TransportError::Kind::connect, net::TransportError::Kind::tls,
                          net::TransportError::Kind::other}) {
    const std::expected<net::HttpResponse, net::TransportError> failed = std::unexpected(net::TransportError{kind, "Timeout was reached"});
    const auto a = classify(failed, kNow);
    EXPECT_EQ(a.outcome, Outcome::transient);
    EXPECT_EQ(a.error, "Timeout was reached");
    EXPECT_EQ(a.retry_after, 0ms);
  }
}

TEST(Classify, RetryAfterIsHonouredInSecondsOrAsADate) {
  EXPECT_EQ(classify(answer(429, "", {{"Retry-After", "120"}}), kNow).retry_after, 120s);
  EXPECT_EQ(classify(answer(503, "", {{"retry-after", "7"}}), kNow).retry_after, 7s);  // any case
  EXPECT_EQ(classify(answer(503, "", {{"Retry-After", "Tue, 20 Oct 2026 00:10:00 GMT"}}), kNow).retry_after, 10min);
  EXPECT_EQ(classify(answer(503, "", {{"Retry-After", "Mon, 19 Oct 2026 23:00:00 GMT"}}), kNow).retry_after, 0ms);  // past
  EXPECT_EQ(classify(answer(503, "", {{"Retry-After", "soon"}}), kNow).retry_after, 0ms);                            // unreadable
  EXPECT_EQ(classify(answer(503, "", {{"Retry-After", "99999999999"}}), kNow).retry_after, 24h);                     // capped
}

TEST(Classify, OtherRefusalsArePermanentWithTheReceiversAnswer) {
  for (const long status : {400L, 401L, 403L, 404L, 405L, 409L, 413L, 422L, 301L, 302L, 100L}) {
    SCOPED_TRACE(status);
    const auto a = classify(answer(status, "signature does not verify\n(key id k1)"), kNow);
    EXPECT_EQ(a.outcome, Outcome::permanent);
    EXPECT_EQ(a.error, "HTTP " + std::to_string(status) + " (permanent; not retried): signature does not verify (key id k1)");
    EXPECT_FALSE(retryable_status(status));
  }
  EXPECT_EQ(classify(answer(400), kNow).error, "HTTP 400 (permanent; not retried): (empty answer)");
  const auto long_answer = classify(answer(400, std::string(300, 'x')), kNow).error;
  EXPECT_EQ(long_answer, "HTTP 400 (permanent; not retried): " + std::string(200, 'x') + "...");
  // A Retry-After on a refusal changes nothing: it is not retried at all.
  EXPECT_EQ(classify(answer(403, "", {{"Retry-After", "60"}}), kNow).retry_after, 0ms);
}

TEST(Classify, GoneIsItsOwnOutcome) {
  const auto a = classify(answer(410, "bye"), kNow);
  EXPECT_EQ(a.outcome, Outcome::gone);
  EXPECT_EQ(a.error, "endpoint gone (HTTP 410); channel disabled until the next reload");
}

TEST(Backoff, TheScheduleThenDead) {
  const std::vector<std::chrono::milliseconds> steps{5s, 5min, 30min, 2h, 5h, 10h, 24h};
  for (std::size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE(i + 1);
    const auto next = next_attempt(static_cast<int>(i + 1), kNow, 0ms);
    ASSERT_TRUE(next);
    EXPECT_EQ(*next - kNow, steps[i]);
  }
  EXPECT_FALSE(next_attempt(8, kNow, 0ms)) << "the schedule is used up: dead";
  EXPECT_FALSE(next_attempt(8, kNow, 1h)) << "a Retry-After does not extend the schedule";
}

TEST(Backoff, ALongerRetryAfterWinsAShorterOneDoesNot) {
  EXPECT_EQ(*next_attempt(1, kNow, 120s) - kNow, 120s);
  EXPECT_EQ(*next_attempt(1, kNow, 2s) - kNow, 5s);
  EXPECT_EQ(*next_attempt(3, kNow, 1h) - kNow, 1h);
  EXPECT_EQ(*next_attempt(3, kNow, 10min) - kNow, 30min);
}

}  // namespace
}  // namespace pactwatch::notify
