// The daemon's schedule: PeriodicJob on short real intervals (every wait is for a condition, with a
// generous timeout; nothing sleeps and then asserts), and the Scheduler's jobs on a real SQLite
// store with a real cluster.
#include <utility>  // before Boost.Asio (Boost 1.74 with GCC 12 in C++23 mode)

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "pactwatch/app/cluster.h"
#include "pactwatch/app/metrics.h"
#include "pactwatch/app/periodic_job.h"
#include "pactwatch/app/scheduler.h"
#include "pactwatch/core/time.h"
#include "temp_dir.h"
#include "test_store.h"

namespace pactwatch::app {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr auto kPatience = std::chrono::seconds(20);  // generous: the machine may be busy

// Counts what the jobs did; waits for a condition on it.
class Events {
 public:
  void note(const std::function<void()>& change) {
    {
      std::lock_guard lock(mutex_);
      change();
    }
    cv_.notify_all();
  }
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kPatience, pred);
  }
  std::mutex& mutex() { return mutex_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
};

// The io_context runs on a thread of its own, as in the daemon; start() and stop() are posted to
// it. run() is held open until release(), then ends when no timer is left armed.
class Loop {
 public:
  Loop() : done_(std::async(std::launch::async, [this] { io_.run(); })) {}
  ~Loop() {
    io_.stop();
    done_.wait();
  }
  boost::asio::io_context& io() { return io_; }
  void post(std::function<void()> f) { boost::asio::post(io_, std::move(f)); }
  void release() { guard_.reset(); }
  // True when run() returned within the patience.
  bool ended() { return done_.wait_for(kPatience) == std::future_status::ready; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_ = boost::asio::make_work_guard(io_);
  std::future<void> done_;
};

TEST(PeriodicJob, RunsAfterItsFirstDelayThenOnItsInterval) {
  Loop loop;
  boost::asio::thread_pool pool(2);
  Events events;
  std::vector<std::chrono::steady_clock::time_point> runs;
  const auto armed = std::chrono::steady_clock::now();
  PeriodicJob job(loop.io(), pool, "tick", {30ms, 20ms},
                  [&] { events.note([&] { runs.push_back(std::chrono::steady_clock::now()); }); });
  loop.post([&] { job.start(); });
  loop.release();
  ASSERT_TRUE(events.wait([&] { return runs.size() >= 4; }));
  loop.post([&] { job.stop(); });
  EXPECT_TRUE(loop.ended());
  pool.join();
  std::lock_guard lock(events.mutex());
  // A timer never fires early: the first run comes after the first delay, and three intervals
  // separate the first run from the fourth (less the pool's hand-over, a few ms at most).
  EXPECT_GE(runs[0] - armed, 30ms);
  EXPECT_GE(runs[3] - runs[0], 60ms - 10ms);
  EXPECT_EQ(job.missed_ticks(), 0);
  EXPECT_EQ(job.name(), "tick");
}

TEST(PeriodicJob, StopsAtOnceWhileWaitingForItsFirstTick) {
  Loop loop;
  boost::asio::thread_pool pool(1);
  int runs = 0;
  PeriodicJob job(loop.io(), pool, "hourly", {std::chrono::hours(1), std::chrono::hours(1)}, [&] { ++runs; });
  loop.post([&] { job.start(); });
  loop.release();
  const auto asked = std::chrono::steady_clock::now();
  loop.post([&] { job.stop(); });
  // The loop ends only when no wait is left: the hour-long one ended when asked.
  ASSERT_TRUE(loop.ended());
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(5));
  pool.join();
  EXPECT_EQ(runs, 0);
}

TEST(PeriodicJob, StopsAtOnceBetweenTicks) {
  Loop loop;
  boost::asio::thread_pool pool(1);
  Events events;
  int runs = 0;
  PeriodicJob job(loop.io(), pool, "hourly", {0ms, std::chrono::hours(1)}, [&] { events.note([&] { ++runs; }); });
  loop.post([&] { job.start(); });
  loop.release();
  ASSERT_TRUE(events.wait([&] { return runs == 1; }));
  loop.post([&] { job.stop(); });
  ASSERT_TRUE(loop.ended());
  pool.join();
  EXPECT_EQ(runs, 1);
}

TEST(PeriodicJob, SkipsAndCountsTheTicksThatComeWhileItRuns) {
  Loop loop;
  boost::asio::thread_pool pool(2);
  Events events;
  int started = 0, finished = 0, missed = 0;
  bool release = false;
  PeriodicJob job(
      loop.io(), pool, "slow", {0ms, 5ms},
      [&] {
        int me = 0;
        events.note([&] { me = ++started; });
        // The first run holds on until the test has seen ticks skipped.
        if (me == 1) events.wait([&] { return release; });
        events.note([&] { ++finished; });
      },
      PeriodicJob::Overlap::skip, [&] { events.note([&] { ++missed; }); });
  loop.post([&] { job.start(); });
  loop.release();
  ASSERT_TRUE(events.wait([&] { return missed >= 3; }));
  {
    std::lock_guard lock(events.mutex());
    EXPECT_EQ(started, 1);  // no second run while the first is going
    EXPECT_TRUE(job.running());
  }
  EXPECT_GE(job.missed_ticks(), 3);
  events.note([&] { release = true; });
  // Once the slow run is over, the next tick runs the job again.
  ASSERT_TRUE(events.wait([&] { return started >= 2; }));
  loop.post([&] { job.stop(); });
  ASSERT_TRUE(loop.ended());
  pool.join();
  std::lock_guard lock(events.mutex());
  EXPECT_EQ(started, finished);
  EXPECT_EQ(job.missed_ticks(), missed);  // each skipped tick counted once and reported once
}

