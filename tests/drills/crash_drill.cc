// Crash-consistency drill: `pactwatch serve` polls a fake Freshdesk (tickets released over time,
// 5% of requests answered 503) and delivers to a fake webhook receiver (a fifth of the events
// answered 503 at first), and is
// killed with SIGKILL at seeded random moments: before it is up, mid-page, mid-evaluation,
// mid-delivery. Every few rounds a `period close` runs beside it and is killed too. After each
// kill: the source's cursor is never ahead of stored data. After the last restart and a quiet
// period: every record stored exactly once; every status change's event in the outbox and
// delivered at least once, with the same body on every attempt; closed statements unchanged
// and reproduced bit for bit from their inputs.
//
// PACTWATCH_DRILL_KILLS (default 50) and PACTWATCH_DRILL_SEED (default 1) set the run; `make
// drill` runs 500 kills per backend.
#include <httplib.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "pactwatch/core/clock.h"
#include "pactwatch/store/store.h"
#include "pg_server.h"
#include "process.h"
#include "temp_dir.h"

namespace pactwatch {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testutils::run;

const std::string kBinary = PACTWATCH_BINARY;
constexpr int kPartners = 12;
constexpr int kTickets = 480;
constexpr int kPerPage = 20;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

// YYYY-MM of the month `back` months before now's.
std::string month_before(core::Instant now, int back) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(now)};
  const auto m = std::chrono::year_month{ymd.year(), ymd.month()} - std::chrono::months(back);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u", static_cast<int>(m.year()), static_cast<unsigned>(m.month()));
  return buf;
}

struct Ticket {
  int id;
  int partner;
  std::string created, replied, updated;
};

// The fake help desk: Freshdesk's tickets endpoint over the tickets released so far.
class FakeDesk {
 public:
  FakeDesk(std::vector<Ticket> tickets, std::uint64_t seed) : tickets_(std::move(tickets)), rng_(seed) {
    server_.Get("/api/v2/tickets", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        if (std::uniform_int_distribution<int>(0, 99)(rng_) < 5) {
          res.status = 503;
          res.set_content("{\"message\": \"try again\"}", "application/json");
          return;
        }
      }
      const std::string since = req.get_param_value("updated_since");
      const int page = std::max(1, std::atoi(req.get_param_value("page").c_str()));
      const int per_page = std::max(1, std::atoi(req.get_param_value("per_page").c_str()));
      std::vector<const Ticket*> matching;
      for (int i = 0; i < released(); ++i) {
        if (tickets_[static_cast<std::size_t>(i)].updated >= since) matching.push_back(&tickets_[static_cast<std::size_t>(i)]);
      }
      json out = json::array();
      for (std::size_t i = static_cast<std::size_t>((page - 1) * per_page); i < matching.size() && out.size() < static_cast<std::size_t>(per_page); ++i) {
        const Ticket& t = *matching[i];
        out.push_back({{"id", t.id}, {"status", 4}, {"priority", 2}, {"company_id", 9000 + t.partner}, {"created_at", t.created},
                       {"updated_at", t.updated}, {"stats", {{"first_responded_at", t.replied}, {"resolved_at", t.updated}}}});
      }
      res.set_content(out.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeDesk() {
    server_.stop();
    thread_.join();
  }
  void release(int n) { released_ = std::min(n, static_cast<int>(tickets_.size())); }
  [[nodiscard]] int released() const { return released_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] const std::vector<Ticket>& tickets() const { return tickets_; }

 private:
  std::vector<Ticket> tickets_;
  std::atomic<int> released_{0};
  std::mutex mutex_;
  std::mt19937_64 rng_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// The fake receiver: every attempt recorded (id, body); a fifth of the events fail at first.
class Receiver {
 public:
  explicit Receiver(std::uint64_t seed) : rng_(seed) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      const std::string id = req.get_header_value("webhook-id");
      bodies_[id].insert(json::parse(req.body, nullptr, false).dump());
      ++attempts_;
      // A fifth of the events fail their first attempt (the retry comes 5 s later; a second
      // failure would wait 5 minutes, past the drill's quiet period).
      if (bodies_[id].size() == 1 && ++tries_[id] == 1 && std::uniform_int_distribution<int>(0, 99)(rng_) < 20) {
        res.status = 503;
        return;
      }
      delivered_.insert(id);
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] int port() const { return port_; }
  std::set<std::string> delivered() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  std::map<std::string, std::set<std::string>> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }
  int attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }

