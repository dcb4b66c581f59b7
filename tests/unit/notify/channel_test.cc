// The channels alone, against a real HTTP receiver on loopback (testutils::FakeHttp): what each puts on
// the wire and the outcome of each kind of answer; refused URLs and a missing key never reach it.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <nlohmann/json.hpp>

#include "pactwatch/notify/channel.h"
#include "pactwatch/notify/message.h"
#include "fake_http.h"
#include "temp_dir.h"

namespace pactwatch::notify {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// Answers each POST with the next scripted status (then 200); the fake records what it got.
struct Receiver {
  struct Answer {
    int status = 200;
    std::string body;
    std::string retry_after;
  };
  std::mutex mutex;
  std::vector<Answer> script;
  testutils::FakeHttp http;

  Receiver() {
    http.post(".*", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex);
      const Answer a = script.empty() ? Answer{} : script.front();
      if (!script.empty()) script.erase(script.begin());
      res.status = a.status;
      if (!a.body.empty()) res.set_content(a.body, "text/plain");
      if (!a.retry_after.empty()) res.set_header("Retry-After", a.retry_after);
    });
    http.start();
  }
  std::string url(const std::string& path = "/hook") const { return http.url(path); }
  std::size_t count() const { return http.count(); }
  std::vector<httplib::Request> received() const { return http.requests(); }
};

store::OutboxEvent breach() {
  store::OutboxEvent e;
  e.id = "kpi.breached/support/3/2026-10/kpi:p1/1792458000000";
  e.type = "kpi.breached";
  e.partner = "northwind";
  e.contract = "support";
  e.version = 3;
  e.period = "2026-10";
  e.subject = "kpi:p1";
  e.created_at = T("2026-10-20T01:00:00Z");
  e.payload = R"({"rule":"kpi:p1","from":"met","to":"breached"})";
  return e;
}

config::ChannelConfig config_of(const std::string& type, const std::string& url) {
  config::ChannelConfig c;
  c.name = type;
  c.type = type;
  c.url = url;
  return c;
}

const core::Instant kNow = T("2026-10-20T01:00:05Z");

