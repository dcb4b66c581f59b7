// Every connector against an in-process fake of its vendor's API on loopback, serving fixtures in
// the vendor's wire format (tests/fixtures/<vendor>/) with its paging, and injecting faults: 429
// with and without Retry-After, 500, a response slower than the timeout, truncated JSON, an HTML
// error page, a repeated page, an empty last page, a token that expires mid-sync, 429 storms, and
// (through a proxy on raw sockets) connections reset before or during a reply and replies that
// never come. Each test checks exactly which items are stored and where the cursor stands.
#include <httplib.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "pactwatch/core/clock.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/net/http.h"
#include "pactwatch/sources/drop.h"
#include "pactwatch/sources/sync.h"
#include "fake_api.h"
#include "temp_dir.h"

namespace pactwatch::sources {
namespace {

using testutils::FakeApi;
using testutils::fixture;
using testutils::json_reply;
using testutils::Reply;

using nlohmann::json;
using namespace std::chrono_literals;
// The HTTP client's helpers live in net (shared with notify); these tests keep checking them here.
using net::HttpResponse;
using net::link_next;
using net::redact_url;
using net::retry_after;

// A TCP proxy in front of a FakeApi that breaks requests as scripted, by their order of arrival:
// the connection reset (RST) before any reply, reset halfway through the reply, or held open with
// no reply at all. Requests with no fault are relayed whole. One request at a time per connection
// (HTTP/1.1 keep-alive, as libcurl reuses connections).
class FlakyProxy {
 public:
  enum class Fault { none, reset_before_reply, reset_mid_reply, hang };