 private:
  std::mutex mutex_;
  std::mt19937_64 rng_;
  std::set<std::string> delivered_;
  std::map<std::string, std::set<std::string>> bodies_;
  std::map<std::string, int> tries_;
  int attempts_ = 0;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

class CrashDrill : public ::testing::TestWithParam<store::Backend> {};

TEST_P(CrashDrill, NothingLostNothingTwiceAfterRepeatedSigkills) {
  const int kills = env_int("PACTWATCH_DRILL_KILLS", 50);
  const auto seed = static_cast<std::uint64_t>(env_int("PACTWATCH_DRILL_SEED", 1));
  std::cerr << "crash drill on " << store::to_string(GetParam()) << ": " << kills << " kills, seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  const core::SystemClock clock;
  const std::string data_month = month_before(clock.now(), 1);  // the tickets' month
  const std::string close_month = month_before(clock.now(), 2);  // the month closed (no tickets: it stays put)

  testutils::TempDir dir;
  const std::string db_url = GetParam() == store::Backend::sqlite
                                 ? "sqlite://" + (dir.path() / "var/drill.db").string()
                                 : testutils::shared_postgres().create_database("crash_drill_" + std::to_string(seed));
  std::vector<Ticket> tickets;
  for (int i = 0; i < kTickets; ++i) {
    const auto created = *core::parse_rfc3339(data_month + "-01T00:00:00Z") + std::chrono::minutes(10 * i);
    // One reply in five is slow: partners' ratios move around the 90% target as tickets arrive.
    const bool slow = (i * 7 + i / kPartners) % 5 == 0;
    tickets.push_back({1000 + i, i % kPartners, core::format_rfc3339(created),
                       core::format_rfc3339(created + (slow ? std::chrono::minutes(180) : std::chrono::minutes(10))),
                       core::format_rfc3339(created + std::chrono::hours(4))});
  }
  FakeDesk desk(tickets, seed);
  Receiver rx(seed + 1);

  std::string partners = "partners:\n";
  for (int p = 0; p < kPartners; ++p) {
    partners += "  - {id: p" + std::to_string(p) + ", name: Partner " + std::to_string(p) +
                ", kind: outsourcer, external_ids: {desk: " + std::to_string(9000 + p) + "}}\n";
  }
  dir.write("rules/partners.yaml", partners);
  for (int p = 0; p < kPartners; ++p) {
    const std::string text = "contract: c" + std::to_string(p) + "\nversion: 1\npartner: p" + std::to_string(p) +
                             "\neffective: {from: 2020-01-01}\ncurrency: EUR\ncalendar: 24x7\n"
                             "kpis:\n  - {id: reply, source: tickets, measure: {ratio: first_reply <= 1h}, "
                             "objective: {target: \">= 90%\"}, min_sample: 1}\ncompensation:\n  base: {fixed: \"1000.00\"}\n";
    const auto file = dir.write("rules/contracts/c" + std::to_string(p) + ".yaml", text);
    const std::string hash = run({kBinary, "contract", "hash", file.string()}).out.substr(0, 64);
    dir.write("rules/contracts/c" + std::to_string(p) + ".yaml",
              text + "approvals:\n  - {party: brand, by: b@brand.example, at: 2020-01-01T00:00:00Z, sha256: " + hash +
                  "}\n  - {party: partner, by: p@p.example, at: 2020-01-01T00:00:00Z, sha256: " + hash + "}\n");
  }
  const auto key = dir.write("desk.key", "abc\n");
  const auto hook_secret = dir.write("hook.secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  const int port = testutils::free_port();
  const auto config = dir.write(
      "pactwatch.yaml",
      "listen: 127.0.0.1:" + std::to_string(port) + "\ndatabase:\n  url: " + db_url + "\nrules_dir: " + (dir.path() / "rules").string() +
          "\nsources:\n  desk:\n    kind: freshdesk\n    url: http://127.0.0.1:" + std::to_string(desk.port()) +
          "\n    auth: {type: api_key, secret_file: " + key.string() + "}\n    poll_interval: 1s\n    page_size: " +
          std::to_string(kPerPage) + "\n    since: 2000-01-01T00:00:00Z\n"
          "notify:\n  channels:\n    ops:\n      type: webhook\n      url: http://127.0.0.1:" + std::to_string(rx.port()) +
          "/hook\n      secret_file: " + hook_secret.string() + "\n"
          "cluster:\n  instance: drill\n  lease_ttl: 2s\nevaluation:\n  full_interval: 10s\n");

  // The cursor never runs ahead of the data: everything the cursor has moved past is stored.
  auto check_cursor = [&](const std::string& when) {
    auto s = store::Store::open({db_url, "", 1});
    ASSERT_TRUE(s) << s.error();
    if ((*s)->schema_status().current == 0) return;  // killed before migrating
    const auto cursor = (*s)->cursor("desk");
    if (!cursor) return;
    const json c = json::parse(*cursor, nullptr, false);
    ASSERT_TRUE(c.is_object()) << *cursor;
    const std::string since = c.value("since", std::string());
    const int page = c.value("page", 1);
    std::vector<const Ticket*> after;
    for (const auto& t : desk.tickets()) {
      if (t.updated < since) {
        EXPECT_TRUE((*s)->find_item("desk", std::to_string(t.id))) << when << ": ticket " << t.id << " is behind cursor " << *cursor;
      } else {
        after.push_back(&t);
      }
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>((page - 1) * kPerPage) && i < after.size(); ++i) {
      EXPECT_TRUE((*s)->find_item("desk", std::to_string(after[i]->id))) << when << ": ticket " << after[i]->id
                                                                         << " was on a page before cursor " << *cursor;
    }
  };

  const auto started = std::chrono::steady_clock::now();
  auto release = [&] {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    desk.release(40 + static_cast<int>(ms / 40));
  };
  std::map<std::string, std::string> first_closed;  // contract -> closed statement document
  int closes_killed = 0;
  for (int k = 0; k < kills; ++k) {
    release();
    testutils::Child serve({kBinary, "serve", "-c", config.string()});
    std::unique_ptr<testutils::Child> closer;
    if (k % 7 == 3) {
      closer = std::make_unique<testutils::Child>(
          std::vector<std::string>{kBinary, "period", "close", close_month, "--by", "drill", "-c", config.string()});
    }
    // Some kills land during start-up (migrations, the first heartbeat); most while it works.
    const int wait_ms = std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? std::uniform_int_distribution<int>(0, 150)(rng)
                                                                            : std::uniform_int_distribution<int>(200, 900)(rng);
    if (closer) {
      // The close is killed on its own clock: loading the rules, computing, or committing.
      const int close_ms = std::uniform_int_distribution<int>(20, 160)(rng);
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(close_ms, wait_ms)));
      closer->signal(SIGKILL);
      if (closer->wait(5s) == -1) ++closes_killed;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::max(0, wait_ms - close_ms)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    }
    serve.signal(SIGKILL);
    ASSERT_TRUE(serve.wait(5s).has_value());
    check_cursor("after kill " + std::to_string(k + 1));
    if (HasFatalFailure()) return;
  }

