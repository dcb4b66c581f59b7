// The daemon's schedule: each source polls on its interval (slotted by a hash of its name, with
// jitter, so sources do not herd), a sync is followed by an incremental re-evaluation of what it
// changed, and a periodic full re-evaluation catches what the clock alone changes (a timer that
// breaches at 17:00 with no new data). Timers live on the io_context; syncs and evaluations run on
// a small thread pool and post their outcome back. Not thread-safe: use from the io_context.
#pragma once

#include <utility>  // before Boost.Asio (Boost 1.74 with GCC 12 in C++23 mode)

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

class Cluster;
class Dispatcher;
class EvaluationRunner;
struct RunStats;

struct SourceState {
  bool running = false;
  bool ok = true;           // the last sync succeeded
  std::int64_t syncs = 0;
  std::int64_t missed_ticks = 0;  // ticks that came while a sync was still running
  std::string last_error;
};

class Scheduler {
 public:
  using RulesSnapshot = std::function<std::shared_ptr<const rules::RuleSet>()>;
  // The cluster outlives schedulers (a reload replaces the scheduler, not the instance's leases).
  Scheduler(boost::asio::io_context& io, const config::Config& config, store::Store& store, RulesSnapshot rules,
            const core::Clock& clock, Cluster& cluster);
  ~Scheduler();

  void start();
  // Stops timers and asks running work to stop: syncs between pages (a request in flight is
  // abandoned, a dropped file's import rolled back), evaluations between contract periods,
  // deliveries mid-request. Does not wait: call from the io_context, then join().
  void request_stop();
  // Waits for the work request_stop() asked to stop (seconds at most). Blocks: call it off the
  // io_context when the loop must keep running (a reload), or when stopping for good.
  void join();
  // Both.
  void stop();
  // "2 source(s) ok, 1 failing; last evaluation 12:00:05Z, 25 period(s)": for systemd STATUS=.
  [[nodiscard]] std::string status_line() const;
  // Called (on the io_context) whenever the status line may have changed.
  std::function<void(const std::string&)> on_status;

 private:
  void schedule_source(const config::SourceConfig& s, std::chrono::milliseconds delay);
  void run_source(const config::SourceConfig& s);
  void schedule_full(std::chrono::milliseconds delay);
  void schedule_dispatch(std::chrono::milliseconds delay);
  // Cluster work: heartbeats on their own thread (a long evaluation must not delay a renewal), a
  // full evaluation of shards newly taken over, and the queue of periods other instances left.
  void schedule_heartbeat(std::chrono::milliseconds delay);
  void schedule_queue(std::chrono::milliseconds delay);
  // Runs `work` with a runner, one evaluation at a time. With `skip_when_busy` it gives up at once
  // when another evaluation is running (the queue's one-second tick must not hold a worker
  // hostage behind a long full run).
  void evaluate(const std::function<RunStats(EvaluationRunner&)>& work, const char* what,
                bool skip_when_busy = false);
  void publish();
  [[nodiscard]] std::chrono::milliseconds lease_ttl() const;
  // Renews a lease this instance holds under `fence`; false when it has passed on (or the
  // database cannot say).
  bool renew(const std::string& lease, std::int64_t fence);

  boost::asio::io_context& io_;
  const config::Config& config_;
  Cluster& cluster_;
  const std::string& instance_;  // this instance's name in leases (cluster.instance, or host:pid)
  store::Store& store_;
  RulesSnapshot rules_;
  const core::Clock& clock_;
  boost::asio::thread_pool pool_{2};
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> timers_;
  std::unique_ptr<boost::asio::steady_timer> full_timer_;
  std::unique_ptr<boost::asio::steady_timer> dispatch_timer_;
  std::unique_ptr<boost::asio::steady_timer> heartbeat_timer_;
  std::unique_ptr<boost::asio::steady_timer> queue_timer_;
  boost::asio::thread_pool heartbeat_pool_{1};
  std::atomic<bool> heartbeating_{false};
  std::atomic<bool> queue_running_{false};
  std::atomic<bool> cluster_ok_{true};
  std::unique_ptr<Dispatcher> dispatcher_;
  std::atomic<bool> dispatching_{false};
  std::map<std::string, SourceState> states_;
  std::atomic<bool> stopping_{false};
  std::mutex evaluation_mutex_;  // one evaluation at a time (the runner is not thread-safe)
  mutable std::mutex status_mutex_;
  // Outcomes posted back to the io_context check this first: a reload may have replaced the
  // scheduler before they run.
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
  std::string last_evaluation_;
};

}  // namespace pactwatch::app
