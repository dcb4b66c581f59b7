#include "pactwatch/app/scheduler.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <random>
#include <thread>

#include "pactwatch/app/cluster.h"
#include "pactwatch/app/dispatcher.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/app/metrics.h"
#include "pactwatch/sources/drop.h"
#include "pactwatch/sources/sync.h"

namespace pactwatch::app {

namespace {

using std::chrono::milliseconds;

// A source's first tick: its slot in the interval (from its name, stable across restarts) plus
// up to a tenth of the interval of jitter.
milliseconds first_delay(const config::SourceConfig& s) {
  const auto interval = static_cast<std::uint64_t>(s.poll_interval_s) * 1000;
  const auto slot = std::hash<std::string>{}(s.name) % std::max<std::uint64_t>(interval, 1);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<std::uint64_t> jitter(0, interval / 10);
  // Poll soon after start-up: the slot is taken within the first interval, capped at a minute.
  return milliseconds(static_cast<std::int64_t>(std::min<std::uint64_t>(slot % 60000, interval) + jitter(rng) % 1000));
}

}  // namespace

Scheduler::Scheduler(boost::asio::io_context& io, const config::Config& config, store::Store& store, RulesSnapshot rules,
                     const core::Clock& clock, Cluster& cluster, Metrics& metrics)
    : io_(io), config_(config), cluster_(cluster), metrics_(metrics), instance_(cluster.instance()), store_(store), rules_(std::move(rules)),
      clock_(clock) {}

Scheduler::~Scheduler() { stop(); }

milliseconds Scheduler::lease_ttl() const { return std::chrono::seconds(config_.cluster_lease_ttl_s); }

bool Scheduler::renew(const std::string& lease, std::int64_t fence) {
  try {
    const auto again = store_.leases().claim(lease, instance_, clock_.now(), lease_ttl());
    return again && *again == fence;
  } catch (const store::StoreError&) {
    return false;  // cannot tell: stop, as if it had passed on
  }
}

void Scheduler::add_job(boost::asio::thread_pool& pool, std::string name, PeriodicJob::Schedule schedule,
                        std::function<void()> job, PeriodicJob::Overlap overlap, std::function<void()> on_missed) {
  jobs_.push_back(
      std::make_unique<PeriodicJob>(io_, pool, std::move(name), schedule, std::move(job), overlap, std::move(on_missed)));
  jobs_.back()->start();
}

void Scheduler::start() {
  for (const auto& s : config_.sources) {
    states_[s.name];
    auto missed = [this, &s] {
      ++states_[s.name].missed_ticks;  // the last sync is still going: this tick is skipped, and counted
      metrics_.sources.error(s.name, "missed_tick");
    };
    add_job(pool_, "source:" + s.name, {first_delay(s), milliseconds(s.poll_interval_s * 1000)}, [this, &s] { sync_source(s); },
            PeriodicJob::Overlap::skip, missed);
  }
  // At start-up the first heartbeat takes this instance's shards and evaluates them in full. After
  // a reload the shards are still held: evaluate them now, under the new rules. Every tick runs:
  // full evaluations wait for each other.
  const milliseconds full(config_.full_evaluation_interval_s * 1000);
  add_job(pool_, "full evaluation", {cluster_.owned(clock_.now()).empty() ? full : milliseconds(0), full},
          [this] { evaluate_full(); }, PeriodicJob::Overlap::queue);
  // Renew three times per lease time: one missed heartbeat does not lose the shards.
  add_job(heartbeat_pool_, "heartbeat", {milliseconds(0), std::max(milliseconds(200), lease_ttl() / 3)}, [this] { heartbeat(); });
  add_job(pool_, "queued evaluation", {milliseconds(1000), milliseconds(1000)}, [this] { evaluate_queued(); });
  if (!config_.channels.empty()) {
    dispatcher_ = std::make_unique<Dispatcher>(config_, store_, clock_, rules_, &stopping_, &metrics_.deliveries);
    add_job(pool_, "notifications", {milliseconds(500), milliseconds(1000)}, [this] { dispatch(); });
  }
  publish();
}

void Scheduler::request_stop() {
  if (stopping_.exchange(true)) return;
  for (auto& job : jobs_) job->stop();
}

void Scheduler::join() {
  heartbeat_pool_.join();  // first: a heartbeat may still hand the pool a takeover evaluation
  pool_.join();            // running syncs stop between pages (their waits end early too)
}

void Scheduler::stop() {
  request_stop();
  join();
}

void Scheduler::sync_source(const config::SourceConfig& s) {
  bool ok = true;
  std::string error;
  std::vector<store::Item> changed, previous;
  // One instance at a time polls a source: the one holding its lease, renewed before every
  // request. Another instance's running lease means this tick is not ours.
  const std::string lease = "source:" + s.name;
  std::optional<std::int64_t> fence;
  try {
    fence = store_.leases().claim(lease, instance_, clock_.now(), lease_ttl());
  } catch (const store::StoreError& e) {
    ok = false;
    error = e.what();
  }
  if (!fence) {
    if (ok) spdlog::debug("source {}: polled by another instance (lease held)", s.name);
    boost::asio::post(io_, [this, alive = std::weak_ptr<int>(life_), &s, ok, error] {
      if (alive.expired()) return;
      auto& st = states_[s.name];
      if (!ok) {
        st.ok = false;
        st.last_error = error;
      }
      publish();
    });
    return;
  }
  const store::LeaseGuard guard{lease, instance_, *fence};
  std::atomic<bool> lost{false};
  auto still_ours = [&] {
    if (stopping_) return false;
    if (renew(lease, *fence)) return true;
    lost = true;
    return false;
  };
  auto streams = sources::make_streams(s);
  if (s.kind == "file") {
    const auto rules = rules_();
    auto r = sources::sync_drop_directory(s, store_, rules->partners, clock_, true, &stopping_, &metrics_.sources);
    changed = std::move(r.changed);
    previous = std::move(r.previous);
    if (!r.ok) {
      ok = false;
      error = r.error;
      spdlog::warn("source {}: {}", s.name, r.error);
    }
    if (r.pages > 0) spdlog::info("source {}: {} file(s), {} record(s), {} written", s.name, r.pages, r.records, r.written);
  } else if (!streams) {
    ok = false;
    error = streams.error();
  } else {
    const auto rules = rules_();
    for (auto& connector : *streams) {
      if (stopping_ || lost) break;
      sources::SyncOptions o;
      o.collect_changes = true;
      o.stopping = [&still_ours] { return !still_ours(); };
      o.lease = &guard;
      o.abort = &stopping_;
      o.metrics = &metrics_.sources;
      o.sleep = [this](milliseconds d) {
        // Waits end early when the daemon stops.
        const auto until = std::chrono::steady_clock::now() + d;
        while (!stopping_ && std::chrono::steady_clock::now() < until) {
          std::this_thread::sleep_for(std::min(milliseconds(100), std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now())));
        }
      };
      const auto r = sources::sync_source(s, *connector, store_, rules->partners, clock_, o);
      if (r.lease_lost) lost = true;  // the lease passed on while a page was in flight
      changed.insert(changed.end(), r.changed.begin(), r.changed.end());
      previous.insert(previous.end(), r.previous.begin(), r.previous.end());
      if (!r.ok) {
        ok = false;
        error = r.error;
        spdlog::warn("source {}{}: {}", s.name, connector->stream().empty() ? "" : " (" + connector->stream() + ")", r.error);
        break;
      }
      if (r.records > 0 || r.unattributed > 0) {
        spdlog::info("source {}{}: {} record(s), {} written, {} unattributed", s.name,
                     connector->stream().empty() ? "" : " (" + connector->stream() + ")", r.records, r.written, r.unattributed);
      }
    }
  }
  if (lost) spdlog::warn("source {}: lease lost to another instance; stopped between pages", s.name);
  // Each stored page recorded what it touched (evaluation intents, in its own transaction): the
  // queue turns them into requests to the partners' owners, this instance evaluates its own at
  // once. A sync that stopped or died midway left its intents too; nothing waits for it to end.
  if (!changed.empty() && !stopping_) {
    evaluate([&](EvaluationRunner& runner) {
      const auto now = clock_.now();
      const auto stats = runner.run_queued(now, now);
      spdlog::info("re-evaluated {} contract period(s) after {} changed item(s) from {}: {} status change(s)",
                   stats.evaluations, changed.size(), s.name, stats.status_changes);
      return stats;
    }, "incremental evaluation");
  }
  boost::asio::post(io_, [this, alive = std::weak_ptr<int>(life_), &s, ok, error] {
    if (alive.expired()) return;  // the scheduler was replaced (a reload) before this ran
    auto& st = states_[s.name];
    ++st.syncs;
    st.ok = ok;
    st.last_error = error;
    publish();
  });
}

