// pactwatch's command line: one executable, subcommands. Exit codes: 0 success, 1 failure (bad
// config, store error, invalid rules), 2 usage error (unknown subcommand or flag).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>

#include "pactwatch/app/daemon.h"
#include "pactwatch/app/logging.h"
#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/core/version.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace {

using namespace pactwatch;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string config_path{config::kDefaultConfigPath};
  std::string log_format;
  std::string log_level;
};

void print_diagnostics(const core::Diagnostics& ds) {
  for (const auto& d : ds) std::cerr << d.to_string() << '\n';
}

// Loads the config and applies command-line overrides; prints problems and returns nullopt on error.
std::optional<config::Config> load(const GlobalOptions& g) {
  auto loaded = config::load_config(g.config_path);
  if (!loaded) {
    print_diagnostics(loaded.error());
    std::cerr << g.config_path << ": " << loaded.error().size() << " problem(s)\n";
    return std::nullopt;
  }
  config::Config c = *loaded;
  if (!g.log_format.empty()) c.log_format = g.log_format == "json" ? config::LogFormat::json : config::LogFormat::text;
  if (!g.log_level.empty()) c.log_level = g.log_level;
  app::setup_logging(c.log_format, c.log_level);
  return c;
}

std::unique_ptr<store::Store> open_store(const config::Config& c) {
  auto password = config::read_secret(c.database_password, "database password");
  if (!password) {
    std::cerr << password.error() << '\n';
    return nullptr;
  }
  auto s = store::Store::open({c.database_url, *password, 1});
  if (!s) {
    std::cerr << s.error() << '\n';
    return nullptr;
  }
  return std::move(*s);
}

int cmd_check(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  auto rules = rules::load_rule_set(c->rules_dir);
  if (!rules) {
    print_diagnostics(rules.error());
    std::cerr << c->rules_dir << ": " << rules.error().size() << " problem(s)\n";
    return kExitFailure;
  }
  std::cout << g.config_path << ": ok\n"
            << c->rules_dir << ": ok (" << rules->partners.size() << " partner(s))\n";
  return kExitOk;
}

int cmd_db_migrate(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  auto db = open_store(*c);
  if (!db) return kExitFailure;
  try {
    const core::SystemClock clock;
    const int applied = db->migrate(clock.now());
    const auto st = db->schema_status();
    std::cout << "applied " << applied << " migration(s); schema version " << st.current << " of " << st.latest
              << " (" << store::to_string(st.backend) << ")\n";
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return kExitFailure;
  }
  return kExitOk;
}

int cmd_db_status(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  auto db = open_store(*c);
  if (!db) return kExitFailure;
  try {
    const auto st = db->schema_status();
    std::cout << "backend: " << store::to_string(st.backend) << "\nschema version: " << st.current << " of "
              << st.latest << (st.up_to_date() ? " (up to date)" : st.current > st.latest ? " (newer than this pactwatch)" : " (migrations pending: run 'pactwatch db migrate')") << '\n';
    for (const auto& m : st.migrations) {
      char num[16];
      std::snprintf(num, sizeof num, "%04d", m.version);
      std::cout << "  " << num << "  " << m.name << "  " << (m.applied_at ? "applied " + *m.applied_at : "pending")
                << '\n';
    }
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return kExitFailure;
  }
  return kExitOk;
}

int cmd_serve(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  const core::SystemClock clock;
  return app::serve(*c, clock);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pactwatch: monitors partner SLA and KPI contracts and computes what they pay", "pactwatch"};
  app.set_version_flag("--version", std::string(core::version()) + " (git " + std::string(core::git_revision()) + ")");
  app.require_subcommand(1);
  // Global options may follow the subcommand: `pactwatch check --config bad.yaml`.
  app.fallthrough();

  GlobalOptions g;
  app.add_option("-c,--config", g.config_path, "Configuration file")->capture_default_str();
  app.add_option("--log-format", g.log_format, "Log format, overrides the config")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", g.log_level, "Log level, overrides the config")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  int rc = kExitOk;
  auto* serve = app.add_subcommand("serve", "Run the daemon in the foreground until SIGTERM or SIGINT");
  serve->callback([&] { rc = cmd_serve(g); });
  auto* check = app.add_subcommand("check", "Validate the config file and the rules; exit 0 when valid, 1 otherwise");
  check->callback([&] { rc = cmd_check(g); });

  auto* db = app.add_subcommand("db", "Store administration");
  db->require_subcommand(1);
  db->add_subcommand("migrate", "Apply pending schema migrations")->callback([&] { rc = cmd_db_migrate(g); });
  db->add_subcommand("status", "Show the schema version and migrations")->callback([&] { rc = cmd_db_status(g); });

  auto* cfg = app.add_subcommand("config", "Configuration helpers");
  cfg->require_subcommand(1);
  cfg->add_subcommand("defaults", "Print every setting with its default and meaning")->callback([&] {
    std::cout << config::defaults_yaml();
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "pactwatch: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return kExitFailure;
  }
  return rc;
}
