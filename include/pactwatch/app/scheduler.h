// The daemon's schedule: each source polls on its interval (slotted by a hash of its name, with
// jitter, so sources do not herd), a sync is followed by an incremental re-evaluation of what it
// changed, and a periodic full re-evaluation catches what the clock alone changes (a timer that
// breaches at 17:00 with no new data). Each of these is a PeriodicJob: its timer lives on the
// io_context, its runs on a small thread pool (heartbeats on a thread of their own), and outcomes
// are posted back. Not thread-safe: use from the io_context.
#pragma once

#include <utility>  // before Boost.Asio (Boost 1.74 with GCC 12 in C++23 mode)

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pactwatch/app/periodic_job.h"
#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

class Cluster;
class Dispatcher;
struct Metrics;
class EvaluationRunner;
struct RunStats;

struct SourceState {
  bool ok = true;           // the last sync succeeded
  std::int64_t syncs = 0;
  std::int64_t missed_ticks = 0;  // ticks that came while a sync was still running
  std::string last_error;
};

class Scheduler {
 public:
  using RulesSnapshot = std::function<std::shared_ptr<const rules::RuleSet>()>;
  // The cluster outlives schedulers (a reload replaces the scheduler, not the instance's leases),
  // and so do the metrics its jobs record into.
  Scheduler(boost::asio::io_context& io, const config::Config& config, store::Store& store, RulesSnapshot rules,
            const core::Clock& clock, Cluster& cluster, Metrics& metrics);
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
  // The periodic jobs start() registered, in the order they were armed: "source:NAME" for each
  // source, "full evaluation", "heartbeat", "queued evaluation", and "notifications" when the
  // config has channels.
  [[nodiscard]] const std::vector<std::unique_ptr<PeriodicJob>>& jobs() const { return jobs_; }

 private:
  void add_job(boost::asio::thread_pool& pool, std::string name, PeriodicJob::Schedule schedule, std::function<void()> job,
               PeriodicJob::Overlap overlap = PeriodicJob::Overlap::skip, std::function<void()> on_missed = {});
  // The jobs, each run on a pool by its PeriodicJob.
  void sync_source(const config::SourceConfig& s);
  void evaluate_full();
  // Cluster work: heartbeats on their own thread (a long evaluation must not delay a renewal), a
  // full evaluation of shards newly taken over, and the queue of periods other instances left.
  void heartbeat();
  void evaluate_queued();
  void dispatch();
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
  Metrics& metrics_;
  const std::string& instance_;  // this instance's name in leases (cluster.instance, or host:pid)
  store::Store& store_;
  RulesSnapshot rules_;
  const core::Clock& clock_;
  boost::asio::thread_pool pool_{2};
  boost::asio::thread_pool heartbeat_pool_{1};
  std::vector<std::unique_ptr<PeriodicJob>> jobs_;  // destroyed after both pools are joined (~Scheduler)
  std::atomic<bool> cluster_ok_{true};
  std::unique_ptr<Dispatcher> dispatcher_;
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
