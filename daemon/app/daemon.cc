#include <utility>  // must precede Boost.Asio with Boost 1.74 and GCC 12 in C++23 mode

#include "pactwatch/app/daemon.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
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

// The one reload path (start-up and SIGHUP): validate aside, then swap and sync; on any error keep
// the rules in force and say why.
bool reload_rules(const config::Config& config, store::Store& db, ActiveRules& active, const core::Clock& clock) {
  auto loaded = rules::load_rule_set(config.rules_dir);
  if (!loaded) {
    log_diagnostics(loaded.error());
    spdlog::error("rules in {} are invalid ({} problem(s)); keeping the rules in force", config.rules_dir,
                  loaded.error().size());
    return false;
  }
  try {
    db.sync_partners(to_store(loaded->partners), clock.now());
  } catch (const store::StoreError& e) {
    spdlog::error("cannot store the partners: {}; keeping the rules in force", e.what());
    return false;
  }
  std::size_t enforced = 0;
  for (const auto& c : loaded->contracts) enforced += c.enforced ? 1 : 0;
  spdlog::info("rules loaded from {}: {} partner(s), {} calendar(s), {} contract version(s) ({} enforced)",
               config.rules_dir, loaded->partners.size(), loaded->calendars.size(), loaded->contracts.size(), enforced);
  active.set(std::make_shared<const rules::RuleSet>(std::move(*loaded)));
  return true;
}

void notify_systemd(const char* state) { sd_notify(0, state); }

}  // namespace

int serve(const config::Config& initial_config, const core::Clock& clock, const std::filesystem::path& config_path) {
  // The config in force; a SIGHUP may replace it (and the scheduler that reads it).
  auto current = std::make_unique<config::Config>(initial_config);
  const config::Config& config = initial_config;  // listen address and database: fixed until a restart
  spdlog::info("pactwatch starting: store {}, rules {}, listen {}:{}", config.database_url, config.rules_dir,
               config.listen_host, config.listen_port);

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
  if (!reload_rules(config, *db, active, clock)) return 1;

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
  // name, shard count and lease time hold until a restart.
  Cluster cluster(*db, instance_name(config), config.cluster_shards,
                  std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::seconds(config.cluster_lease_ttl_s)), clock);
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
    nlohmann::json body{{"status", store_ok && rules_ok ? "ready" : "not ready"},
                        {"checks",
                         {{"store", !reachable ? std::string("unreachable") : fault ? "not writable: " + *fault : std::string("ok")},
                          {"rules", rules_ok ? "ok" : "not loaded"}}}};
    res.status = store_ok && rules_ok ? 200 : 503;
    res.set_content(body.dump() + "\n", "application/json");
  });

  api.mount(http);

  if (auto listening = http.listen(config.listen_host, config.listen_port); !listening) {
    spdlog::error("{}", listening.error());
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
  std::function<void()> wait_reload = [&] {
    reload_signal.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      notify_systemd("RELOADING=1");
      std::unique_ptr<config::Config> next;
      if (!config_path.empty()) {
        spdlog::info("SIGHUP: reloading {} and the rules", config_path.string());
        auto loaded = config::load_config(config_path);
        if (!loaded) {
          log_diagnostics(loaded.error());
          spdlog::error("{} is invalid ({} problem(s)); keeping the config in force", config_path.string(), loaded.error().size());
        } else {
          if (loaded->listen_host != config.listen_host || loaded->listen_port != config.listen_port ||
              loaded->database_url != config.database_url || loaded->database_pool_size != config.database_pool_size ||
              loaded->cluster_shards != config.cluster_shards || loaded->cluster_instance != config.cluster_instance ||
              loaded->cluster_lease_ttl_s != config.cluster_lease_ttl_s) {
            spdlog::warn("the listen address, the database and the cluster settings change only with a restart; the rest is "
                         "applied now");
          }
          next = std::make_unique<config::Config>(std::move(*loaded));
        }
      } else {
        spdlog::info("SIGHUP: reloading the rules");
      }
      if (next) {
        // Rules from the new rules_dir first: when they are invalid, nothing changes.
        if (reload_rules(*next, *db, active, clock)) {
          scheduler->stop();
          scheduler.reset();
          current = std::move(next);
          scheduler = make_scheduler();
          scheduler->start();
          spdlog::info("config reloaded: {} source(s), {} notification channel(s)", current->sources.size(), current->channels.size());
        }
      } else {
        reload_rules(*current, *db, active, clock);
      }
      notify_systemd("READY=1");
      wait_reload();
    });
  };
  wait_reload();
  stop_signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("{}: stopping", signo == SIGINT ? "SIGINT" : "SIGTERM");
    notify_systemd("STOPPING=1");
    reload_signal.cancel();
    watchdog.cancel();
    scheduler->stop();  // running syncs stop between pages; requests in flight are abandoned
    cluster.leave();    // other instances take this one's shards at once, not after the lease time
    http.stop();
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
