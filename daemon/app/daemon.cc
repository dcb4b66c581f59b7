#include <utility>  // must precede Boost.Asio with Boost 1.74 and GCC 12 in C++23 mode

#include "pactwatch/app/daemon.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "pactwatch/api/http_server.h"
#include "pactwatch/api/server.h"
#include "pactwatch/app/cluster.h"
#include "pactwatch/app/dispatcher.h"
#include "pactwatch/app/evaluation_runner.h"
#include "pactwatch/app/instance.h"
#include "pactwatch/app/metrics.h"
#include "pactwatch/app/scheduler.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/sources/sync.h"
#include "pactwatch/store/store.h"

namespace pactwatch::app {

namespace {

// The rule set in force. Readers take a snapshot; a reload swaps the whole set at once.
class ActiveRules {
 public:
  void set(std::shared_ptr<const rules::RuleSet> r) {
    std::lock_guard lock(mutex_);
    rules_ = std::move(r);
  }
  [[nodiscard]] std::shared_ptr<const rules::RuleSet> get() const {
    std::lock_guard lock(mutex_);
    return rules_;
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const rules::RuleSet> rules_;
};

void log_diagnostics(const core::Diagnostics& ds) {
  for (const auto& d : ds) spdlog::error("{}", d.to_string());
}

std::vector<store::Partner> to_store(const std::vector<rules::PartnerDef>& defs) {
  std::vector<store::Partner> out;
  out.reserve(defs.size());
  for (const auto& d : defs) out.push_back({d.id, d.name, d.kind, d.tier, true});
  return out;
}

// Every secret the config names, as serve reads them (credentials from $CREDENTIALS_DIRECTORY,
// which only the service has). True when all of them can be read.
bool secrets_usable(const config::Config& c, const std::filesystem::path& file) {
  const auto check = config::check_secrets(c, file.empty() ? std::string("config") : file.string());
  log_diagnostics(check.problems);
  log_diagnostics(check.unchecked);
  return check.problems.empty() && check.unchecked.empty();
}

// The rules of a config's rules directory, validated, with the partners stored; null (the reasons
// logged) when they are invalid or the partners cannot be stored.
std::shared_ptr<const rules::RuleSet> load_rules(const config::Config& config, store::Store& db, const core::Clock& clock) {
  std::expected<rules::RuleSet, core::Diagnostics> loaded;
  try {
    loaded = ledger::rules_in_force(config.rules_dir, db);  // enforcement from the recorded approvals
  } catch (const store::StoreError& e) {
    spdlog::error("cannot read the recorded approvals: {}", e.what());
    return nullptr;
  }
  if (!loaded) {
    log_diagnostics(loaded.error());
    spdlog::error("rules in {} are invalid ({} problem(s))", config.rules_dir, loaded.error().size());
    return nullptr;
  }
  try {
    db.partners().sync(to_store(loaded->partners), clock.now());
  } catch (const store::StoreError& e) {
    spdlog::error("cannot store the partners: {}", e.what());
    return nullptr;
  }
  for (const auto& c : loaded->contracts) {
    if (!c.unverified_approvals.empty()) {
      spdlog::warn("{} v{}: {} approval(s) in {} not recorded in the store: unverified, they enforce nothing "
                   "(pactwatch contract status; docs/rules.md)",
                   c.contract, c.version, c.unverified_approvals.size(), c.file);
    }
  }
  std::size_t enforced = 0;
  for (const auto& c : loaded->contracts) enforced += c.enforced ? 1 : 0;
  spdlog::info("rules loaded from {}: {} partner(s), {} calendar(s), {} contract version(s) ({} enforced)",
               config.rules_dir, loaded->partners.size(), loaded->calendars.size(), loaded->contracts.size(), enforced);
  return std::make_shared<const rules::RuleSet>(std::move(*loaded));
}

// What a reload swaps in once all of it validated.
struct Staged {
  std::unique_ptr<config::Config> config;  // null when serve has no config file: the rules only
  std::shared_ptr<const rules::RuleSet> rules;
};

// The one reload path, all or nothing: the config file (when serve has one), every secret it
// names, then the rules of its rules directory, all validated aside. Nothing changes unless all of
// it is valid; the partners are stored last, and a failure there changes nothing either. Runs off
// the event loop.
std::optional<Staged> stage(const std::filesystem::path& config_path, const config::Config& in_force, store::Store& db,
                            const core::Clock& clock) {
  constexpr const char* kKept = "keeping the config and the rules in force";
  Staged out;
  const config::Config* next = &in_force;
  if (!config_path.empty()) {
    auto loaded = config::load_config(config_path);
    if (!loaded) {
      log_diagnostics(loaded.error());
      spdlog::error("{} is invalid ({} problem(s)); {}", config_path.string(), loaded.error().size(), kKept);
      return std::nullopt;
    }
    if (!secrets_usable(*loaded, config_path)) {
      spdlog::error("{} names secrets that cannot be read; {}", config_path.string(), kKept);
      return std::nullopt;
    }
    if (loaded->listen_host != in_force.listen_host || loaded->listen_port != in_force.listen_port ||
        loaded->database_url != in_force.database_url || loaded->database_pool_size != in_force.database_pool_size ||
        loaded->cluster_shards != in_force.cluster_shards || loaded->cluster_instance != in_force.cluster_instance ||
        loaded->cluster_lease_ttl_s != in_force.cluster_lease_ttl_s) {
      spdlog::warn("the listen address, the database and the cluster settings change only with a restart; the rest is "
                   "applied now");
    }
    out.config = std::make_unique<config::Config>(std::move(*loaded));
    next = out.config.get();
  }
  out.rules = load_rules(*next, db, clock);
  if (!out.rules) {
    spdlog::error("the rules cannot be loaded; {}", kKept);
    return std::nullopt;
  }
  return out;
}

void notify_systemd(const char* state) { sd_notify(0, state); }

// `pactwatch serve`, step by step: open the store and check it takes writes, load the rules, take
// the cluster's shards with a first heartbeat, listen, then run the loop (schedule, watchdog,
// reloads, signals) until SIGTERM or SIGINT, and stop in order. Members are declared in the order
// the steps make them, so they are destroyed in reverse: the schedule before the listener, the
// listener before the cluster, the store last.
class Daemon {
 public:
  Daemon(const config::Config& config, const core::Clock& clock, const std::filesystem::path& config_path)
      : current_(std::make_unique<config::Config>(config)), config_(config), clock_(clock), config_path_(config_path) {}