  // The last restart: everything released, then a quiet period until the work is done.
  desk.release(kTickets);
  testutils::Child serve({kBinary, "serve", "-c", config.string()});
  {
    // Up, and through at least one poll and one full evaluation, before the quiet period counts.
    httplib::Client c("127.0.0.1", port);
    bool live = false;
    for (int i = 0; i < 300 && !live; ++i) {
      auto r = c.Get("/livez");
      live = r && r->status == 200;
      if (!live) std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(live) << serve.err();
    std::this_thread::sleep_for(2500ms);
  }
  auto db = store::Store::open({db_url, "", 1});
  ASSERT_TRUE(db) << db.error();
  auto settled = [&] {
    if ((*db)->count_items(std::string("desk")) != kTickets) return false;
    const auto pending = (*db)->deliveries("pending");
    if (!pending.empty()) return false;
    const auto delivered = rx.delivered();
    for (const auto& e : (*db)->outbox_events(100000)) {
      if (!delivered.contains(e.id)) return false;
    }
    return true;
  };
  bool quiet = false;
  for (int i = 0; i < 1200 && !(quiet = settled()); ++i) std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(quiet) << serve.err();
  serve.signal(SIGTERM);
  const auto code = serve.wait(10s);
  EXPECT_EQ(code, 0) << serve.err().substr(serve.err().size() > 3000 ? serve.err().size() - 3000 : 0);
  check_cursor("at the end");

  // Every record exactly once.
  EXPECT_EQ((*db)->count_items(std::string("desk")), kTickets);
  for (const auto& t : desk.tickets()) EXPECT_TRUE((*db)->find_item("desk", std::to_string(t.id))) << t.id;
  // No event lost: each status change's event is in the outbox, and delivered at least once,
  // with one body on every attempt.
  std::set<std::string> outbox;
  for (const auto& e : (*db)->outbox_events(100000)) outbox.insert(e.id);
  int expected_events = 0;
  for (const auto& change : (*db)->status_changes()) {
    if (const auto e = store::event_for(change)) {
      ++expected_events;
      EXPECT_TRUE(outbox.contains(e->id)) << e->id;
    }
  }
  EXPECT_GT(expected_events, 0) << "the drill must produce notifications";
  const auto delivered = rx.delivered();
  const auto bodies = rx.bodies();
  for (const auto& id : outbox) {
    EXPECT_TRUE(delivered.contains(id)) << id;
    if (bodies.contains(id)) {
      EXPECT_EQ(bodies.at(id).size(), 1u) << id << ": different bodies across attempts";
    }
  }
  // Closed statements: closing again (after the killed attempts) closes what is left or
  // reproduces what is closed, bit for bit; a third run changes nothing.
  const auto closed = run({kBinary, "period", "close", close_month, "--by", "drill", "-c", config.string()});
  EXPECT_EQ(closed.exit_code, 0) << closed.out << closed.err;
  for (int p = 0; p < kPartners; ++p) {
    auto s = (*db)->closed_statement("c" + std::to_string(p), 1, close_month);
    ASSERT_TRUE(s) << "c" << p;
    first_closed["c" + std::to_string(p)] = s->document;
  }
  const auto again = run({kBinary, "period", "close", close_month, "--by", "drill", "-c", config.string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  std::size_t reproduced = 0;
  for (auto at = again.out.find("recomputed bit for bit"); at != std::string::npos; at = again.out.find("recomputed bit for bit", at + 1)) {
    ++reproduced;
  }
  EXPECT_EQ(reproduced, static_cast<std::size_t>(kPartners)) << again.out;
  for (const auto& [contract, document] : first_closed) EXPECT_EQ((*db)->closed_statement(contract, 1, close_month)->document, document);

  std::cerr << "crash drill on " << store::to_string(GetParam()) << ": " << kills << " kills survived (" << closes_killed
            << " period closes killed), " << kTickets << " records stored once, " << outbox.size() << " events delivered in "
            << rx.attempts() << " attempts, " << kPartners << " closed statements reproduced\n";
}

INSTANTIATE_TEST_SUITE_P(Backends, CrashDrill, ::testing::Values(store::Backend::sqlite, store::Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch
