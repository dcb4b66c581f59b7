#include "context.h"

#include <filesystem>
#include <iostream>

#include "pactwatch/app/logging.h"
#include "pactwatch/ledger/agreements.h"

namespace pactwatch::cli {

void print_diagnostics(const core::Diagnostics& ds) {
  for (const auto& d : ds) std::cerr << d.to_string() << '\n';
}

bool enforce_recorded_or_report(rules::RuleSet& set, store::Store& db) {
  try {
    const auto problems = ledger::enforce_recorded(set, db);
    if (problems.empty()) return true;
    print_diagnostics(problems);
    std::cerr << set.dir.string() << ": " << problems.size() << " problem(s) with the recorded approvals; run 'pactwatch check'\n";
  } catch (const store::StoreError& e) {
    std::cerr << "pactwatch: cannot read the recorded approvals: " << e.what() << '\n';
  }
  return false;
}

std::optional<Session> open_session(const config::Config& config, const StoreArgs& s) {
  const std::string dir = s.rules_dir.empty() ? config.rules_dir : s.rules_dir;
  auto r = rules::load_rule_set(dir, rules::Enforcement::recorded_later);
  if (!r) {
    print_diagnostics(r.error());
    std::cerr << dir << ": " << r.error().size() << " problem(s); run 'pactwatch check'\n";
    return std::nullopt;
  }
  auto db = open_store(config, s.db_url, true);
  if (!db || !enforce_recorded_or_report(*r, *db)) return std::nullopt;
  return Session{std::move(*r), std::move(db)};
}

std::optional<config::Config> Context::load() const {
  auto loaded = config::load_config(config_path);
  if (!loaded) {
    print_diagnostics(loaded.error());
    std::cerr << config_path << ": " << loaded.error().size() << " problem(s)\n";
    return std::nullopt;
  }
  config::Config c = *loaded;
  if (!log_format.empty()) c.log_format = log_format == "json" ? config::LogFormat::json : config::LogFormat::text;
  if (!log_level.empty()) c.log_level = log_level;
  app::setup_logging(c.log_format, c.log_level);
  return c;
}

std::optional<config::Config> Context::config_for() const {
  if (!config_explicit() && !std::filesystem::exists(config_path)) {
    auto c = config::default_config();
    app::setup_logging(c.log_format, "warn");
    return c;
  }
  return load();
}

void Context::add_store_args(CLI::App* sub) {
  sub->add_option("--rules", store.rules_dir, "Rules directory instead of the config's rules_dir");
  sub->add_option("--db", store.db_url, "Database URL instead of the config's database.url");
}

}  // namespace pactwatch::cli
