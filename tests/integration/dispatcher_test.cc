// Notification delivery against real HTTP receivers on loopback: signatures checked by an
// independent implementation (Python's hmac), at-least-once retries on a schedule with the same
// event id, 410 Gone disabling an endpoint, event filters, Slack's format, refused addresses.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "pactwatch/app/dispatcher.h"
#include "pactwatch/notify/channel.h"
#include "fake_http.h"
#include "process.h"
#include "temp_dir.h"
#include "wait.h"

namespace pactwatch::app {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using notify::refuse_url;
core::Instant T(const char* s) { return *core::parse_rfc3339(s); }

// Answers each POST with the next scripted status (then 200); the fake records what it got.
struct Receiver {
  std::mutex mutex;
  std::vector<int> script;  // statuses to answer, in order; then 200
  std::string answer;       // the body of every answer that is not 2xx
  std::string retry_after;  // a Retry-After header on every answer that is not 2xx
  testutils::FakeHttp http;

  Receiver() {
    http.post(".*", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex);
      res.status = script.empty() ? 200 : script.front();
      if (!script.empty()) script.erase(script.begin());
      if (res.status >= 300) {
        if (!answer.empty()) res.set_content(answer, "text/plain");
        if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
      }
    });
    http.start();
  }
  std::string url(const std::string& path = "/hook") const { return http.url(path); }
  std::size_t count() const { return http.count(); }
  std::vector<httplib::Request> received() const { return http.requests(); }
};

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::open({"sqlite://" + (dir_.path() / "o.db").string(), "", 2});
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
    store_->migrate(clock_.now());
    store::EvaluationRecord r{"support", 3, "2026-10", "northwind", T("2026-10-20T00:00:00Z"), "d", "{}",
                              {{"kpi:p1", "met"}, {"standard:pci", "met"}}};
    store_->evaluations().save(r, T("2026-10-20T00:00:00Z"));
    r.statuses = {{"kpi:p1", "breached"}, {"standard:pci", "breached"}};
    store_->evaluations().save(r, T("2026-10-20T01:00:00Z"));
    secret_path_ = dir_.write("hook.secret", std::string(kSecret) + "\n");
  }

  config::ChannelConfig webhook(const std::string& name, const std::string& url) {
    config::ChannelConfig c;
    c.name = name;
    c.type = "webhook";
    c.url = url;
    c.secret.file = secret_path_.string();
    return c;
  }

  static constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  testutils::TempDir dir_;
  std::filesystem::path secret_path_;
  core::ManualClock clock_{T("2026-10-20T01:00:05Z")};
  std::unique_ptr<store::Store> store_;
};

TEST_F(DispatcherTest, SignedCloudEventsRetriedUntilDeliveredWithOneStableId) {
  Receiver rx;
  rx.script = {500, 503};
  config::Config config;
  auto ch = webhook("ops", rx.url());
  ch.events = {"kpi.breached"};  // standard.violated is not for this channel
  config.channels = {ch};
  Dispatcher d(config, *store_, clock_);

  auto first = d.run_once();
  EXPECT_EQ(first.retried, 1);
  EXPECT_EQ(first.skipped, 1);
  EXPECT_EQ(rx.count(), 1u);
  clock_.set(clock_.now() + std::chrono::seconds(1));
  EXPECT_EQ(d.run_once().retried, 0);  // not due yet: the first retry waits 5 s
  EXPECT_EQ(rx.count(), 1u);
  clock_.set(clock_.now() + std::chrono::seconds(5));
  EXPECT_EQ(d.run_once().retried, 1);  // 503: next in 5 minutes
  clock_.set(clock_.now() + std::chrono::minutes(4));
  EXPECT_EQ(d.run_once().delivered, 0);
  clock_.set(clock_.now() + std::chrono::minutes(2));
  EXPECT_EQ(d.run_once().delivered, 1);
  ASSERT_EQ(rx.count(), 3u);
  EXPECT_EQ(d.run_once().delivered, 0);  // delivered once is done

  // The same stable id on every attempt; the signature checks out with an independent HMAC.
  std::string id;
  for (const auto& req : rx.received()) {
    if (id.empty()) id = req.get_header_value("webhook-id");
    EXPECT_EQ(req.get_header_value("webhook-id"), id);
  }
  EXPECT_EQ(id.rfind("kpi.breached/support/3/2026-10/kpi:p1/", 0), 0u) << id;
  const auto last = rx.received().back();
  const std::string ts = last.get_header_value("webhook-timestamp");
  auto py = testutils::run({"/usr/bin/python3", "-c",
                            "import base64,hashlib,hmac,sys\n"
                            "key = base64.b64decode(sys.argv[1].split('_', 1)[1])\n"
                            "msg = (sys.argv[2] + '.' + sys.argv[3] + '.' + sys.argv[4]).encode()\n"
                            "print('v1,' + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())",
                            kSecret, id, ts, last.body});
  ASSERT_EQ(py.exit_code, 0) << py.err;
  EXPECT_EQ(last.get_header_value("webhook-signature") + "\n", py.out);
  const auto body = json::parse(last.body);
  EXPECT_EQ(body["specversion"], "1.0");
  EXPECT_EQ(body["type"], "pactwatch.kpi.breached");
  EXPECT_EQ(body["id"], id);
  EXPECT_EQ(body["data"]["partner"], "northwind");
  EXPECT_EQ(body["data"]["to"], "breached");
  EXPECT_EQ(store_->outbox().deliveries("delivered").size(), 1u);
  EXPECT_EQ(store_->outbox().deliveries("skipped").size(), 1u);
}