TEST(WebhookSignature, TheStandardWebhooksTestVector) {
  // From the Standard Webhooks specification's reference tests.
  EXPECT_EQ(webhook_signature(kSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookChannel, PostsASignedCloudEventWithTheEventsId) {
  Receiver rx;
  const auto cfg = config_of("webhook", rx.url());
  const auto channel = make_channel(cfg, std::string(kSecret));
  ASSERT_TRUE(channel);
  const auto a = channel->deliver(breach(), {}, kNow);
  EXPECT_EQ(a.outcome, Outcome::delivered);
  ASSERT_EQ(rx.count(), 1u);
  const auto req = rx.received()[0];
  EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(req.get_header_value("webhook-id"), breach().id);
  EXPECT_EQ(req.get_header_value("webhook-timestamp"), "1792458005");
  EXPECT_EQ(req.get_header_value("webhook-signature"), webhook_signature(kSecret, breach().id, 1792458005, req.body));
  EXPECT_EQ(req.body, cloudevent(breach()));
  const auto body = json::parse(req.body);
  EXPECT_EQ(body["specversion"], "1.0");
  EXPECT_EQ(body["type"], "pactwatch.kpi.breached");
  EXPECT_EQ(body["subject"], "northwind/support/3/2026-10/kpi:p1");
  EXPECT_EQ(body["data"]["to"], "breached");
  EXPECT_EQ(body["data"]["contract"]["version"], 3);
}

TEST(WebhookChannel, WithoutItsKeyThereIsNoChannel) {
  EXPECT_FALSE(make_channel(config_of("webhook", "https://hooks.example/x"), std::nullopt));
  EXPECT_TRUE(make_channel(config_of("slack", "https://hooks.example/x"), std::nullopt));
  EXPECT_TRUE(make_channel(config_of("email", "smtp://mail.example"), std::nullopt));
}

TEST(SlackChannel, PostsOneLineOfText) {
  Receiver rx;
  const auto cfg = config_of("slack", rx.url("/services/T000/B000/XXXX"));
  const auto channel = make_channel(cfg, std::nullopt);
  EXPECT_EQ(channel->deliver(breach(), {}, kNow).outcome, Outcome::delivered);
  ASSERT_EQ(rx.count(), 1u);
  EXPECT_EQ(rx.received()[0].path, "/services/T000/B000/XXXX");
  EXPECT_EQ(json::parse(rx.received()[0].body), json({{"text", "pactwatch: northwind support v3 2026-10: kpi:p1 breached (was met)"}}));
  EXPECT_EQ(rx.received()[0].get_header_value("webhook-signature"), "");
}

TEST(HttpChannels, EachAnswerItsOutcome) {
  Receiver rx;
  rx.script = {{503, "busy", "120"}, {429, "", ""}, {404, "no such hook\n", ""}, {301, "", ""}, {410, "", ""}, {204, "", ""}};
  const auto cfg = config_of("webhook", rx.url());
  const auto channel = make_channel(cfg, std::string(kSecret));
  auto a = channel->deliver(breach(), {}, kNow);
  EXPECT_EQ(a.outcome, Outcome::transient);
  EXPECT_EQ(a.error, "HTTP 503: busy");
  EXPECT_EQ(a.retry_after, 120s) << "the receiver's Retry-After";
  a = channel->deliver(breach(), {}, kNow);
  EXPECT_EQ(a.outcome, Outcome::transient);
  EXPECT_EQ(a.retry_after, 0ms);
  a = channel->deliver(breach(), {}, kNow);
  EXPECT_EQ(a.outcome, Outcome::permanent);
  EXPECT_EQ(a.error, "HTTP 404 (permanent; not retried): no such hook ");
  EXPECT_EQ(channel->deliver(breach(), {}, kNow).outcome, Outcome::permanent) << "a redirect is not followed";
  EXPECT_EQ(channel->deliver(breach(), {}, kNow).outcome, Outcome::gone);
  EXPECT_EQ(channel->deliver(breach(), {}, kNow).outcome, Outcome::delivered);
  EXPECT_EQ(rx.count(), 6u);
}

TEST(HttpChannels, NoReceiverIsTransient) {
  const auto cfg = config_of("slack", "http://127.0.0.1:" + std::to_string(testutils::free_port()) + "/hook");
  const auto a = make_channel(cfg, std::nullopt)->deliver(breach(), {}, kNow);
  EXPECT_EQ(a.outcome, Outcome::transient);
  EXPECT_FALSE(a.error.empty());
}

TEST(HttpChannels, AStopAbandonsTheAttempt) {
  Receiver rx;
  const std::atomic<bool> stopping{true};
  const auto cfg = config_of("slack", rx.url());
  EXPECT_EQ(make_channel(cfg, std::nullopt, &stopping)->deliver(breach(), {}, kNow).outcome, Outcome::abandoned);
}

TEST(Channels, RefusedURLsAreNeverCalled) {
  for (const char* url : {"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x", "https://metadata.google.internal/x",
                          "ftp://files.example/x"}) {
    SCOPED_TRACE(url);
    const auto cfg = config_of("slack", url);
    const auto a = make_channel(cfg, std::nullopt)->deliver(breach(), {}, kNow);
    EXPECT_EQ(a.outcome, Outcome::refused);
    EXPECT_EQ(a.error, refuse_url(url, false));
    EXPECT_FALSE(a.error.empty());
  }
  EXPECT_EQ(refuse_url("http://169.254.169.254/x", true), "") << "allow_private";
  EXPECT_EQ(refuse_url("https://user@hooks.example:8443/x", false), "");
  EXPECT_NE(refuse_url("smtp://[FE80::1]:25", false), "");
}

TEST(EmailChannel, NoServerIsTransientAndTheMessageCarriesTheEvent) {
  auto cfg = config_of("email", "smtp://127.0.0.1:" + std::to_string(testutils::free_port()));
  cfg.from = "pactwatch@brand.example";
  const auto a = make_channel(cfg, std::nullopt)->deliver(breach(), {"ops@brand.example"}, kNow);
  EXPECT_EQ(a.outcome, Outcome::transient);
  EXPECT_EQ(a.error.rfind("SMTP: ", 0), 0u) << a.error;
  const auto msg = email_message(cfg, {"ops@brand.example", "ops@northwind.example"}, breach(), kNow);
  EXPECT_NE(msg.find("From: pactwatch@brand.example\r\nTo: ops@brand.example, ops@northwind.example\r\n"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Subject: pactwatch: northwind support v3 2026-10: kpi:p1 breached (was met)\r\n"), std::string::npos);
  EXPECT_NE(msg.find("Date: Tue, 20 Oct 2026 01:00:05 +0000\r\n"), std::string::npos);
  EXPECT_NE(msg.find("X-Pactwatch-Event-Id: " + breach().id + "\r\n"), std::string::npos);
}

}  // namespace
}  // namespace pactwatch::notify