  // The process exit code: 0 after a clean stop, 1 when a step before the loop failed.
  int run() {
    spdlog::info("pactwatch starting: store {}, rules {}, listen {}:{}", config_.database_url, config_.rules_dir,
                 config_.listen_host, config_.listen_port);
    if (!open_store() || !load_initial_rules()) return 1;
    catch_signals();
    make_api();
    join_cluster();
    make_listener();
    if (!listen()) return 1;
    run_loop();
    spdlog::info("stopped");
    return 0;
  }

 private:
  bool open_store();
  bool load_initial_rules();
  void catch_signals();
  void make_api();
  void join_cluster();
  void make_listener();
  void add_health_routes();
  void register_store_metrics();
  bool listen();
  void run_loop();
  [[nodiscard]] std::unique_ptr<Scheduler> make_scheduler();
  void feed_watchdog();
  void start_watchdog();
  void wait_reload();
  void start_reload();
  void apply_staged(const std::shared_ptr<std::optional<Staged>>& staged);
  void restart_schedule(std::shared_ptr<Scheduler> old, std::shared_ptr<const config::Config> old_config);
  void finish_reload();
  void watch_agreements();
  void wait_stop();
  void stop(int signo);

  // The config in force; a SIGHUP may replace it (and the scheduler that reads it).
  std::unique_ptr<config::Config> current_;
  const config::Config& config_;  // listen address and database: fixed until a restart
  const core::Clock& clock_;
  const std::filesystem::path config_path_;
  // /metrics: the registry every module records into, declared before them so that it outlives
  // them all; families show in the order they are registered (the jobs' at once, then the API's,
  // the listener's, the cluster's and the store's as each step builds them).
  core::MetricsRegistry metrics_;
  Metrics job_metrics_{metrics_};
  std::unique_ptr<store::Store> db_;
  ActiveRules active_;
  boost::asio::io_context io_;
  std::optional<boost::asio::signal_set> stop_signals_;
  std::optional<boost::asio::signal_set> reload_signal_;
  api::ApiOptions api_options_;
  std::unique_ptr<api::Api> api_;
  std::optional<InstanceIdentity> identity_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<api::HttpServer> http_;
  std::unique_ptr<Scheduler> scheduler_;
  // The watchdog is fed from the event loop, so a stuck loop stops feeding it.
  boost::asio::steady_timer watchdog_{io_};
  std::uint64_t watchdog_usec_ = 0;
  // Reloads run on a thread of their own, never on the event loop: validating a config and its
  // rules, and waiting for the old schedule's running work to stop, may take seconds, while the
  // loop must go on feeding the watchdog and answering signals. The loop only swaps what was
  // validated. A SIGHUP during a reload runs another reload after it.
  std::optional<boost::asio::thread_pool> reload_thread_;
  bool reloading_ = false, reload_again_ = false, stopping_ = false;
  // Acts on contracts recorded elsewhere (the CLI, another instance) change what is enforced: the
  // last one seen, read and written on the reload thread only.
  boost::asio::steady_timer agreements_timer_{io_};
  std::int64_t agreements_seen_ = -1;
};

bool Daemon::open_store() {
  if (!secrets_usable(config_, config_path_)) {
    spdlog::error("secrets named in the config cannot be read; not starting");
    return false;
  }
  auto password = config::read_secret(config_.database_password, "database password");
  if (!password) {
    spdlog::error("{}", password.error());
    return false;
  }
  auto opened = store::Store::open({config_.database_url, *password, config_.database_pool_size, 0,
                                    std::chrono::seconds(config_.database_statement_timeout_s)});
  if (!opened) {
    spdlog::error("{}", opened.error());
    return false;
  }
  db_ = std::move(*opened);
  try {
    const int applied = db_->migrate(clock_.now());
    db_->check_writable();  // a store that cannot take writes is refused now, not at the first page
    const auto status = db_->schema_status();
    spdlog::info("store ready ({}, schema version {}, {} migration(s) applied now)", store::to_string(db_->backend()),
                 status.current, applied);
  } catch (const store::StoreError& e) {
    spdlog::error("{}", e.what());
    return false;
  }
  return true;
}

bool Daemon::load_initial_rules() {
  try {
    agreements_seen_ = db_->agreements().last_seq();  // read first: an act recorded meanwhile is applied later
  } catch (const store::StoreError& e) {
    spdlog::error("cannot read the recorded approvals: {}", e.what());
    return false;
  }
  auto rules = load_rules(config_, *db_, clock_);
  if (!rules) return false;
  active_.set(std::move(rules));
  return true;
}

// Signals are caught from here on, before /livez can answer: a SIGHUP sent as soon as the daemon
// looks alive must reload, not kill it (the default action).
void Daemon::catch_signals() {
  stop_signals_.emplace(io_, SIGINT, SIGTERM);
  reload_signal_.emplace(io_, SIGHUP);
}

void Daemon::make_api() {
  api_options_.rate_per_second = config_.api_rate_per_second;
  api_options_.rate_burst = config_.api_rate_burst;
  api_options_.max_page_size = config_.api_max_page_size;
  api_options_.default_page_size = std::min(50, config_.api_max_page_size);
  api_options_.secure_cookies = !config_.api_tls_cert.empty();
  api_options_.standing_cache_ttl = std::chrono::seconds(config_.api_standing_cache_s);
  api_options_.history_cache_ttl = std::chrono::seconds(config_.api_history_cache_s);
  if (auto key = signing_key_path(config_)) {
    api_options_.signing_key_file = *key;
  } else {
    spdlog::warn("agreement records are not served: {}", key.error());
  }
  api_ = std::make_unique<api::Api>(*db_, [this] { return active_.get(); }, clock_, metrics_, api_options_);
}

// This instance's share of the partners when several share the database (docs/scaling.md). Its
// name, shard count and lease time hold until a restart; the name survives a restart too (kept in
// the state directory), so a restarted instance holds its own leases again at once.
void Daemon::join_cluster() {
  identity_.emplace(InstanceIdentity::acquire(config_));
  cluster_ = std::make_unique<Cluster>(
      *db_, identity_->name(), config_.cluster_shards,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::seconds(config_.cluster_lease_ttl_s)), clock_);
  try {
    // The first heartbeat before READY=1: the instance starts with the shards it can hold (its own,
    // after a crash, at once), and the schedule evaluates them at once.
    const auto first = cluster_->heartbeat();
    spdlog::info("cluster: instance {} (name from {}): {} of {} shard(s) held, {} live instance(s)", identity_->name(),
                 identity_->origin(), cluster_->owned(clock_.now()).size(), cluster_->shards(), first.live_instances);
  } catch (const std::exception& e) {
    spdlog::error("cluster heartbeat: {}; /readyz says not ready until one succeeds", e.what());
  }
}

// The HTTP(S) listener: asynchronous connections under deadlines and caps, handlers on a pool
// (docs/design.md). HTTPS when a certificate is configured (the key is read once, at start).
void Daemon::make_listener() {
  api::HttpOptions o;
  o.tls_cert = config_.api_tls_cert;
  o.tls_key = config_.api_tls_key;
  o.idle_timeout = std::chrono::seconds(config_.api_idle_timeout_s);
  o.header_timeout = std::chrono::seconds(config_.api_header_timeout_s);
  o.body_timeout = std::chrono::seconds(config_.api_body_timeout_s);
  o.write_timeout = std::chrono::seconds(config_.api_write_timeout_s);
  o.max_connections = static_cast<std::size_t>(config_.api_max_connections);
  o.max_client_connections = static_cast<std::size_t>(config_.api_max_client_connections);
  o.max_body_bytes = api_options_.max_body_bytes;
  o.workers = config_.api_workers;
  http_ = std::make_unique<api::HttpServer>(o, metrics_);
  cluster_->register_metrics(metrics_);
  register_store_metrics();
  add_health_routes();
  api_->mount(*http_);
}

void Daemon::add_health_routes() {
  // Liveness answers on the I/O thread: no worker, store or lock can hold it up.
  http_->route("GET", "/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); },
               api::HttpServer::Run::inline_io);
  http_->route("GET", "/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
  http_->route("GET", "/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const bool reachable = db_->ping();
    const auto fault = db_->write_fault();  // reads may work while writes fail (disk full, read-only)
    const bool store_ok = reachable && !fault;
    const bool rules_ok = active_.get() != nullptr;
    // Whether this instance can do its share of the work: after a crash, a restart under another
    // name would wait out its predecessor's leases, and says so here.
    const auto cluster_state = cluster_->not_ready(clock_.now());
    const bool ready = store_ok && rules_ok && !cluster_state;
    nlohmann::json body{{"status", ready ? "ready" : "not ready"},
                        {"checks",
                         {{"store", !reachable ? std::string("unreachable") : fault ? "not writable: " + *fault : std::string("ok")},
                          {"rules", rules_ok ? "ok" : "not loaded"},
                          {"cluster", cluster_state.value_or("ok")}}}};
    res.status = ready ? 200 : 503;
    res.set_content(body.dump() + "\n", "application/json");
  });
}

// Read from the store at each render.
void Daemon::register_store_metrics() {
  using Samples = core::ComputedFamily::Samples;
  metrics_.computed({"pactwatch_outbox_deliveries", core::MetricType::gauge,
                     "Notification deliveries by state (pending is the outbox depth).", {"state"}},
                    [this] {
                      Samples out;
                      try {
                        for (const auto& [status, n] : db_->outbox().delivery_counts()) out.push_back({{status}, n});
                      } catch (const store::StoreError&) {
                        // The store is unreachable: /readyz says so; the other metrics still answer.
                      }
                      return out;
                    });
  metrics_.computed({"pactwatch_store_writable", core::MetricType::gauge,
                     "1 while the store takes writes; 0 after a write failed for want of storage (disk full, read-only, I/O "
                     "error) until a commit succeeds.",
                     {}},
                    [this] { return Samples{{{}, db_->write_fault() ? 0 : 1}}; });
  // Disputes and corrections awaiting an answer (docs/disputes.md), by partner, kind and age.
  metrics_.computed({"pactwatch_disputes_open", core::MetricType::gauge,
                     "Disputes and corrections awaiting the other party's answer, by how long they have waited "
                     "(under_1d, 1d_to_7d, over_7d).",
                     {"partner", "kind", "age"}},
                    [this] {
                      std::map<core::LabelValues, std::int64_t> n;
                      try {
                        const auto now = clock_.now();
                        for (const auto& d : db_->disputes().open_all()) {
                          const auto age = now - d.opened_at;
                          const char* bucket = age < std::chrono::days(1) ? "under_1d" : age < std::chrono::days(7) ? "1d_to_7d" : "over_7d";
                          ++n[{d.subject.partner, std::string(core::to_string(d.kind)), bucket}];
                        }
                      } catch (const store::StoreError&) {
                      }
                      return Samples(n.begin(), n.end());
                    });
  metrics_.computed({"pactwatch_disputes_oldest_open_seconds", core::MetricType::gauge,
                     "How long the oldest open dispute or correction of each partner has waited, in seconds.",
                     {"partner", "kind"}},
                    [this] {
                      std::map<core::LabelValues, std::int64_t> oldest;
                      try {
                        const auto now = clock_.now();
                        for (const auto& d : db_->disputes().open_all()) {
                          const auto s = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(now - d.opened_at).count());
                          auto& v = oldest[{d.subject.partner, std::string(core::to_string(d.kind))}];
                          v = std::max(v, s);
                        }
                      } catch (const store::StoreError&) {
                      }
                      return Samples(oldest.begin(), oldest.end());
                    });
}

bool Daemon::listen() {
  if (auto listening = http_->listen(config_.listen_host, config_.listen_port); !listening) {
    spdlog::error("{}", listening.error());
    cluster_->leave();  // the shards the first heartbeat took go back at once
    return false;
  }
  return true;
}

void Daemon::run_loop() {
  scheduler_ = make_scheduler();
  start_watchdog();
  reload_thread_.emplace(1);
  wait_reload();
  wait_stop();
  watch_agreements();
  spdlog::info("listening on {}://{}:{} (GET /livez, /readyz, /metrics; API at /v1, portal at /portal)",
               http_->tls() ? "https" : "http", config_.listen_host, config_.listen_port);
  scheduler_->start();
  notify_systemd(("READY=1\nSTATUS=" + scheduler_->status_line()).c_str());
  io_.run();
}

std::unique_ptr<Scheduler> Daemon::make_scheduler() {
  auto s = std::make_unique<Scheduler>(io_, *current_, *db_, [this] { return active_.get(); }, clock_, *cluster_, job_metrics_);
  s->on_status = [](const std::string& line) { notify_systemd(("STATUS=" + line).c_str()); };
  return s;
}

void Daemon::feed_watchdog() {
  notify_systemd("WATCHDOG=1");
  watchdog_.expires_after(std::chrono::microseconds(watchdog_usec_ / 2));
  watchdog_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) feed_watchdog();
  });
}