void Scheduler::evaluate_full() {
  evaluate([&](EvaluationRunner& runner) {
    const auto now = clock_.now();
    const auto stats = runner.run_full(now, now);
    spdlog::info("full evaluation: {} contract period(s) in {} ms, {} status change(s)", stats.evaluations,
                 (stats.compute + stats.save).count() / 1000, stats.status_changes);
    return stats;
  }, "full evaluation");
  boost::asio::post(io_, [this, alive = std::weak_ptr<int>(life_)] {
    if (!alive.expired()) publish();
  });
}

void Scheduler::heartbeat() {
  HeartbeatResult r;
  bool ok = true;
  try {
    r = cluster_.heartbeat();
  } catch (const std::exception& e) {
    ok = false;
    spdlog::error("cluster heartbeat: {}; the shards held expire unless renewed in time", e.what());
  }
  if (ok != cluster_ok_.exchange(ok) && ok) spdlog::info("cluster heartbeat: the database answers again");
  if (!r.released.empty()) spdlog::info("cluster: {} shard(s) given back or lost ({} live instance(s))", r.released.size(), r.live_instances);
  if (r.taken.empty() || stopping_) return;
  spdlog::info("cluster: took {} shard(s) ({} live instance(s)); evaluating their partners in full", r.taken.size(),
               r.live_instances);
  boost::asio::post(pool_, [this, shards = r.taken] {
    evaluate([&](EvaluationRunner& runner) {
      const auto now = clock_.now();
      const auto stats = runner.run_full(now, now, shards);
      spdlog::info("full evaluation of {} shard(s) taken over: {} contract period(s) in {} ms, {} status change(s)",
                   shards.size(), stats.evaluations, (stats.compute + stats.save).count() / 1000, stats.status_changes);
      return stats;
    }, "full evaluation");
    boost::asio::post(io_, [this, alive = std::weak_ptr<int>(life_)] {
      if (!alive.expired()) publish();
    });
  });
}