  FlakyProxy(int upstream_port, std::vector<Fault> script) : upstream_(upstream_port), script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 16) != 0) {
      throw std::runtime_error("proxy: cannot listen");
    }
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~FlakyProxy() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    accept_thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : connections_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  // Reads one HTTP message (headers and a Content-Length body) into `out`; false at EOF, on a
  // timeout or when the proxy stops.
  bool read_message(int fd, std::string& buffer, std::string& out) {
    for (;;) {
      if (const auto end = buffer.find("\r\n\r\n"); end != std::string::npos) {
        std::size_t length = 0;
        std::string head = buffer.substr(0, end);
        std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
        if (const auto cl = head.find("content-length:"); cl != std::string::npos) length = std::stoul(head.substr(cl + 15));
        if (buffer.size() >= end + 4 + length) {
          out = buffer.substr(0, end + 4 + length);
          buffer.erase(0, end + 4 + length);
          return true;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (stopping_ || ::poll(&p, 1, 100) < 0) return false;
      if (p.revents == 0) continue;
      char chunk[8192];
      const auto n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
  }
  static void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  static void reset(int fd) {
    linger l{1, 0};  // close with RST, not FIN
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
  }
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int client) {
    std::string from_client, from_upstream, request, reply;
    int upstream = -1;
    while (read_message(client, from_client, request)) {
      const auto n = static_cast<std::size_t>(requests_++);
      const Fault fault = n < script_.size() ? script_[n] : Fault::none;
      if (fault == Fault::reset_before_reply) break;
      if (fault == Fault::hang) {
        while (read_message(client, from_client, request)) {
        }
        ::close(client);
        if (upstream >= 0) ::close(upstream);
        return;
      }
      if (upstream < 0) {
        upstream = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(upstream_));
        if (::connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) break;
      }
      write_all(upstream, request);
      if (!read_message(upstream, from_upstream, reply)) break;
      if (fault == Fault::reset_mid_reply) {
        write_all(client, std::string_view(reply).substr(0, reply.size() / 2));
        break;
      }
      write_all(client, reply);
    }
    reset(client);
    if (upstream >= 0) ::close(upstream);
  }

  int upstream_;
  std::vector<Fault> script_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;
};

class ConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::open({"sqlite://" + (dir_.path() / "c.db").string(), "", 2});
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
    store_->migrate(clock_.now());
    rules::PartnerDef northwind;
    northwind.id = "northwind";
    northwind.external_ids = {{"desk", {"509974", "4100", "OPS", "31bea3d53790200044e0bfc8bcbe5dec", "001xx000003DGb2AAG", "hs-contoso"}}};
    partners_.push_back(northwind);
  }

  config::SourceConfig source(const std::string& kind, const std::string& url, const std::string& auth = "basic") {
    return testutils::fake_source(kind, url, auth);
  }

  SyncOptions options() {
    SyncOptions o;
    o.sleep = [this](std::chrono::milliseconds d) {
      slept_.push_back(d);
      clock_.set(clock_.now() + d);
    };
    o.read_secret = [](const config::SecretRef&, std::string_view) -> std::expected<std::string, std::string> { return "s3cret"; };
    o.jitter_seed = 7;
    return o;
  }

  SyncResult sync(const config::SourceConfig& s, SyncOptions o = {}) {
    if (!o.sleep) o = options();
    auto c = make_connector(s);
    EXPECT_TRUE(c);
    return sync_source(s, **c, *store_, partners_, clock_, o);
  }

  // The stored item with this id, of whatever kind (each fixture's ids are distinct across kinds).
  std::optional<store::Item> item(const std::string& id) {
    for (const char* kind : {"tickets", "deals", "surveys", "events"}) {
      if (auto i = store_->items().find("desk", kind, id)) return i;
    }
    return std::nullopt;
  }

  testutils::TempDir dir_;
  core::ManualClock clock_{*core::parse_rfc3339("2026-10-20T00:00:00Z")};
  std::unique_ptr<store::Store> store_;
  std::vector<rules::PartnerDef> partners_;
  std::vector<std::chrono::milliseconds> slept_;
};

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(in[k])); };
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int k = 18; k >= 0; k -= 6) out += t[(v >> k) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::unique_ptr<Connector> make_zendesk_events_only(const config::SourceConfig& s) {
  auto streams = make_streams(s);
  return std::move((*streams)[1]);
}

FakeApi::Handler zendesk_pages() {
  return [](const httplib::Request& req) {
    if (req.path == "/api/v2/users/me.json") return json_reply(fixture("zendesk/me.json"));
    if (req.has_param("start_time")) return json_reply(fixture("zendesk/export-1.json"));
    if (req.get_param_value("cursor") == "MTU3NjYxMzUzOS4wfHw0Njd8") return json_reply(fixture("zendesk/export-2.json"));
    return json_reply(fixture("zendesk/export-empty.json"));
  };
}

// The batched lookup of a page's stored versions answers as one find_item per item would, across
// sources and kinds, and page_changes built on it keeps exactly the items that change what is
// stored, over more items than one slice (2,000) holds.
TEST_F(ConnectorTest, APageIsLookedUpInBatchesAsItemByItem) {
  auto item = [&](const std::string& source, const std::string& kind, int id, int minute) {
    store::Item i;
    i.source = source;
    i.kind = kind;
    i.external_id = std::to_string(id);
    i.status = "open";
    i.created_at = clock_.now();
    i.updated_at = clock_.now() + std::chrono::minutes(minute);
    i.payload = "{}";
    return i;
  };
  std::vector<store::Item> stored;
  for (int k = 0; k < 4500; k += 2) stored.push_back(item("desk", "tickets", k, 10));
  stored.push_back(item("desk", "surveys", 3, 10));
  stored.push_back(item("crm", "tickets", 5, 10));
  store_->items().upsert(stored);

  std::vector<store::Item> page;
  for (int k = 0; k < 4500; ++k) page.push_back(item("desk", "tickets", k, k % 3 == 0 ? 10 : k % 3 == 1 ? 20 : 5));
  page.push_back(item("desk", "surveys", 3, 20));
  page.push_back(item("crm", "tickets", 5, 10));
  const auto found = stored_versions(*store_, page);
  ASSERT_EQ(found.size(), page.size());
  std::size_t changed = 0, previous = 0;
  for (std::size_t i = 0; i < page.size(); ++i) {
    const auto& p = page[i];
    const auto one = store_->items().find(p.source, p.kind, p.external_id);
    EXPECT_EQ(found[i], one) << p.source << "/" << p.kind << "/" << p.external_id;
    if (one && (*one == p || one->updated_at > p.updated_at)) continue;
    ++changed;
    if (one) ++previous;
  }
  const auto changes = page_changes(*store_, page);
  EXPECT_FALSE(changes.stopped);
  EXPECT_EQ(changes.changed.size(), changed);
  EXPECT_EQ(changes.previous.size(), previous);
  EXPECT_GT(changed, 2000u);

  std::atomic<bool> abort{true};
  const auto stopped = page_changes(*store_, page, &abort);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_TRUE(stopped.changed.empty());
}

TEST_F(ConnectorTest, ZendeskExportsTicketsWithMetricsPageByPage) {
  FakeApi api(zendesk_pages());
  auto s = source("zendesk", api.url(), "token");
  s.requests_per_minute = 0;  // the connector's default: 10 a minute
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pages, 2);
  EXPECT_EQ(r.records, 3);
  EXPECT_EQ(r.cursor, "MTU3NjYxMzYwMC4wfHw0Njh8");
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
  // Polite: the second request waited for the 10-a-minute budget.
  ASSERT_EQ(slept_.size(), 1u);
  EXPECT_EQ(slept_[0], 6000ms);
  const auto log = api.log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("start_time=1789862400"), std::string::npos) << log[0];  // 30 days before now
  EXPECT_NE(log[0].find("include=metric_sets"), std::string::npos);
  EXPECT_NE(log[1].find("cursor=MTU3NjYxMzUzOS4wfHw0Njd8"), std::string::npos);
  // {email}/token basic auth
  EXPECT_EQ(api.auth()[0], "Basic " + base64("ops@brand.example/token:s3cret"));

  auto t = item("35436");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->partner_id, "northwind");
  EXPECT_EQ(t->priority, "urgent");
  EXPECT_EQ(t->status, "solved");
  EXPECT_EQ(t->first_reply_at, *core::parse_rfc3339("2026-10-05T08:25:00Z"));  // 25 calendar minutes
  EXPECT_EQ(t->solved_at, *core::parse_rfc3339("2026-10-05T11:45:00Z"));
  const auto p = json::parse(t->payload);
  EXPECT_EQ(p["reopens"], 1);
  EXPECT_EQ(p["satisfaction"], "good");
  EXPECT_EQ(p["custom"]["27642"], "745");
  EXPECT_EQ(p["tags"], json({"enterprise", "other_tag"}));
  // An organization no partner claims: stored, counted, named.
  auto other = item("35437");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->partner_id);
  EXPECT_EQ(r.unattributed, 1);
  EXPECT_EQ(r.unattributed_ids, std::vector<std::string>{"35437"});

  // The next poll resumes from the stored cursor and finds nothing new; nothing is rewritten.
  auto again = sync(s);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.records, 0);
  EXPECT_NE(api.log().back().find("cursor=MTU3NjYxMzYwMC4wfHw0Njh8"), std::string::npos);
}