// A receiver down for hours (on the fake clock): retried on the schedule, never given up within
// it, and delivered with the same id once it is back.
TEST_F(DispatcherTest, AReceiverDownForHoursGetsTheEventWhenItReturns) {
  Receiver rx;
  rx.script = {503, 503, 503, 503, 503};  // down through the first five attempts: 0 s, 5 s, 5 min, 30 min, 2 h
  config::Config config;
  auto ch = webhook("ops", rx.url());
  ch.events = {"kpi.breached"};
  config.channels = {ch};
  Dispatcher d(config, *store_, clock_);
  const auto start = clock_.now();
  int delivered = 0, polls = 0;
  while (delivered == 0 && clock_.now() - start < std::chrono::hours(24)) {
    const auto s = d.run_once();
    delivered += s.delivered;
    EXPECT_EQ(s.dead, 0);
    ++polls;
    clock_.set(clock_.now() + std::chrono::minutes(1));
  }
  EXPECT_EQ(delivered, 1);
  ASSERT_EQ(rx.count(), 6u) << "one attempt per step of the schedule, none in between (" << polls << " polls)";
  EXPECT_GT(clock_.now() - start, std::chrono::hours(7)) << "the sixth attempt comes 5 h after the fifth";
  for (const auto& req : rx.received()) EXPECT_EQ(req.get_header_value("webhook-id"), rx.received().front().get_header_value("webhook-id"));
  EXPECT_EQ(store_->outbox().deliveries("delivered").size(), 1u);
}

TEST_F(DispatcherTest, GoneDisablesTheEndpointAndDeadLettersCanBeRetried) {
  Receiver rx;
  rx.script = {410};
  config::Config config;
  config.channels = {webhook("gone", rx.url())};
  Dispatcher d(config, *store_, clock_);
  auto s = d.run_once();
  EXPECT_EQ(s.dead, 1);
  EXPECT_EQ(rx.count(), 1u);  // the second event is not even tried
  clock_.set(clock_.now() + std::chrono::hours(1));
  d.run_once();
  EXPECT_EQ(rx.count(), 1u);  // disabled until a reload
  const auto dead = store_->outbox().deliveries("dead");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].last_error.find("410"), std::string::npos);
  // outbox retry puts it back; a new dispatcher (a reload) delivers it.
  EXPECT_EQ(store_->outbox().retry(dead[0].event_id, clock_.now()), 1);
  Dispatcher again(config, *store_, clock_);
  EXPECT_EQ(again.run_once().delivered, 2);
}