void Scheduler::evaluate_queued() {
  evaluate([&](EvaluationRunner& runner) {
    const auto now = clock_.now();
    const auto stats = runner.run_queued(now, now);
    if (stats.evaluations > 0) {
      spdlog::info("evaluated {} contract period(s) other instances asked for: {} status change(s)", stats.evaluations,
                   stats.status_changes);
    }
    return stats;
  }, "queued evaluation", true);
}

void Scheduler::dispatch() {
  try {
    // One instance at a time delivers (and writes reminders): the holder of the "notify" lease,
    // renewed before every delivery. An instance that dies mid-send leaves that delivery pending;
    // the next holder sends it again with the same event id.
    const auto fence = store_.leases().claim("notify", instance_, clock_.now(), lease_ttl());
    if (!fence) return;
    auto still_ours = [this, f = *fence] { return !stopping_ && renew("notify", f); };
    if (config_.reminder_interval_s > 0) {
      const int n = store_.outbox().write_reminders(clock_.now(), std::chrono::seconds(config_.reminder_interval_s));
      if (n > 0) spdlog::info("notifications: {} reminder(s) of breaches still standing", n);
    }
    const auto s = dispatcher_->run_once(still_ours);
    if (s.delivered + s.retried + s.dead > 0) {
      spdlog::info("notifications: {} delivered, {} to retry, {} dead", s.delivered, s.retried, s.dead);
    }
  } catch (const std::exception& e) {
    spdlog::error("notifications: {}", e.what());
  }
}

void Scheduler::evaluate(const std::function<RunStats(EvaluationRunner&)>& work, const char* what, bool skip_when_busy) {
  std::unique_lock lock(evaluation_mutex_, std::defer_lock);
  if (!skip_when_busy) lock.lock();
  else if (!lock.try_lock()) return;  // a longer evaluation is running: the next tick comes soon
  const auto rules = rules_();
  try {
    EvaluationRunner runner(*rules, store_, &cluster_, &stopping_, &metrics_.evaluations);
    runner.set_memory_budget(static_cast<std::size_t>(config_.evaluation_memory_budget));
    runner.set_keep_prepared(false);  // this runner ends with the run
    const auto stats = work(runner);
    if (stats.evaluations > 0 || !skip_when_busy) {
      std::lock_guard s(status_mutex_);
      last_evaluation_ = core::format_rfc3339(clock_.now());
    }
  } catch (const store::LeaseLost& e) {
    spdlog::info("{} not stored: {}", what, e.what());
  } catch (const EvaluationAborted& e) {
    spdlog::info("{} {}", what, e.what());
  } catch (const std::exception& e) {
    spdlog::error("{} failed: {}; the next one will try again", what, e.what());
  }
}

std::string Scheduler::status_line() const {
  int ok = 0, failing = 0;
  for (const auto& [name, st] : states_) (st.ok ? ok : failing)++;
  std::string line = std::to_string(ok) + " source(s) ok, " + std::to_string(failing) + " failing";
  std::lock_guard lock(status_mutex_);
  line += last_evaluation_.empty() ? "; not evaluated yet" : "; last evaluation " + last_evaluation_;
  line += "; " + std::to_string(cluster_.owned(clock_.now()).size()) + "/" + std::to_string(cluster_.shards()) + " shard(s)";
  return line;
}

void Scheduler::publish() {
  if (on_status) on_status(status_line());
}

}  // namespace pactwatch::app