TEST(PeriodicJob, QueuedTicksRunEvenWhileAnEarlierRunIsGoing) {
  Loop loop;
  boost::asio::thread_pool pool(2);
  Events events;
  int started = 0;
  bool overlapped = false;
  PeriodicJob job(
      loop.io(), pool, "queued", {0ms, 5ms},
      [&] {
        int me = 0;
        events.note([&] { me = ++started; });
        // The first run waits for a second one to start beside it.
        if (me == 1) overlapped = events.wait([&] { return started >= 2; });
      },
      PeriodicJob::Overlap::queue);
  loop.post([&] { job.start(); });
  loop.release();
  ASSERT_TRUE(events.wait([&] { return started >= 3; }));
  loop.post([&] { job.stop(); });
  ASSERT_TRUE(loop.ended());
  pool.join();
  EXPECT_TRUE(overlapped);
  EXPECT_EQ(job.missed_ticks(), 0);
}

// The scheduler on a real SQLite store: what start() registers, that the jobs run (their leases
// show it), and that a stop ends every wait at once.
class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() {
    std::filesystem::create_directories(dir_ / "drop");
    config_.full_evaluation_interval_s = 900;
    config_.cluster_lease_ttl_s = 45;
    config::SourceConfig drop;
    drop.name = "drop";
    drop.kind = "file";
    drop.path = (dir_ / "drop").string();
    drop.items = "ticket";
    drop.poll_interval_s = 1;
    config_.sources = {drop};
    config::ChannelConfig hook;
    hook.name = "ops";
    hook.type = "webhook";
    hook.url = "http://127.0.0.1:9/hook";
    config_.channels = {hook};
  }

  bool holds(const std::string& lease) {
    const auto leases = store_->leases().all();
    return std::any_of(leases.begin(), leases.end(),
                       [&](const store::LeaseRecord& l) { return l.name == lease && l.holder == "unit-test"; });
  }
  bool holds_a_shard() {
    const auto leases = store_->leases().all();
    return std::any_of(leases.begin(), leases.end(), [](const store::LeaseRecord& l) {
      return l.name.starts_with("shard:") && l.holder == "unit-test";
    });
  }

  testutils::TempDir dir_;
  core::ManualClock clock_{*core::parse_rfc3339("2025-03-03T09:00:00Z")};
  std::unique_ptr<store::Store> store_ = testutils::fresh_store(store::Backend::sqlite, dir_, "sched", clock_.now());
  std::shared_ptr<const rules::RuleSet> rules_ = std::make_shared<const rules::RuleSet>();
  config::Config config_;
  Cluster cluster_{*store_, "unit-test", 4, std::chrono::seconds(45), clock_};
  core::MetricsRegistry registry_;
  Metrics metrics_{registry_};
};

TEST_F(SchedulerTest, RegistersEachJobOnItsInterval) {
  boost::asio::io_context io;
  Scheduler scheduler(io, config_, *store_, [this] { return rules_; }, clock_, cluster_, metrics_);
  scheduler.start();
  std::vector<std::pair<std::string, milliseconds>> jobs;
  for (const auto& j : scheduler.jobs()) jobs.emplace_back(j->name(), j->schedule().interval);
  const std::vector<std::pair<std::string, milliseconds>> expected{
      {"source:drop", 1s}, {"full evaluation", 900s}, {"heartbeat", 15s}, {"queued evaluation", 1s}, {"notifications", 1s}};
  EXPECT_EQ(jobs, expected);
  scheduler.stop();
}

TEST_F(SchedulerTest, WithoutChannelsThereIsNoNotificationJob) {
  config_.channels.clear();
  boost::asio::io_context io;
  Scheduler scheduler(io, config_, *store_, [this] { return rules_; }, clock_, cluster_, metrics_);
  scheduler.start();
  std::vector<std::string> names;
  for (const auto& j : scheduler.jobs()) names.push_back(j->name());
  EXPECT_EQ(names, (std::vector<std::string>{"source:drop", "full evaluation", "heartbeat", "queued evaluation"}));
  scheduler.stop();
}

TEST_F(SchedulerTest, RunsItsJobsAndStopsAtOnce) {
  Events events;
  std::string status;
  int lines = 0;
  {
    Loop loop;
    Scheduler scheduler(loop.io(), config_, *store_, [this] { return rules_; }, clock_, cluster_, metrics_);
    scheduler.on_status = [&](const std::string& line) {
      events.note([&] {
        status = line;
        ++lines;
      });
    };
    loop.post([&] { scheduler.start(); });
    loop.release();
    // The heartbeat takes this instance's shards, the source's sync claims its lease, the
    // notification job the "notify" lease. Each sync ends with a status line (every second):
    // the leases are read again at each.
    auto all_ran = [&] { return holds_a_shard() && holds("source:drop") && holds("notify"); };
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!all_ran() && std::chrono::steady_clock::now() < deadline) {
      int seen = 0;
      events.note([&] { seen = lines; });
      events.wait([&] { return lines > seen; });
    }
    ASSERT_TRUE(all_ran());
    // A stop ends every wait (the source's next poll, the hourly full evaluation) at once.
    loop.post([&] { scheduler.request_stop(); });
    scheduler.join();
    EXPECT_TRUE(loop.ended());
  }
  std::lock_guard lock(events.mutex());
  EXPECT_NE(status.find("1 source(s) ok, 0 failing"), std::string::npos) << status;
}

}  // namespace
}  // namespace pactwatch::app