// A receiver's refusal (400, 401, 403, 404, 422, a redirect) cannot succeed later: the delivery is
// dead at once with the receiver's answer, and the channel goes on with the next event. Only
// what can succeed later (5xx, 408, 425, 429, no connection) is retried, a 429 no earlier than its
// Retry-After.
TEST_F(DispatcherTest, RefusalsAreDeadAtOnceAndOnlyWhatCanSucceedLaterIsRetried) {
  for (const int status : {400, 401, 403, 404, 422, 301}) {
    SCOPED_TRACE(status);
    Receiver rx;
    rx.script = {status};
    rx.answer = "signature does not verify (key id k1)";
    config::Config config;
    config.channels = {webhook("hook-" + std::to_string(status), rx.url())};
    Dispatcher d(config, *store_, clock_);
    const auto s = d.run_once();
    EXPECT_EQ(s.dead, 1);
    EXPECT_EQ(s.retried, 0);
    EXPECT_EQ(s.delivered, 1) << "the channel stays enabled: the next event goes out";
    EXPECT_EQ(rx.count(), 2u);
    const auto dead = store_->outbox().deliveries("dead");
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].attempts, 1);
    EXPECT_NE(dead[0].last_error.find("HTTP " + std::to_string(status)), std::string::npos) << dead[0].last_error;
    EXPECT_NE(dead[0].last_error.find("signature does not verify (key id k1)"), std::string::npos) << dead[0].last_error;
    clock_.set(clock_.now() + std::chrono::hours(48));
    const auto later = d.run_once();
    EXPECT_EQ(later.retried + later.dead + later.delivered, 0);
    EXPECT_EQ(rx.count(), 2u) << "never sent again";
    ASSERT_EQ(store_->outbox().retry("all", clock_.now()), 1);  // an operator may still queue it again
    EXPECT_EQ(d.run_once().delivered, 1);
    clock_.set(T("2026-10-20T01:00:05Z"));
  }
  for (const int status : {500, 502, 503, 408, 425, 429}) {
    SCOPED_TRACE(status);
    Receiver rx;
    rx.script = {status};
    config::Config config;
    auto ch = webhook("retry-" + std::to_string(status), rx.url());
    ch.events = {"kpi.breached"};
    config.channels = {ch};
    Dispatcher d(config, *store_, clock_);
    const auto s = d.run_once();
    EXPECT_EQ(s.retried, 1);
    EXPECT_EQ(s.dead, 0);
    clock_.set(clock_.now() + std::chrono::seconds(5));
    EXPECT_EQ(d.run_once().delivered, 1) << "retried on the schedule, 5 s later";
    clock_.set(T("2026-10-20T01:00:05Z"));
  }
  {
    // 429 with Retry-After: not before it, even when the schedule would come sooner.
    Receiver rx;
    rx.script = {429};
    rx.retry_after = "120";
    config::Config config;
    auto ch = webhook("limited", rx.url());
    ch.events = {"kpi.breached"};
    config.channels = {ch};
    Dispatcher d(config, *store_, clock_);
    EXPECT_EQ(d.run_once().retried, 1);
    clock_.set(clock_.now() + std::chrono::seconds(119));
    EXPECT_EQ(d.run_once().delivered, 0);
    EXPECT_EQ(rx.count(), 1u);
    clock_.set(clock_.now() + std::chrono::seconds(1));
    EXPECT_EQ(d.run_once().delivered, 1);
    clock_.set(T("2026-10-20T01:00:05Z"));
  }
  {
    // No receiver at all (the connection is refused): retried, not dead.
    const int port = testutils::free_port();
    config::Config config;
    auto ch = webhook("down", "http://127.0.0.1:" + std::to_string(port) + "/hook");
    ch.events = {"kpi.breached"};
    config.channels = {ch};
    Dispatcher d(config, *store_, clock_);
    const auto s = d.run_once();
    EXPECT_EQ(s.retried, 1);
    EXPECT_EQ(s.dead, 0);
  }
}

TEST_F(DispatcherTest, SlackMessagesAndRefusedAddresses) {
  Receiver rx;
  config::Config config;
  config::ChannelConfig slack;
  slack.name = "chat";
  slack.type = "slack";
  slack.url = rx.url("/services/T000/B000/XXXX");
  config.channels = {slack, webhook("metadata", "http://169.254.169.254/latest/meta-data/")};
  Dispatcher d(config, *store_, clock_);
  auto s = d.run_once();
  EXPECT_EQ(s.delivered, 2);
  EXPECT_EQ(s.dead, 2);  // refused, without a request
  ASSERT_EQ(rx.count(), 2u);
  const auto text = json::parse(rx.received()[0].body)["text"].get<std::string>();
  EXPECT_NE(text.find("northwind support v3 2026-10: kpi:p1 breached (was met)"), std::string::npos) << text;
  EXPECT_NE(store_->outbox().deliveries("dead")[0].last_error.find("link-local"), std::string::npos);
  EXPECT_EQ(refuse_url("http://[fe80::1]/x", false).empty(), false);
  EXPECT_EQ(refuse_url("https://hooks.example/x", false), "");
  EXPECT_EQ(refuse_url("ftp://x/", true).empty(), false);
}