TEST_F(ConnectorTest, ZendeskStatusHistoryFromTicketEventsSurvivesTicketUpdates) {
  FakeApi api([](const httplib::Request& req) {
    if (req.path == "/api/v2/incremental/ticket_events.json") return json_reply(fixture("zendesk/ticket-events-1.json"));
    if (req.path == "/api/v2/satisfaction_ratings") return json_reply(fixture("zendesk/satisfaction-ratings-1.json"));
    return zendesk_pages()(req);
  });
  auto s = source("zendesk", api.url(), "token");
  auto streams = make_streams(s);
  ASSERT_TRUE(streams);
  ASSERT_EQ(streams->size(), 3u);  // tickets, ticket events, satisfaction ratings
  for (auto& c : *streams) {
    auto r = sync_source(s, *c, *store_, partners_, clock_, options());
    ASSERT_TRUE(r.ok) << r.error;
    if (c->history_only()) {
      EXPECT_EQ(r.records, 1);          // one stored ticket gained history
      EXPECT_EQ(r.history_skipped, 1);  // ticket 99999 is not this source's (yet)
    }
    if (c->kind() == "surveys") {
      EXPECT_EQ(r.records, 2);  // the offered-only rating is no answer
    }
  }
  bool asked_events = false;
  for (const auto& line : api.log()) asked_events |= line.find("/api/v2/incremental/ticket_events.json?start_time=1789862400") != std::string::npos;
  EXPECT_TRUE(asked_events);
  // CSAT answers are surveys, attributed through their ticket.
  auto good = item("62");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->kind, "surveys");
  EXPECT_EQ(good->partner_id, "northwind");
  EXPECT_EQ(json::parse(good->payload)["score"], "good");
  EXPECT_FALSE(item("63")->partner_id);  // its ticket belongs to no partner
  EXPECT_FALSE(item("64"));
  EXPECT_EQ(json::parse(*store_->sources().cursor("desk#satisfaction_ratings"))["since"],
            std::chrono::floor<std::chrono::seconds>(*core::parse_rfc3339("2026-10-05T13:05:00Z")).time_since_epoch().count());
  EXPECT_EQ(json::parse(*store_->sources().cursor("desk#ticket_events"))["start_time"], 1791280000);
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");  // each stream has its own cursor
  auto t = item("35436");
  ASSERT_TRUE(t);
  const auto history = json::parse(t->payload)["status_history"];
  ASSERT_EQ(history.size(), 3u);  // both child event shapes are read
  EXPECT_EQ(history[0], json({{"at", "2026-10-05T08:00:00Z"}, {"status", "new"}}));
  EXPECT_EQ(history[1]["status"], "open");
  EXPECT_EQ(history[2], json({{"at", "2026-10-05T11:45:00Z"}, {"status", "solved"}}));

  // A later export of the ticket, carrying no history, keeps the history stored.
  store_->sources().set_cursor("desk", "", clock_.now());
  std::string newer = fixture("zendesk/export-1.json");
  newer.replace(newer.find("\"updated_at\": \"2026-10-05T12:00:00Z\""), 36, "\"updated_at\": \"2026-10-06T12:00:00Z\"");
  api.fault(json_reply(newer));
  api.fault(json_reply(fixture("zendesk/export-2.json")));
  auto again = sync(s);
  ASSERT_TRUE(again.ok) << again.error;
  auto updated = item("35436");
  EXPECT_EQ(updated->updated_at, *core::parse_rfc3339("2026-10-06T12:00:00Z"));
  EXPECT_EQ(json::parse(updated->payload)["status_history"].size(), 3u);
  // Syncing the same events again adds nothing.
  auto events = make_zendesk_events_only(s);
  auto repeat = sync_source(s, *events, *store_, partners_, clock_, [this] {
    auto o = options();
    o.since = *core::parse_rfc3339("2026-10-01T00:00:00Z");
    return o;
  }());
  ASSERT_TRUE(repeat.ok) << repeat.error;
  EXPECT_EQ(repeat.written, 0);
}

// A page[after] cursor of the ratings that Zendesk no longer accepts restarts the window at its
// start (the list's order is not promised): every rating is stored, none skipped.
TEST_F(ConnectorTest, ZendeskRatingsRestartTheirWindowWhenACursorIsRefused) {
  std::string first = fixture("zendesk/satisfaction-ratings-1.json");
  first.replace(first.find("\"has_more\": false, \"after_cursor\": null"), 39, "\"has_more\": true, \"after_cursor\": \"xyz\"");
  int asked = 0;
  FakeApi api([&](const httplib::Request& req) {
    ++asked;
    if (req.has_param("page[after]")) return Reply{400, R"({"error":"InvalidPaginationParameter","description":"cursor expired"})", "application/json", {}, {}};
    return json_reply(asked == 1 ? first : fixture("zendesk/satisfaction-ratings-1.json"));
  });
  auto s = source("zendesk", api.url(), "token");
  auto streams = make_streams(s);
  ASSERT_TRUE(streams);
  auto& ratings = (*streams)[2];
  ASSERT_EQ(ratings->stream(), "satisfaction_ratings");
  auto r = sync_source(s, *ratings, *store_, partners_, clock_, options());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.restarts, 1);
  const auto log = api.log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_NE(log[2].find("start_time=1789862400"), std::string::npos) << log[2];  // the window's start again
  EXPECT_TRUE(item("62"));
  EXPECT_TRUE(item("63"));
}

