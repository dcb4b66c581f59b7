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
#include "pactwatch/app/scheduler.h"
#include "pactwatch/rules/rule_set.h"
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
  auto loaded = rules::load_rule_set(config.rules_dir);
  if (!loaded) {
    log_diagnostics(loaded.error());
    spdlog::error("rules in {} are invalid ({} problem(s))", config.rules_dir, loaded.error().size());
    return nullptr;
  }
  try {
    db.sync_partners(to_store(loaded->partners), clock.now());
  } catch (const store::StoreError& e) {
    spdlog::error("cannot store the partners: {}", e.what());
    return nullptr;
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

}  // namespace

int serve(const config::Config& initial_config, const core::Clock& clock, const std::filesystem::path& config_path) {
  // The config in force; a SIGHUP may replace it (and the scheduler that reads it).
  auto current = std::make_unique<config::Config>(initial_config);
  const config::Config& config = initial_config;  // listen address and database: fixed until a restart
  spdlog::info("pactwatch starting: store {}, rules {}, listen {}:{}", config.database_url, config.rules_dir,
               config.listen_host, config.listen_port);

  if (!secrets_usable(config, config_path)) {
    spdlog::error("secrets named in the config cannot be read; not starting");
    return 1;
  }
  auto password = config::read_secret(config.database_password, "database password");
  if (!password) {
    spdlog::error("{}", password.error());
    return 1;
  }
  auto opened = store::Store::open({config.database_url, *password, config.database_pool_size, 0,
                                    std::chrono::seconds(config.database_statement_timeout_s)});
  if (!opened) {
    spdlog::error("{}", opened.error());
    return 1;
  }
  std::unique_ptr<store::Store> db = std::move(*opened);
  try {
    const int applied = db->migrate(clock.now());
    db->check_writable();  // a store that cannot take writes is refused now, not at the first page
    const auto status = db->schema_status();
    spdlog::info("store ready ({}, schema version {}, {} migration(s) applied now)", store::to_string(db->backend()),
                 status.current, applied);
  } catch (const store::StoreError& e) {
    spdlog::error("{}", e.what());
    return 1;
  }

  ActiveRules active;
  if (auto rules = load_rules(config, *db, clock)) active.set(std::move(rules));
  else return 1;

  // Signals are caught from here on, before /livez can answer: a SIGHUP sent as soon as the daemon
  // looks alive must reload, not kill it (the default action).
  boost::asio::io_context io;
  boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set reload_signal(io, SIGHUP);

  api::ApiOptions api_options;
  api_options.rate_per_second = config.api_rate_per_second;
  api_options.rate_burst = config.api_rate_burst;
  api_options.max_page_size = config.api_max_page_size;
  api_options.default_page_size = std::min(50, config.api_max_page_size);
  api_options.secure_cookies = !config.api_tls_cert.empty();
  api_options.standing_cache_ttl = std::chrono::seconds(config.api_standing_cache_s);
  api_options.history_cache_ttl = std::chrono::seconds(config.api_history_cache_s);
  api::Api api(*db, [&active] { return active.get(); }, clock, api_options);
  // This instance's share of the partners when several share the database (docs/scaling.md). Its
  // name, shard count and lease time hold until a restart; the name survives a restart too (kept
  // in the state directory), so a restarted instance holds its own leases again at once.
  const auto identity = InstanceIdentity::acquire(config);
  Cluster cluster(*db, identity.name(), config.cluster_shards,
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::seconds(config.cluster_lease_ttl_s)), clock);
  try {
    // The first heartbeat before READY=1: the instance starts with the shards it can hold (its own,
    // after a crash, at once), and the schedule evaluates them at once.
    const auto first = cluster.heartbeat();
    spdlog::info("cluster: instance {} (name from {}): {} of {} shard(s) held, {} live instance(s)", identity.name(),
                 identity.origin(), cluster.owned(clock.now()).size(), cluster.shards(), first.live_instances);
  } catch (const std::exception& e) {
    spdlog::error("cluster heartbeat: {}; /readyz says not ready until one succeeds", e.what());
  }
  // The HTTP(S) listener: asynchronous connections under deadlines and caps, handlers on a pool
  // (docs/design.md). HTTPS when a certificate is configured (the key is read once, at start).
  api::HttpOptions http_options;
  http_options.tls_cert = config.api_tls_cert;
  http_options.tls_key = config.api_tls_key;
  http_options.idle_timeout = std::chrono::seconds(config.api_idle_timeout_s);
  http_options.header_timeout = std::chrono::seconds(config.api_header_timeout_s);
  http_options.body_timeout = std::chrono::seconds(config.api_body_timeout_s);
  http_options.write_timeout = std::chrono::seconds(config.api_write_timeout_s);
  http_options.max_connections = static_cast<std::size_t>(config.api_max_connections);
  http_options.max_client_connections = static_cast<std::size_t>(config.api_max_client_connections);
  http_options.max_body_bytes = api_options.max_body_bytes;
  http_options.workers = config.api_workers;
  api::HttpServer http(http_options);
  const bool tls = http.tls();
  // Liveness answers on the I/O thread: no worker, store or lock can hold it up.
  http.route("GET", "/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); },
             api::HttpServer::Run::inline_io);
  http.route("GET", "/metrics", [&db, &api, &http, &cluster, &clock](const httplib::Request&, httplib::Response& res) {
    std::string body = sources::metrics().prometheus() + Dispatcher::prometheus() + evaluation_metrics() + api.prometheus() +
                       http.prometheus() + cluster.prometheus(clock.now());
    body += "# HELP pactwatch_outbox_deliveries Notification deliveries by state (pending is the outbox depth).\n"
            "# TYPE pactwatch_outbox_deliveries gauge\n";
    try {
      for (const auto& [status, n] : db->delivery_counts()) {
        body += "pactwatch_outbox_deliveries{state=\"" + status + "\"} " + std::to_string(n) + "\n";
      }
    } catch (const store::StoreError&) {
      // The store is unreachable: /readyz says so; the other metrics still answer.
    }
    body += "# HELP pactwatch_store_writable 1 while the store takes writes; 0 after a write failed for want of storage "
            "(disk full, read-only, I/O error) until a commit succeeds.\n"
            "# TYPE pactwatch_store_writable gauge\npactwatch_store_writable " +
            std::string(db->write_fault() ? "0" : "1") + "\n";
    res.set_content(body, "text/plain; version=0.0.4");
  });
  http.route("GET", "/readyz", [&](const httplib::Request&, httplib::Response& res) {
    const bool reachable = db->ping();
    const auto fault = db->write_fault();  // reads may work while writes fail (disk full, read-only)
    const bool store_ok = reachable && !fault;
    const bool rules_ok = active.get() != nullptr;
    // Whether this instance can do its share of the work: after a crash, a restart under another
    // name would wait out its predecessor's leases, and says so here.
    const auto cluster_state = cluster.not_ready(clock.now());
    const bool ready = store_ok && rules_ok && !cluster_state;
    nlohmann::json body{{"status", ready ? "ready" : "not ready"},
                        {"checks",
                         {{"store", !reachable ? std::string("unreachable") : fault ? "not writable: " + *fault : std::string("ok")},
                          {"rules", rules_ok ? "ok" : "not loaded"},
                          {"cluster", cluster_state.value_or("ok")}}}};
    res.status = ready ? 200 : 503;
    res.set_content(body.dump() + "\n", "application/json");
  });

  api.mount(http);

  if (auto listening = http.listen(config.listen_host, config.listen_port); !listening) {
    spdlog::error("{}", listening.error());
    cluster.leave();  // the shards the first heartbeat took go back at once
    return 1;
  }

  auto make_scheduler = [&] {
    auto s = std::make_unique<Scheduler>(io, *current, *db, [&] { return active.get(); }, clock, cluster);
    s->on_status = [](const std::string& line) { notify_systemd(("STATUS=" + line).c_str()); };
    return s;
  };
  auto scheduler = make_scheduler();
  // The watchdog is fed from the event loop, so a stuck loop stops feeding it.
  boost::asio::steady_timer watchdog(io);
  std::uint64_t watchdog_usec = 0;
  std::function<void()> feed_watchdog = [&] {
    notify_systemd("WATCHDOG=1");
    watchdog.expires_after(std::chrono::microseconds(watchdog_usec / 2));
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) feed_watchdog();
    });
  };
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
    spdlog::info("systemd watchdog every {} ms", watchdog_usec / 2000);
    feed_watchdog();
  }

  // Reloads run on a thread of their own, never on the event loop: validating a config and its
  // rules, and waiting for the old schedule's running work to stop, may take seconds, while the
  // loop must go on feeding the watchdog and answering signals. The loop only swaps what was
  // validated. A SIGHUP during a reload runs another reload after it.
  boost::asio::thread_pool reload_thread(1);
  bool reloading = false, reload_again = false, stopping = false;
  std::function<void()> start_reload;
  auto finish_reload = [&] {
    reloading = false;
    notify_systemd(("READY=1\nSTATUS=" + scheduler->status_line()).c_str());
    if (reload_again && !stopping) {
      reload_again = false;
      start_reload();
    }
  };
  start_reload = [&] {
    reloading = true;
    notify_systemd("RELOADING=1");
    if (!config_path.empty()) spdlog::info("SIGHUP: reloading {} and the rules", config_path.string());
    else spdlog::info("SIGHUP: reloading the rules");
    boost::asio::post(reload_thread, [&, in_force = std::make_shared<const config::Config>(*current)] {
      auto staged = std::make_shared<std::optional<Staged>>(stage(config_path, *in_force, *db, clock));
      boost::asio::post(io, [&, staged] {
        if (stopping) return;
        if (!*staged) {
          finish_reload();  // nothing changed
          return;
        }
        active.set((*staged)->rules);
        if (!(*staged)->config) {
          finish_reload();
          return;
        }
        // The schedule restarts under the new config: the old one is asked to stop here, waited
        // for on the reload thread, and destroyed on the loop (after its timers' last handlers).
        std::shared_ptr<Scheduler> old(std::move(scheduler));
        std::shared_ptr<const config::Config> old_config(std::move(current));  // the old schedule reads it until destroyed
        current = std::move((*staged)->config);
        old->request_stop();
        boost::asio::post(reload_thread, [&, old = std::move(old), old_config = std::move(old_config)]() mutable {
          old->join();
          boost::asio::post(io, [&, old = std::move(old), old_config = std::move(old_config)]() mutable {
            old.reset();
            old_config.reset();
            if (stopping) return;
            scheduler = make_scheduler();
            scheduler->start();
            spdlog::info("config reloaded: {} source(s), {} notification channel(s)", current->sources.size(),
                         current->channels.size());
            finish_reload();
          });
        });
      });
    });
  };
  std::function<void()> wait_reload = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec || stopping) return;
      if (reloading) reload_again = true;
      else start_reload();
      wait_reload();
    });
  };
  wait_reload();
  stop_signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    const auto stop_began = std::chrono::steady_clock::now();
    spdlog::info("{}: stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
    notify_systemd("STOPPING=1");
    stopping = true;
    reload_signal.cancel();
    watchdog.cancel();
    // Everything running is asked to stop at once: syncs between pages (a request in flight is
    // abandoned, a dropped file's import rolled back), evaluations between contract periods,
    // deliveries mid-request; each leaves its work to be done again after the restart.
    if (scheduler) scheduler->request_stop();
    reload_thread.join();  // a reload in flight: its old schedule stops the same way
    if (scheduler) scheduler->join();
    cluster.leave();  // other instances take this one's shards at once, not after the lease time
    http.stop();
    spdlog::info("work stopped and leases given back in {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stop_began).count());
  });

  spdlog::info("listening on {}://{}:{} (GET /livez, /readyz, /metrics; API at /v1, portal at /portal)", tls ? "https" : "http",
               config.listen_host, config.listen_port);
  scheduler->start();
  notify_systemd(("READY=1\nSTATUS=" + scheduler->status_line()).c_str());
  io.run();
  spdlog::info("stopped");
  return 0;
}

}  // namespace pactwatch::app