TEST_F(DispatcherTest, EmailOverSmtpAndNeverInClearTextWhenStartTlsIsRequired) {
  const int port = testutils::free_port();
  const auto mailbox = dir_.path() / "mailbox.txt";
  // An SMTP sink (Python's smtpd): every message it accepts is appended to the mailbox file.
  testutils::Child sink({"/usr/bin/python3", "-W", "ignore", "-c",
                         "import asyncore, smtpd, sys\n"
                         "class Sink(smtpd.SMTPServer):\n"
                         "    def process_message(self, peer, mailfrom, rcpttos, data, **kw):\n"
                         "        with open(sys.argv[2], 'a') as f:\n"
                         "            f.write('FROM ' + mailfrom + ' TO ' + ','.join(rcpttos) + '\\n' + data.decode() + '\\n.\\n')\n"
                         "Sink(('127.0.0.1', int(sys.argv[1])), None)\n"
                         "asyncore.loop()\n",
                         std::to_string(port), mailbox.string()});
  // Wait until the sink accepts connections.
  (void)testutils::eventually(
      [&] {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return up;
      },
      5s, 20ms);
  config::Config config;
  config::ChannelConfig mail;
  mail.name = "mail";
  mail.type = "email";
  mail.url = "smtp://127.0.0.1:" + std::to_string(port);
  mail.from = "pactwatch@brand.example";
  mail.to = {"partners@brand.example", "ops@northwind.example"};
  mail.events = {"kpi.breached"};
  mail.starttls_required = true;
  config.channels = {mail};
  {
    Dispatcher strict(config, *store_, clock_);
    auto s = strict.run_once();
    EXPECT_EQ(s.delivered, 0);  // the sink offers no STARTTLS: nothing goes out in clear text
    EXPECT_EQ(s.retried, 1);
    EXPECT_NE(store_->outbox().deliveries("pending")[0].last_error.find("SMTP"), std::string::npos);
  }
  config.channels[0].name = "mail-lan";
  config.channels[0].starttls_required = false;  // a relay on a trusted network
  Dispatcher relaxed(config, *store_, clock_);
  EXPECT_EQ(relaxed.run_once().delivered, 1);
  std::string box;
  (void)testutils::eventually(
      [&] {
        if (std::filesystem::exists(mailbox)) box = testutils::read_file(mailbox);
        return box.find("\n.\n") != std::string::npos;
      },
      2s, 20ms);
  EXPECT_NE(box.find("FROM pactwatch@brand.example TO partners@brand.example,ops@northwind.example"), std::string::npos) << box;
  EXPECT_NE(box.find("Subject: pactwatch: northwind support v3 2026-10: kpi:p1 breached (was met)"), std::string::npos) << box;
  EXPECT_NE(box.find("X-Pactwatch-Event-Id: kpi.breached/support/3/2026-10/kpi:p1/"), std::string::npos) << box;
  sink.signal(SIGTERM);
}