TEST_F(ConnectorTest, RateLimitsAreHonouredWithOrWithoutRetryAfter) {
  FakeApi api(zendesk_pages());
  // A real Zendesk 429: lower-case header, plain-text body.
  api.fault({429, "Too many requests", "text/plain", {{"retry-after", "7"}}, {}});
  api.fault({429, "slow down", "text/plain", {}, {}});  // no Retry-After: backoff
  auto r = sync(source("zendesk", api.url(), "token"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.rate_limited, 2);
  ASSERT_GE(slept_.size(), 2u);
  EXPECT_EQ(slept_[0], 7000ms);
  EXPECT_GE(slept_[1], 1000ms);  // 2 s backoff, jittered into [1 s, 2 s]
  EXPECT_LE(slept_[1], 2000ms);
  EXPECT_EQ(r.records, 3);
}

TEST_F(ConnectorTest, RetryAfterAsAnHttpDate) {
  HttpResponse r;
  r.headers = {{"Retry-After", "Tue, 20 Oct 2026 00:00:30 GMT"}};
  EXPECT_EQ(retry_after(r, *core::parse_rfc3339("2026-10-20T00:00:00Z")), 30000ms);
  r.headers = {{"RETRY-AFTER", "120"}};
  EXPECT_EQ(retry_after(r, *core::parse_rfc3339("2026-10-20T00:00:00Z")), 120000ms);
  r.headers = {{"Retry-After", "soon"}};
  EXPECT_FALSE(retry_after(r, *core::parse_rfc3339("2026-10-20T00:00:00Z")));
}

TEST_F(ConnectorTest, ServerErrorsAndTimeoutsAreRetried) {
  FakeApi api(zendesk_pages());
  api.fault({500, "{\"error\":\"oops\"}", "application/json", {}, {}});
  api.fault({200, fixture("zendesk/export-1.json"), "application/json", {}, 3s});  // past the 1 s timeout
  auto s = source("zendesk", api.url(), "token");
  s.timeout_s = 1;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.retries, 2);
  EXPECT_EQ(r.records, 3);
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
}

TEST_F(ConnectorTest, ResetConnectionsAndSilentServersAreRetriedWithNothingLost) {
  FakeApi api(zendesk_pages());
  using F = FlakyProxy::Fault;
  // The first request reset at once; page one through; page two reset halfway through its reply,
  // then met with silence past the timeout, then through.
  FlakyProxy proxy(api.port(), {F::reset_before_reply, F::none, F::reset_mid_reply, F::hang});
  auto s = source("zendesk", proxy.url(), "token");
  s.timeout_s = 1;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.retries, 3);
  EXPECT_EQ(r.pages, 2);
  EXPECT_EQ(proxy.requests(), 5);
  EXPECT_EQ(api.log().size(), 3u);  // the proxy never passed on the first and the silent request
  EXPECT_EQ(store_->items().count("desk"), 3);
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
}

TEST_F(ConnectorTest, ResetsOutlastingTheRetriesStopTheSyncAtTheLastStoredPage) {
  FakeApi api(zendesk_pages());
  using F = FlakyProxy::Fault;
  FlakyProxy proxy(api.port(), {F::none, F::reset_mid_reply, F::reset_before_reply, F::reset_mid_reply, F::reset_before_reply});
  auto s = source("zendesk", proxy.url(), "token");
  auto r = sync(s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("transport on " + proxy.url() + "/api/v2/incremental/tickets/cursor.json"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("after 4 attempt(s); the cursor stays"), std::string::npos) << r.error;
  EXPECT_TRUE(item("35436"));  // page one is kept ...
  EXPECT_FALSE(item("35438"));  // ... and nothing of the page that never arrived whole
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzUzOS4wfHw0Njd8");
  // The next poll resumes at page two.
  auto again = sync(s);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.pages, 1);
  EXPECT_EQ(store_->items().count("desk"), 3);
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
}

TEST_F(ConnectorTest, A429StormIsWaitedOutPollAfterPollWithoutLosingThePlace) {
  FakeApi api(zendesk_pages());
  for (int i = 0; i < 10; ++i) api.fault({429, "Too many requests", "text/plain", {{"Retry-After", "2"}}, {}});
  auto s = source("zendesk", api.url(), "token");
  // Two polls meet nothing but 429s: each gives up after its retries, having waited as told.
  for (int poll = 0; poll < 2; ++poll) {
    auto r = sync(s);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.rate_limited, 4);
    EXPECT_TRUE(r.error.starts_with("rate limited on " + api.url() + "/api/v2/incremental/tickets/cursor.json?")) << r.error;
    EXPECT_NE(r.error.find("(HTTP 429) after 4 attempt(s); the cursor stays"), std::string::npos) << r.error;
    EXPECT_FALSE(store_->sources().cursor("desk"));
  }
  ASSERT_EQ(slept_.size(), 6u);
  for (const auto d : slept_) EXPECT_EQ(d, 2000ms);  // never sooner than Retry-After
  // The third poll outlasts the storm's last two answers and completes.
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.rate_limited, 2);
  EXPECT_EQ(api.log().size(), 12u);  // 4 + 4 + 2 refused, then the two pages
  EXPECT_EQ(store_->items().count("desk"), 3);
}

