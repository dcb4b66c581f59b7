// Crash-consistency drill: `pactwatch serve` polls a fake Freshdesk (tickets released over time,
// 5% of requests answered 503) and delivers to a fake webhook receiver (a fifth of the events
// answered 503 at first), and is killed with SIGKILL: half the time at seeded random moments
// (before it is up, mid-page, mid-evaluation, mid-delivery), half the time aimed, on the debug log
// line it writes just before storing a page, storing evaluations or sending a notification.
// Every few rounds a `period close` runs beside it and is killed too. After each
// kill: the source's cursor is never ahead of stored data. After the last restart and a quiet
// period: every record stored exactly once; every status change's event in the outbox and
// delivered at least once, with the same body on every attempt; closed statements unchanged
// and reproduced bit for bit from their inputs.
//
// PACTWATCH_DRILL_KILLS (default 50) and PACTWATCH_DRILL_SEED (default 1) set the run; `make
// drill` runs 500 kills per backend.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "pactwatch/core/clock.h"
#include "pactwatch/store/store.h"
#include "drill_world.h"
#include "pg_server.h"
#include "process.h"
#include "temp_dir.h"
#include "wait.h"
#include "work_log.h"

namespace pactwatch::drills {
namespace {

using namespace std::chrono_literals;
using testutils::run;

const std::string kBinary = PACTWATCH_BINARY;
constexpr int kPartners = 12;
constexpr int kTickets = 480;
constexpr int kPerPage = 20;

class CrashDrill : public ::testing::TestWithParam<store::Backend> {};

TEST_P(CrashDrill, NothingLostNothingTwiceAfterRepeatedSigkills) {
  const int kills = env_int("PACTWATCH_DRILL_KILLS", 50);
  const auto seed = static_cast<std::uint64_t>(env_int("PACTWATCH_DRILL_SEED", 1));
  std::cerr << "crash drill on " << store::to_string(GetParam()) << ": " << kills << " kills, seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  const core::SystemClock clock;
  const std::string data_month = month_before(clock.now(), 1);  // the tickets' month
  // The months closed (no tickets: they stay put), oldest first. Periods close in order: each
  // aimed close takes the next month not closed yet (so there is a commit to aim at); the others
  // close the first month or re-run the last one closed (which verifies it).
  const int aimed_closes = (kills + 10) / 14;
  std::vector<std::string> months;
  for (int back = 2 + aimed_closes; back >= 2; --back) months.push_back(month_before(clock.now(), back));

  testutils::TempDir dir;
  const std::string db_url = GetParam() == store::Backend::sqlite
                                 ? "sqlite://" + (dir.path() / "var/drill.db").string()
                                 : testutils::shared_postgres().create_database("crash_drill_" + std::to_string(seed));
  FakeDesk desk(make_tickets(kTickets, kPartners, data_month), seed);
  Receiver rx(seed + 1);
  const World world = write_world(dir, kBinary, db_url, kPartners, kPerPage, desk.port(), rx.port());
  const auto& config = world.config;
  const int port = world.port;

  auto check_cursor = [&](const std::string& when) {
    auto s = store::Store::open({db_url, "", 1});
    ASSERT_TRUE(s) << s.error();
    if ((*s)->schema_status().current == 0) return;  // killed before migrating
    expect_cursor_behind_data(**s, desk.tickets(), kPerPage, when);
  };

  // A restarted daemon sends what is pending within a second or two.
  auto pending_deliveries = [&] {
    auto s = store::Store::open({db_url, "", 1});
    return s && (*s)->schema_status().current > 0 && !(*s)->outbox().deliveries("pending").empty();
  };

  const auto started = std::chrono::steady_clock::now();
  auto release = [&] {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    desk.release(40 + static_cast<int>(ms / 40));
  };
  int closes_killed = 0;
  int kills_mid_send = 0;  // the receiver was answering a delivery as the kill came
  // Half the kills are aimed: the daemon logs (at debug level) just before it stores a page with
  // its cursor, stores evaluations or sends a notification, and the kill follows that line within
  // a millisecond or two, inside the write or the send. The others land at random moments.
  struct Aim {
    const char* what;
    const char* line;
    int tried = 0, hit = 0;
  };
  std::vector<Aim> aims = {{"a page's upsert", "storing a page of", 0, 0},
                           {"an evaluation's save", "evaluation: storing", 0, 0},
                           {"a notification send", "notifications: sending", 0, 0}};
  Aim close_aim{"a period close's commit", "period close: storing", 0, 0};
  std::set<std::string> close_months;  // every month a close was started for
  // How many of `months` are closed (all partners close together, or none).
  auto months_closed = [&] {
    auto s = store::Store::open({db_url, "", 1});
    if (!s || (*s)->schema_status().current == 0) return std::size_t{0};
    std::size_t n = 0;
    while (n < months.size() && (*s)->statements().find("c0", 1, months[n])) ++n;
    return n;
  };
  for (int k = 0; k < kills; ++k) {
    release();
    testutils::Child serve({kBinary, "serve", "-c", config.string(), "--log-level", "debug"});
    std::unique_ptr<testutils::Child> closer;
    // Every other close is aimed at its commit, each at a month of its own (one not closed yet,
    // so there is a commit to aim at); the others all close the same month.
    const bool aimed_close = k % 14 == 3;
    if (k % 7 == 3) {
      const std::size_t closed = months_closed();
      const std::string month = aimed_close ? months[std::min(closed, months.size() - 1)] : months[closed > 0 ? closed - 1 : 0];
      close_months.insert(month);
      closer = std::make_unique<testutils::Child>(std::vector<std::string>{kBinary, "period", "close", month, "--by", "drill", "-c",
                                                                           config.string(), "--log-level", "debug"});
    }
    // Some kills land during start-up (migrations, the first heartbeat); most while it works.
    const int wait_ms = std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? std::uniform_int_distribution<int>(0, 150)(rng)
                                                                            : std::uniform_int_distribution<int>(200, 900)(rng);
    Aim* aim = k % 2 == 1 ? &aims[static_cast<std::size_t>(k / 2) % aims.size()] : nullptr;
    if (aim == &aims[2] && !pending_deliveries()) aim = nullptr;  // nothing to send: a random kill instead
    if (closer) {
      // The close is killed on its own clock (loading the rules, computing), or as it commits.
      if (aimed_close) {
        ++close_aim.tried;
        if (closer->wait_for_err(close_aim.line, 3s)) ++close_aim.hit;
      } else {
        // A kill at a random moment is the drill: time passes on purpose.
        std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 160)(rng)));
      }
      closer->signal(SIGKILL);
      if (closer->wait(5s) == -1) ++closes_killed;
    }
    if (aim) {
      ++aim->tried;
      if (serve.wait_for_err(aim->line, 3s)) ++aim->hit;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));  // a kill at a random moment is the drill
    }
    if (rx.in_flight() > 0) ++kills_mid_send;
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
    ASSERT_TRUE(wait_for(port, "/livez", 200)) << serve.err();
    std::this_thread::sleep_for(2500ms);  // a poll interval and more pass on purpose: nothing to wait on yet
  }
  auto db = store::Store::open({db_url, "", 1});
  ASSERT_TRUE(db) << db.error();
  const bool quiet = testutils::eventually([&] { return settled(**db, rx, kTickets); }, 120s, 100ms);
  EXPECT_TRUE(quiet) << serve.err();
  serve.signal(SIGTERM);
  const auto code = serve.wait(10s);
  EXPECT_EQ(code, 0) << tail(serve.err());
  check_cursor("at the end");
  const auto events = expect_nothing_lost(**db, desk, rx);
  // Closed statements: closing again (after the killed attempts), oldest month first, closes what
  // is left or reproduces what is closed, bit for bit; a third run changes nothing.
  for (const auto& month : close_months) {
    const auto closed = run({kBinary, "period", "close", month, "--by", "drill", "-c", config.string()});
    EXPECT_EQ(closed.exit_code, 0) << closed.out << closed.err;
    std::map<std::string, std::string> first_closed;  // contract -> closed statement document
    for (int p = 0; p < kPartners; ++p) {
      auto s = (*db)->statements().find("c" + std::to_string(p), 1, month);
      ASSERT_TRUE(s) << "c" << p << " " << month;
      first_closed["c" + std::to_string(p)] = s->document;
    }
    const auto again = run({kBinary, "period", "close", month, "--by", "drill", "-c", config.string()});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    std::size_t reproduced = 0;
    for (auto at = again.out.find("recomputed bit for bit"); at != std::string::npos; at = again.out.find("recomputed bit for bit", at + 1)) {
      ++reproduced;
    }
    EXPECT_EQ(reproduced, static_cast<std::size_t>(kPartners)) << month << ": " << again.out;
    for (const auto& [contract, document] : first_closed) EXPECT_EQ((*db)->statements().find(contract, 1, month)->document, document);
  }

  std::cerr << "crash drill on " << store::to_string(GetParam()) << ": kills aimed at";
  for (const auto& a : aims) std::cerr << " " << a.what << " " << a.hit << "/" << a.tried << ",";
  std::cerr << " " << close_aim.what << " " << close_aim.hit << "/" << close_aim.tried << " (landed after the line / tried); "
            << kills_mid_send << " kill(s) while the receiver was answering a send\n";
  std::cerr << "crash drill on " << store::to_string(GetParam()) << ": " << kills << " kills survived (" << closes_killed
            << " period closes killed), " << kTickets << " records stored once, " << events << " events delivered in "
            << rx.attempts() << " attempts, " << kPartners << " closed statements reproduced in each of " << close_months.size() << " month(s)\n";
}