void Daemon::start_watchdog() {
  if (sd_watchdog_enabled(0, &watchdog_usec_) > 0 && watchdog_usec_ > 0) {
    spdlog::info("systemd watchdog every {} ms", watchdog_usec_ / 2000);
    feed_watchdog();
  }
}

void Daemon::wait_reload() {
  reload_signal_->async_wait([this](const boost::system::error_code& ec, int) {
    if (ec || stopping_) return;
    if (reloading_) reload_again_ = true;
    else start_reload();
    wait_reload();
  });
}

void Daemon::start_reload() {
  reloading_ = true;
  notify_systemd("RELOADING=1");
  if (!config_path_.empty()) spdlog::info("SIGHUP: reloading {} and the rules", config_path_.string());
  else spdlog::info("SIGHUP: reloading the rules");
  boost::asio::post(*reload_thread_, [this, in_force = std::make_shared<const config::Config>(*current_)] {
    auto staged = std::make_shared<std::optional<Staged>>(stage(config_path_, *in_force, *db_, clock_));
    boost::asio::post(io_, [this, staged] { apply_staged(staged); });
  });
}

// On the loop, with what the reload thread validated (or nothing, when it was invalid).
void Daemon::apply_staged(const std::shared_ptr<std::optional<Staged>>& staged) {
  if (stopping_) return;
  if (!*staged) {
    finish_reload();  // nothing changed
    return;
  }
  active_.set((*staged)->rules);
  if (!(*staged)->config) {
    finish_reload();
    return;
  }
  // The schedule restarts under the new config: the old one is asked to stop here, waited for on
  // the reload thread, and destroyed on the loop (after its timers' last handlers).
  std::shared_ptr<Scheduler> old(std::move(scheduler_));
  std::shared_ptr<const config::Config> old_config(std::move(current_));  // the old schedule reads it until destroyed
  current_ = std::move((*staged)->config);
  old->request_stop();
  restart_schedule(std::move(old), std::move(old_config));
}