TEST_F(ConnectorTest, APageThatChangesShapeMidRunStopsTheSyncWithTheFieldNamed) {
  FakeApi api(zendesk_pages());
  auto s = source("zendesk", api.url(), "token");
  const std::string page2 = fixture("zendesk/export-2.json");
  // The vendor renames the list mid-run; then types a field differently; then reverts.
  std::string renamed = page2;
  renamed.replace(renamed.find("\"tickets\""), 9, "\"results\"");
  std::string retyped = page2;
  retyped.replace(retyped.find("\"created_at\": \"2026-10-06T10:00:00Z\""), 36, "\"created_at\": 1791280800");
  api.fault(json_reply(fixture("zendesk/export-1.json")));
  api.fault(json_reply(renamed));
  auto r = sync(s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("malformed page"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("tickets"), std::string::npos) << r.error;
  EXPECT_TRUE(item("35436"));
  EXPECT_FALSE(item("35438"));
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzUzOS4wfHw0Njd8");

  api.fault(json_reply(retyped));
  auto typed = sync(s);
  EXPECT_FALSE(typed.ok);
  EXPECT_NE(typed.error.find("record 35438: created_at is 1791280800, not a date-time this source sends"), std::string::npos)
      << typed.error;
  EXPECT_FALSE(item("35438"));
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzUzOS4wfHw0Njd8");

  auto ok = sync(s);
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(store_->items().count("desk"), 3);
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
}

TEST_F(ConnectorTest, AMalformedPageStoresNothingAndKeepsTheCursor) {
  FakeApi api(zendesk_pages());
  auto s = source("zendesk", api.url(), "token");
  // First page fine, second truncated mid-JSON.
  std::string truncated = fixture("zendesk/export-2.json");
  truncated.resize(truncated.size() / 2);
  api.fault(json_reply(fixture("zendesk/export-1.json")));
  api.fault(json_reply(truncated));
  auto r = sync(s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("malformed page from " + api.url() + "/api/v2/incremental/tickets/cursor.json"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("not valid JSON"), std::string::npos) << r.error;
  EXPECT_TRUE(item("35436"));      // page one is stored ...
  EXPECT_FALSE(item("35438"));     // ... nothing of page two
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzUzOS4wfHw0Njd8");  // the cursor stands after page one

  // An HTML error page answered with 200 (a proxy, a maintenance page) is not data either.
  api.fault({200, "<html><body>Service Unavailable</body></html>", "text/html", {}, {}});
  auto html = sync(s);
  EXPECT_FALSE(html.ok);
  EXPECT_NE(html.error.find("expected JSON, got text/html"), std::string::npos) << html.error;
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzUzOS4wfHw0Njd8");

  // Then the source recovers and the sync completes from where it stood.
  auto ok = sync(s);
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_TRUE(item("35438"));
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
}

TEST_F(ConnectorTest, ARepeatedPageAndAnEmptyLastPageAreHarmless) {
  FakeApi api(zendesk_pages());
  api.fault(json_reply(fixture("zendesk/export-1.json")));
  api.fault(json_reply(fixture("zendesk/export-1.json")));  // the same page again (a retried proxy)
  std::string not_last = fixture("zendesk/export-2.json");
  not_last.replace(not_last.find("\"end_of_stream\": true"), 21, "\"end_of_stream\": false");
  api.fault(json_reply(not_last));
  api.fault(json_reply(fixture("zendesk/export-empty.json")));  // an empty last page
  auto r = sync(source("zendesk", api.url(), "token"));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pages, 4);
  EXPECT_EQ(store_->items().count("desk"), 3);  // no duplicates
  EXPECT_EQ(r.written, 3);                    // the repeat wrote nothing
  EXPECT_EQ(store_->sources().cursor("desk"), "MTU3NjYxMzYwMC4wfHw0Njh8");
  // A source that keeps answering with the same page is stopped, not followed forever.
  for (int i = 0; i < 5; ++i) api.fault(json_reply(not_last));
  auto stuck = sync(source("zendesk", api.url(), "token"));
  EXPECT_FALSE(stuck.ok);
  EXPECT_NE(stuck.error.find("the same page"), std::string::npos) << stuck.error;
}

TEST_F(ConnectorTest, AuthenticationFailuresAreNotRetried) {
  FakeApi api(zendesk_pages());
  api.fault({401, "{\"error\":\"Couldn't authenticate you\"}", "application/json", {}, {}});
  auto r = sync(source("zendesk", api.url(), "token"));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("authentication failed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("sources.desk.auth"), std::string::npos);
  EXPECT_EQ(api.log().size(), 1u);
  EXPECT_FALSE(store_->sources().cursor("desk"));
}

TEST_F(ConnectorTest, FreshdeskPagesByLinkHeaderOverABareArray) {
  FakeApi api([](const httplib::Request& req) {
    if (req.get_param_value("updated_since") == "2026-09-20T00:00:00Z") {
      Reply r = json_reply(fixture("freshdesk/tickets-1.json"));
      r.headers = {{"Link", "<https://acme.freshdesk.com/api/v2/tickets?page=2>; rel=\"next\""}};
      return r;
    }
    return json_reply(fixture("freshdesk/tickets-2.json"));
  });
  auto s = source("freshdesk", api.url(), "api_key");
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.records, 3);
  EXPECT_EQ(api.auth()[0], "Basic " + base64("s3cret:X"));
  EXPECT_NE(api.log()[0].find("updated_since=2026-09-20T00:00:00Z"), std::string::npos) << api.log()[0];
  EXPECT_NE(api.log()[0].find("include=stats"), std::string::npos);
  // The next page starts again at the newest update stored, not at page 2.
  EXPECT_NE(api.log()[1].find("page=1"), std::string::npos) << api.log()[1];
  EXPECT_NE(api.log()[1].find("updated_since=2026-10-05T11:00:00Z"), std::string::npos) << api.log()[1];
  auto t = item("1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->status, "solved");    // 4 Resolved
  EXPECT_EQ(t->priority, "urgent");  // 4 Urgent
  EXPECT_EQ(t->partner_id, "northwind");
  EXPECT_EQ(t->first_reply_at, *core::parse_rfc3339("2026-10-05T08:40:00Z"));
  EXPECT_EQ(json::parse(t->payload)["custom"]["region"], "emea");
  EXPECT_EQ(item("2")->status, "pending");
  // The next poll starts at the newest update seen.
  EXPECT_EQ(json::parse(*store_->sources().cursor("desk"))["since"], "2026-10-06T12:00:00Z");
}

TEST_F(ConnectorTest, JiraFollowsNextPageTokenAndStopsWhenItIsMissing) {
  FakeApi api([](const httplib::Request& req) {
    if (req.has_param("nextPageToken")) return json_reply(fixture("jira/search-2.json"));
    return json_reply(fixture("jira/search-1.json"));
  });
  auto s = source("jira", api.url());
  s.options = {{"jql", "project in (OPS, CS)"}, {"sla_fields", "customfield_10030"}, {"timezone", "UTC"}};
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.pages, 2);  // search-2.json has no nextPageToken at all
  const auto log = api.log();
  EXPECT_NE(log[0].find("jql=(project in (OPS, CS)) AND updated >= \"2026-09-19 23:59\" ORDER BY updated ASC"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find("nextPageToken=CAEaAggD"), std::string::npos);
  auto ops = item("OPS-7");
  ASSERT_TRUE(ops);
  EXPECT_EQ(ops->created_at, *core::parse_rfc3339("2026-10-05T08:00:00Z"));  // +0200 offset without a colon
  EXPECT_EQ(ops->solved_at, *core::parse_rfc3339("2026-10-05T12:30:00Z"));
  EXPECT_EQ(ops->status, "solved");
  EXPECT_EQ(ops->priority, "urgent");
  EXPECT_EQ(ops->partner_id, "northwind");  // project key OPS
  const auto p = json::parse(ops->payload);
  ASSERT_EQ(p["status_history"].size(), 2u);
  EXPECT_EQ(p["status_history"][0]["status"], "in progress");
  EXPECT_EQ(p["custom"]["customfield_10030_elapsed_ms"], 16200000);
  auto cs = item("CS-3");
  ASSERT_TRUE(cs);
  EXPECT_EQ(json::parse(cs->payload)["custom"]["customfield_10030_breached"], "true");
  EXPECT_FALSE(cs->partner_id);
  EXPECT_EQ(json::parse(*store_->sources().cursor("desk"))["since"], core::to_unix_ms(*core::parse_rfc3339("2026-10-06T09:20:00Z")));
}

TEST_F(ConnectorTest, ServiceNowPagesAfterTheLastRecordWithSingleQuotedLinks) {
  FakeApi api([](const httplib::Request& req) {
    if (req.get_param_value("sysparm_query").find("^NQ") == std::string::npos) {
      Reply r = json_reply(fixture("servicenow/incident-1.json"));
      r.headers = {{"Link", "<https://x/api/now/table/incident?sysparm_offset=-1>;rel='prev',<https://x/api/now/table/incident?sysparm_offset=2>;rel='next'"},
                   {"X-Total-Count", "3"}};
      return r;
    }
    return json_reply(fixture("servicenow/incident-2.json"));
  });
  auto s = source("servicenow", api.url());
  s.page_size = 2;
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.records, 3);
  EXPECT_NE(api.log()[0].find("sysparm_query=sys_updated_on>=2026-09-20 00:00:00^ORDERBYsys_updated_on^ORDERBYsys_id"), std::string::npos)
      << api.log()[0];
  // The second page follows the last record stored (its update second and sys_id), not an offset.
  EXPECT_NE(api.log()[1].find("sysparm_query=sys_updated_on>2026-10-05 11:00:00^NQsys_updated_on=2026-10-05 11:00:00"
                              "^sys_id>e8caedcbc0a80164017df472f39eaed1^ORDERBYsys_updated_on^ORDERBYsys_id"),
            std::string::npos)
      << api.log()[1];
  EXPECT_NE(api.log()[1].find("sysparm_offset=0"), std::string::npos);
  auto i1 = item("INC0000001");
  ASSERT_TRUE(i1);
  EXPECT_EQ(i1->priority, "urgent");
  EXPECT_EQ(i1->status, "solved");
  EXPECT_EQ(i1->solved_at, *core::parse_rfc3339("2026-10-05T10:00:00Z"));
  EXPECT_EQ(i1->partner_id, "northwind");
  EXPECT_EQ(item("INC0000002")->status, "hold");
  EXPECT_EQ(item("INC0000003")->partner_id, "northwind");  // a reference link object
  EXPECT_EQ(json::parse(*store_->sources().cursor("desk"))["since"], "2026-10-06 09:30:00");
}

TEST_F(ConnectorTest, ServiceNowTaskSlaBecomesSlaEvents) {
  FakeApi api([](const httplib::Request&) { return json_reply(fixture("servicenow/task_sla-1.json")); });
  auto s = source("servicenow", api.url());
  s.options = {{"table", "task_sla"}};
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.records, 2);
  EXPECT_NE(api.log()[0].find("/api/now/table/task_sla"), std::string::npos);
  EXPECT_NE(api.log()[0].find("task.company"), std::string::npos);
  auto met = item("f4c0b1ef1b2d7010a1b2c3d4e5f60789");
  ASSERT_TRUE(met);
  EXPECT_EQ(met->kind, "events");
  EXPECT_EQ(met->partner_id, "northwind");  // through the task's company
  EXPECT_EQ(met->created_at, *core::parse_rfc3339("2026-10-05T08:00:00Z"));
  auto p = json::parse(met->payload);
  EXPECT_EQ(p["duration_seconds"], 7200);
  EXPECT_EQ(p["late"], false);
  EXPECT_EQ(p["custom"]["task"], "INC0000001");
  auto breached = json::parse(item("a1b2c3d4e5f60718293a4b5c6d7e8f90")->payload);
  EXPECT_EQ(breached["duration_seconds"], 97200);  // a day and three hours: the day rolls into the date
  EXPECT_EQ(breached["late"], true);
}