// Two instances share one PostgreSQL; one of them, chosen at random each round, is killed with
// SIGKILL (half the time on a write's debug line) and restarted while the other keeps working
// and takes its sources, shards and notifications over when its leases run out (2 s here). On
// top of the single-instance invariants: per shard, no two holders' stored work overlaps in time
// and fences only grow. PACTWATCH_DRILL_PAIR_KILLS (default 24) sets the rounds.
TEST(CrashDrillTwoInstances, NothingLostNothingTwiceWhileEitherOfTwoIsKilledOverAndOver) {
  const int kills = env_int("PACTWATCH_DRILL_PAIR_KILLS", 24);
  const auto seed = static_cast<std::uint64_t>(env_int("PACTWATCH_DRILL_SEED", 1));
  std::cerr << "two-instance crash drill: " << kills << " kills, seed " << seed << "\n";
  std::mt19937_64 rng(seed + 100);
  const core::SystemClock clock;
  testutils::TempDir dir;
  const std::string db_url = testutils::shared_postgres().create_database("crash_drill_pair_" + std::to_string(seed));
  FakeDesk desk(make_tickets(kTickets, kPartners, month_before(clock.now(), 1)), seed);
  Receiver rx(seed + 1);
  const World world = write_world(dir, kBinary, db_url, kPartners, kPerPage, desk.port(), rx.port());
  // The second instance: its own name and port, the same database, sources and rules.
  std::string second = testutils::read_file(world.config);
  second.replace(second.find("instance: drill"), 15, "instance: drill-b");
  const int second_port = testutils::free_port();
  const std::string listen = "listen: 127.0.0.1:" + std::to_string(world.port);
  second.replace(second.find(listen), listen.size(), "listen: 127.0.0.1:" + std::to_string(second_port));
  const std::array<std::string, 2> configs = {world.config.string(), dir.write("pactwatch-b.yaml", second).string()};
  const std::array<int, 2> ports = {world.port, second_port};
  std::array<std::unique_ptr<testutils::Child>, 2> instances;
  auto start = [&](std::size_t i) {
    instances[i] = std::make_unique<testutils::Child>(std::vector<std::string>{kBinary, "serve", "-c", configs[i], "--log-level", "debug"});
  };
  const std::array<const char*, 3> lines = {"storing a page of", "evaluation: storing", "notifications: sending"};
  const auto started = std::chrono::steady_clock::now();
  int aimed = 0, hit = 0;
  for (int k = 0; k < kills; ++k) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    desk.release(40 + static_cast<int>(ms / 60));
    for (std::size_t i = 0; i < 2; ++i) {
      if (!instances[i]) start(i);
    }
    const auto victim = static_cast<std::size_t>(std::uniform_int_distribution<int>(0, 1)(rng));
    if (k % 2 == 1) {
      ++aimed;
      if (instances[victim]->wait_for_err(lines[static_cast<std::size_t>(k / 2) % lines.size()], 2s)) ++hit;
    } else {
      // A kill at a random moment is the drill: time passes on purpose.
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 1500)(rng)));
    }
    instances[victim]->signal(SIGKILL);
    ASSERT_TRUE(instances[victim]->wait(5s).has_value());
    instances[victim].reset();
    // Every fourth victim stays down past its leases (2 s, checked every 2/3 s), so the survivor
    // takes its sources and shards over; the others come back while their leases still run.
    if (k % 4 == 2) std::this_thread::sleep_for(3s);  // time passes on purpose: the leases run out
    auto s = store::Store::open({db_url, "", 1});
    ASSERT_TRUE(s) << s.error();
    if ((*s)->schema_status().current > 0) expect_cursor_behind_data(**s, desk.tickets(), kPerPage, "after kill " + std::to_string(k + 1));
  }

  desk.release(kTickets);
  for (std::size_t i = 0; i < 2; ++i) {
    if (!instances[i]) start(i);
    ASSERT_TRUE(wait_for(ports[i], "/livez", 200)) << instances[i]->err();
  }
  auto db = store::Store::open({db_url, "", 1});
  ASSERT_TRUE(db) << db.error();
  const bool quiet = testutils::eventually([&] { return settled(**db, rx, kTickets); }, 120s, 100ms);
  EXPECT_TRUE(quiet) << tail(instances[0]->err()) << tail(instances[1]->err());
  for (auto& instance : instances) {
    instance->signal(SIGTERM);
    EXPECT_EQ(instance->wait(10s), 0) << tail(instance->err());
  }
  expect_cursor_behind_data(**db, desk.tickets(), kPerPage, "at the end");
  const auto events = expect_nothing_lost(**db, desk, rx);
  // Per shard: no two holders' stored work overlaps in time, and fences only grow.
  int handovers = 0;
  (void)testutils::expect_no_overlapping_work((*db)->queue().work_log(), handovers);
  EXPECT_GT(handovers, 0) << "the kills must move shards between the instances";
  std::cerr << "two-instance crash drill: " << kills << " kills survived (" << hit << " of " << aimed << " aimed kills on their line), "
            << kTickets << " records stored once, " << events << " events delivered in " << rx.attempts() << " attempts, "
            << handovers << " shard handovers with no overlap\n";
}

INSTANTIATE_TEST_SUITE_P(Backends, CrashDrill, ::testing::Values(store::Backend::sqlite, store::Backend::postgresql),
                         [](const auto& param_info) { return std::string(store::to_string(param_info.param)); });

}  // namespace
}  // namespace pactwatch::drills