TEST_F(DispatcherTest, RecoveriesWaitForTheHoldAndBreachesStillStandingGetReminders) {
  Receiver rx;
  config::Config config;
  config.channels = {webhook("ops", rx.url())};
  config.recovery_hold_s = 1800;
  // p1 recovers at 02:00, then flaps back to breached at 02:10; pci recovers at 02:00 and holds.
  store::EvaluationRecord r{"support", 3, "2026-10", "northwind", T("2026-10-20T02:00:00Z"), "d", "{}",
                            {{"kpi:p1", "met"}, {"standard:pci", "met"}}};
  store_->evaluations().save(r, T("2026-10-20T02:00:00Z"));
  Dispatcher d(config, *store_, clock_);
  clock_.set(T("2026-10-20T02:01:00Z"));
  d.run_once();  // the two breach events of SetUp go out; the recovery waits for its hold
  EXPECT_EQ(rx.count(), 2u);
  r.statuses = {{"kpi:p1", "breached"}, {"standard:pci", "met"}};
  store_->evaluations().save(r, T("2026-10-20T02:10:00Z"));
  clock_.set(T("2026-10-20T02:31:00Z"));
  auto s = d.run_once();
  EXPECT_EQ(s.skipped, 1);  // the recovery did not hold: never announced
  EXPECT_EQ(s.delivered, 1);  // the second breach is a new transition
  std::vector<std::string> types;
  for (const auto& req : rx.received()) types.push_back(json::parse(req.body)["type"].get<std::string>());
  EXPECT_EQ(std::count(types.begin(), types.end(), "pactwatch.kpi.recovered"), 0);

  // A breach still standing a day later is reminded of, once per interval.
  EXPECT_EQ(store_->outbox().write_reminders(T("2026-10-21T02:05:00Z"), std::chrono::hours(24)), 0);  // not a day yet
  EXPECT_EQ(store_->outbox().write_reminders(T("2026-10-21T02:11:00Z"), std::chrono::hours(24)), 1);
  EXPECT_EQ(store_->outbox().write_reminders(T("2026-10-21T03:00:00Z"), std::chrono::hours(24)), 0);  // written once
  EXPECT_EQ(store_->outbox().write_reminders(T("2026-10-22T02:11:00Z"), std::chrono::hours(24)), 1);
  clock_.set(T("2026-10-22T02:12:00Z"));
  EXPECT_EQ(d.run_once().delivered, 2);
  const auto last = json::parse(rx.received().back().body);
  EXPECT_EQ(last["type"], "pactwatch.kpi.breached");
  EXPECT_EQ(last["data"]["reminder"], 2);
}

TEST_F(DispatcherTest, RoutedByTheContractsNotifyBlockAndNeverToThePartnerOfADraft) {
  Receiver rx;
  const std::string body =
      "contract: support\nversion: 3\npartner: northwind\neffective: {from: 2026-01-01}\ncurrency: EUR\ncalendar: 24x7\n"
      "kpis:\n  - {id: p1, source: tickets, measure: {ratio: first_reply <= 1h}, objective: {target: \">= 90%\"}}\n"
      "brand_standards:\n  - {id: pci, source: tickets, each: 'reopens <= 2', severity: critical}\n"
      "notify:\n  brand: [standard.violated]\n  partner: [kpi.breached]\n";
  const auto hash = *rules::contract_hash(body, "c.yaml");
  auto enforced = rules::parse_contract(body + "approvals:\n  - {party: brand, by: b@brand.example, at: 2026-01-01T00:00:00Z, sha256: " +
                                            hash + "}\n  - {party: partner, by: p@nw.example, at: 2026-01-01T00:00:00Z, sha256: " + hash +
                                            "}\n",
                                        "c.yaml");
  ASSERT_TRUE(enforced) << enforced.error()[0].to_string();
  ASSERT_TRUE(enforced->enforced);
  auto set = std::make_shared<rules::RuleSet>();
  rules::PartnerDef nw;
  nw.id = "northwind";
  nw.contacts = {{"account-manager", "ops@northwind.example"}, {"finance", "billing@northwind.example"}};
  set->partners = {nw};
  set->contracts = {*enforced};
  config::Config config;
  config.channels = {webhook("brand-hook", rx.url())};
  Dispatcher d(config, *store_, clock_, [set] { return std::shared_ptr<const rules::RuleSet>(set); });
  auto s = d.run_once();
  EXPECT_EQ(s.delivered, 1);  // the contract sends only standard.violated to the brand
  EXPECT_EQ(s.skipped, 1);
  ASSERT_EQ(rx.count(), 1u);
  EXPECT_EQ(json::parse(rx.received()[0].body)["type"], "pactwatch.standard.violated");
  // A partner channel: only kpi.breached, and nothing at all once the contract is a draft.
  config::ChannelConfig partner;
  partner.name = "partner-mail";
  partner.type = "email";
  partner.audience = "partner";
  partner.url = "smtp://127.0.0.1:9";  // never reached in this test when not routed
  partner.from = "pactwatch@brand.example";
  auto draft = std::make_shared<rules::RuleSet>(*set);
  draft->contracts[0].enforced = false;
  config::Config pc;
  pc.channels = {partner};
  Dispatcher to_draft(pc, *store_, clock_, [draft] { return std::shared_ptr<const rules::RuleSet>(draft); });
  auto ds = to_draft.run_once();
  EXPECT_EQ(ds.skipped, 2);  // a draft never notifies the partner
  EXPECT_EQ(ds.delivered + ds.retried, 0);
}

}  // namespace
}  // namespace pactwatch::app