TEST_F(ConnectorTest, SalesforceRefreshesAnExpiredTokenAndTreatsRequestLimitAsARateLimit) {
  std::string base;
  int tokens = 0, queries = 0;
  bool expired = false;
  // The first query meets the org's API limit (403 REQUEST_LIMIT_EXCEEDED); the session then
  // expires before the second page (401 INVALID_SESSION_ID).
  FakeApi api2([&](const httplib::Request& req) {
    if (req.path == "/services/oauth2/token") {
      ++tokens;
      std::string t = fixture("salesforce/token.json");
      t.replace(t.find("INSTANCE_URL"), 12, base);
      return json_reply(t);
    }
    if (++queries == 1) return Reply{403, fixture("salesforce/limit-exceeded.json"), "application/json", {}, {}};
    if (req.path == "/services/data/v60.0/query/01gRO0000016PIAYA2-2") {
      if (!expired) {
        expired = true;
        return Reply{401, fixture("salesforce/invalid-session.json"), "application/json", {}, {}};
      }
      return json_reply(fixture("salesforce/query-2.json"));
    }
    return json_reply(fixture("salesforce/query-1.json"));
  });
  base = api2.url();
  auto s = source("salesforce", api2.url(), "oauth");
  s.user = "3MVG9client";
  s.options = {{"currency", "EUR"}};
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(tokens, 2);        // one at the start, one after the session expired
  EXPECT_EQ(r.rate_limited, 1);  // 403 REQUEST_LIMIT_EXCEEDED
  EXPECT_EQ(r.records, 3);
  const auto bodies = api2.bodies();
  EXPECT_NE(bodies[0].find("grant_type=client_credentials"), std::string::npos) << bodies[0];
  EXPECT_NE(bodies[0].find("client_id=3MVG9client"), std::string::npos);
  EXPECT_NE(api2.log()[1].find("SystemModstamp >= 2026-09-20T00:00:00Z"), std::string::npos) << api2.log()[1];
  EXPECT_EQ(api2.auth()[1], "Bearer 00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog");
  auto won = item("006xx0000012345AAA");
  ASSERT_TRUE(won);
  EXPECT_EQ(won->amount_minor, 1500000);
  EXPECT_EQ(won->currency, "EUR");
  EXPECT_EQ(won->partner_id, "northwind");
  const auto p = json::parse(won->payload);
  EXPECT_EQ(p["closed_at"], "2026-10-14T00:00:00Z");
  EXPECT_EQ(p["won"], true);
  EXPECT_EQ(item("006xx0000012346AAA")->amount_minor, 123450);  // 1234.5 -> 1234.50
  EXPECT_EQ(json::parse(*store_->sources().cursor("desk"))["since"], "2026-10-16T09:00:00Z");
}