void Daemon::restart_schedule(std::shared_ptr<Scheduler> old, std::shared_ptr<const config::Config> old_config) {
  boost::asio::post(*reload_thread_, [this, old = std::move(old), old_config = std::move(old_config)]() mutable {
    old->join();
    boost::asio::post(io_, [this, old = std::move(old), old_config = std::move(old_config)]() mutable {
      old.reset();
      old_config.reset();
      if (stopping_) return;
      scheduler_ = make_scheduler();
      scheduler_->start();
      spdlog::info("config reloaded: {} source(s), {} notification channel(s)", current_->sources.size(),
                   current_->channels.size());
      finish_reload();
    });
  });
}

void Daemon::finish_reload() {
  reloading_ = false;
  notify_systemd(("READY=1\nSTATUS=" + scheduler_->status_line()).c_str());
  if (reload_again_ && !stopping_) {
    reload_again_ = false;
    start_reload();
  }
}

// Every few seconds, off the loop: when an act was recorded since the last look, the recorded
// approvals are applied again to (a copy of) the rule set in force and the loop swaps it in. It
// takes the reload's turn, so a SIGHUP reload and a refresh never race; a store that cannot be
// read now is looked at again next time.
void Daemon::watch_agreements() {
  constexpr auto kAgreementsPoll = std::chrono::seconds(5);
  agreements_timer_.expires_after(kAgreementsPoll);
  agreements_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (reloading_) {
      watch_agreements();
      return;
    }
    reloading_ = true;
    boost::asio::post(*reload_thread_, [this, in_force = active_.get()] {
      std::shared_ptr<const rules::RuleSet> next;
      try {
        const auto seq = db_->agreements().last_seq();
        if (seq != agreements_seen_) {
          auto copy = std::make_shared<rules::RuleSet>(*in_force);
          if (auto problems = ledger::enforce_recorded(*copy, *db_); problems.empty()) {
            next = std::move(copy);
            agreements_seen_ = seq;
          } else {
            agreements_seen_ = seq;  // said once per new act, not every poll
            log_diagnostics(problems);
            spdlog::error("the recorded approvals enforce overlapping versions; keeping the rules in force");
          }
        }
      } catch (const store::StoreError& e) {
        spdlog::debug("cannot read the recorded approvals now: {}", e.what());
      }
      boost::asio::post(io_, [this, next] {
        if (next && !stopping_) {
          std::size_t enforced = 0;
          for (const auto& c : next->contracts) enforced += c.enforced ? 1 : 0;
          spdlog::info("contract acts recorded: {} contract version(s) enforced", enforced);
          active_.set(next);
        }
        reloading_ = false;
        if (stopping_) return;
        if (reload_again_) {
          reload_again_ = false;
          start_reload();
        }
        watch_agreements();
      });
    });
  });
}