TEST_F(ConnectorTest, HubSpotSearchesDealsWithStringPropertiesAndRateLimits) {
  FakeApi api([](const httplib::Request& req) {
    const auto body = json::parse(req.body, nullptr, false);
    if (body.is_object() && body.dump().find("hs_object_id") != std::string::npos &&
        body["filterGroups"][0]["filters"].size() == 3) {
      return json_reply(fixture("hubspot/search-2.json"));  // after the last id stored
    }
    return json_reply(fixture("hubspot/search-1.json"));
  });
  api.fault({429, fixture("hubspot/rate-limit.json"), "application/json", {}, {}});
  auto s = source("hubspot", api.url(), "bearer");
  s.options = {{"currency", "EUR"}};
  auto r = sync(s);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.rate_limited, 1);
  EXPECT_EQ(r.records, 3);
  EXPECT_EQ(api.auth()[0], "Bearer s3cret");
  const auto first = json::parse(api.bodies()[1]);
  EXPECT_EQ(first["filterGroups"][0]["filters"][0]["value"], std::to_string(core::to_unix_ms(*core::parse_rfc3339("2026-09-20T00:00:00Z"))));
  // The window closes at the first request (now) and is read by id: the next page starts after
  // the last id stored, never at an `after` offset.
  EXPECT_EQ(first["filterGroups"][0]["filters"][1],
            json({{"propertyName", "hs_lastmodifieddate"}, {"operator", "LTE"}, {"value", std::to_string(core::to_unix_ms(*core::parse_rfc3339("2026-10-20T00:00:00Z")))}}));
  EXPECT_EQ(first["sorts"][0]["propertyName"], "hs_object_id");
  const auto second = json::parse(api.bodies()[2]);
  EXPECT_FALSE(second.contains("after"));
  EXPECT_EQ(second["filterGroups"][0]["filters"][2], json({{"propertyName", "hs_object_id"}, {"operator", "GT"}, {"value", "513"}}));
  auto won = item("512");
  ASSERT_TRUE(won);
  EXPECT_EQ(won->amount_minor, 1500000);
  EXPECT_EQ(won->partner_id, "northwind");
  EXPECT_EQ(won->created_at, core::from_unix_ms(1788220800000));  // epoch milliseconds in a string
  EXPECT_EQ(json::parse(won->payload)["won"], true);
  EXPECT_EQ(item("513")->amount_minor, 9995);
  auto lost = item("514");
  ASSERT_TRUE(lost);
  EXPECT_FALSE(lost->amount_minor);  // an empty amount is no amount
  EXPECT_EQ(json::parse(lost->payload)["closed_at"], "2026-10-16T00:00:00Z");
}

TEST_F(ConnectorTest, DropDirectoryImportsWholeFilesAndSetsBadOnesAside) {
  const auto drop = dir_.path() / "inbox";
  std::filesystem::create_directories(drop);
  dir_.write("inbox/2026-10-05.ndjson",
             "{\"id\": \"t1\", \"account\": \"509974\", \"created_at\": \"2026-10-05T08:00:00Z\", \"priority\": \"urgent\"}\n"
             "{\"id\": \"t2\", \"created_at\": \"2026-10-05T09:00:00Z\"}\n");
  dir_.write("inbox/2026-10-06.csv", "id,created_at\nt3,2026-10-06T08:00:00Z\nt4,not a time\n");
  dir_.write("inbox/.2026-10-07.ndjson", "{\"id\": \"t5\", \"created_at\": \"2026-10-07T08:00:00Z\"}\n");  // still being written
  config::SourceConfig s;
  s.name = "desk";
  s.kind = "file";
  s.path = drop.string();
  s.items = "tickets";
  auto r = sync_drop_directory(s, *store_, partners_, clock_, true);
  EXPECT_FALSE(r.ok);  // one file was bad
  EXPECT_NE(r.error.find("2026-10-06.csv: 1 bad line(s), moved to failed/"), std::string::npos) << r.error;
  EXPECT_EQ(r.pages, 1);
  EXPECT_EQ(r.records, 2);
  EXPECT_EQ(r.changed.size(), 2u);
  EXPECT_EQ(item("t1")->partner_id, "northwind");
  EXPECT_TRUE(item("t2"));
  EXPECT_FALSE(item("t3"));  // nothing of a bad file is stored
  EXPECT_FALSE(item("t5"));
  EXPECT_TRUE(std::filesystem::exists(drop / "done/2026-10-05.ndjson"));
  EXPECT_TRUE(std::filesystem::exists(drop / "failed/2026-10-06.csv"));
  const auto reason = testutils::read_file(drop / "failed/2026-10-06.csv.reason");
  EXPECT_NE(reason.find("2026-10-06.csv:3: created_at:"), std::string::npos) << reason;
  EXPECT_TRUE(std::filesystem::exists(drop / ".2026-10-07.ndjson"));
  EXPECT_EQ(store_->sources().cursor("desk"), "2026-10-05.ndjson");
  // Nothing new: nothing happens.
  auto again = sync_drop_directory(s, *store_, partners_, clock_);
  EXPECT_TRUE(again.ok) << again.error;
  EXPECT_EQ(again.pages, 0);
}

TEST(HubSpotWindow, ReadsAWindowByIdAndStartsTheNextJustBeforeItsEnd) {
  config::SourceConfig s;
  s.name = "hs";
  s.kind = "hubspot";
  s.url = "https://api.hubapi.com";
  s.page_size = 200;
  s.options = {{"currency", "EUR"}};
  auto c = make_connector(s);
  ASSERT_TRUE(c);
  const auto now = *core::parse_rfc3339("2026-10-20T00:00:00Z");
  // A window gets its end at its first request; a cursor of an earlier pactwatch (paged by
  // `after`) restarts its window from its start.
  EXPECT_EQ(json::parse((*c)->begin(R"({"since":1788000000000})", now)),
            json({{"since", 1788000000000LL}, {"until", core::to_unix_ms(now)}}));
  EXPECT_EQ(json::parse((*c)->begin(R"({"since":1788000000000,"after":"9900","seen":9900,"hwm":1790000000000})", now)),
            json({{"since", 1788000000000LL}}));
  HttpResponse page;
  page.status = 200;
  page.headers = {{"Content-Type", "application/json"}};
  page.body = fixture("hubspot/search-1.json");
  const std::string open = R"({"since":1788000000000,"until":1792454400000})";
  auto p = (*c)->parse(page, open);
  ASSERT_TRUE(p) << p.error();
  EXPECT_FALSE(p->done);
  EXPECT_EQ(json::parse(p->next_cursor), json({{"since", 1788000000000LL}, {"until", 1792454400000LL}, {"after_id", "513"}}));
  // The window's last page: the next window starts five minutes before this one's end.
  page.body = fixture("hubspot/search-2.json");
  p = (*c)->parse(page, R"({"since":1788000000000,"until":1792454400000,"after_id":"513"})");
  ASSERT_TRUE(p) << p.error();
  EXPECT_TRUE(p->done);
  EXPECT_EQ(json::parse(p->next_cursor), json({{"since", 1792454400000LL - 300000}}));
}

TEST(Wire, InstantsInEveryVendorForm) {
  auto T = [](const char* s) { return *core::parse_rfc3339(s); };
  EXPECT_EQ(wire::instant("2026-07-10T09:00:00.000+0000"), T("2026-07-10T09:00:00Z"));
  EXPECT_EQ(wire::instant("2026-07-10T11:00:00.000+0200"), T("2026-07-10T09:00:00Z"));
  EXPECT_EQ(wire::instant("2026-07-10 09:00:00"), T("2026-07-10T09:00:00Z"));
  EXPECT_EQ(wire::instant("1783674000000"), T("2026-07-10T09:00:00Z"));
  EXPECT_EQ(wire::instant("2026-07-10"), T("2026-07-10T00:00:00Z"));
  EXPECT_EQ(wire::instant(json(1783674000000LL)), T("2026-07-10T09:00:00Z"));
  EXPECT_FALSE(wire::instant("yesterday"));
  EXPECT_FALSE(wire::instant(json()));
  EXPECT_FALSE(wire::instant("99999999999999999999"));
}

TEST(Http, LinkHeadersAndRedaction) {
  EXPECT_EQ(link_next("<https://a/x?page=2>; rel=\"next\""), "https://a/x?page=2");
  EXPECT_EQ(link_next("<https://a/p>;rel='prev',<https://a/n>;rel='next'"), "https://a/n");
  EXPECT_FALSE(link_next("<https://a/p>; rel=\"prev\""));
  EXPECT_EQ(redact_url("https://user:pw@acme.example/api?a=1&access_token=abc&b=2"),
            "https://REDACTED@acme.example/api?a=1&access_token=REDACTED&b=2");
  EXPECT_EQ(redact_url("https://acme.example/api?hapikey=xyz"), "https://acme.example/api?hapikey=REDACTED");
}

}  // namespace
}  // namespace pactwatch::sources