void Daemon::wait_stop() {
  stop_signals_->async_wait([this](const boost::system::error_code& ec, int signo) {
    if (!ec) stop(signo);
  });
}

// The order matters: work first (so nothing writes under a lease about to go), then the leases
// (other instances take this one's shards at once, not after the lease time), the listener last.
void Daemon::stop(int signo) {
  const auto stop_began = std::chrono::steady_clock::now();
  spdlog::info("{}: stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
  notify_systemd("STOPPING=1");
  stopping_ = true;
  reload_signal_->cancel();
  watchdog_.cancel();
  agreements_timer_.cancel();
  // Everything running is asked to stop at once: syncs between pages (a request in flight is
  // abandoned, a dropped file's import rolled back), evaluations between contract periods,
  // deliveries mid-request; each leaves its work to be done again after the restart.
  if (scheduler_) scheduler_->request_stop();
  reload_thread_->join();  // a reload in flight: its old schedule stops the same way
  if (scheduler_) scheduler_->join();
  cluster_->leave();  // other instances take this one's shards at once, not after the lease time
  http_->stop();
  spdlog::info("work stopped and leases given back in {} ms",
               std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stop_began).count());
}

}  // namespace

int serve(const config::Config& config, const core::Clock& clock, const std::filesystem::path& config_path) {
  return Daemon(config, clock, config_path).run();
}

}  // namespace pactwatch::app
