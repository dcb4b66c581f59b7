// What every subcommand shares: the global options, the --rules and --db of the subcommands that
// take them, how the config is loaded, and the exit code a subcommand's callback sets. main()
// owns one Context; each command file registers its subcommands against it.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "pactwatch/config/config.h"
#include "pactwatch/core/diagnostic.h"

namespace pactwatch::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

void print_diagnostics(const core::Diagnostics& ds);

class Context {
 public:
  std::string config_path{config::kDefaultConfigPath};
  std::string log_format;
  std::string log_level;
  CLI::Option* config_option = nullptr;  // -c/--config: given, or its default
  StoreArgs store;                       // --rules and --db of the subcommands that take them
  int rc = kExitOk;                      // set by the subcommand that ran

  // True when -c/--config was given on the command line.
  [[nodiscard]] bool config_explicit() const { return config_option && config_option->count() > 0; }
  // Loads the config and applies command-line overrides; prints problems and returns nullopt on error.
  [[nodiscard]] std::optional<config::Config> load() const;
  // With --rules and --db a config file is optional (as with check --rules).
  [[nodiscard]] std::optional<config::Config> config_for() const;
  // Adds --rules and --db to a subcommand.
  void add_store_args(CLI::App* sub);
  // A subcommand's arguments, kept until the command line has been parsed and run.
  template <typename T>
  T& hold() {
    auto p = std::make_shared<T>();
    held_.push_back(p);
    return *p;
  }

 private:
  std::vector<std::shared_ptr<void>> held_;
};

// Each command file registers its subcommands; main() calls them in this order, which is the
// order `pactwatch --help` lists them in.
void register_admin_commands(CLI::App& app, Context& ctx);         // serve, check, contract, db, config
// contract status|propose|approve|reject|withdraw|comment|adopt|record|verify|public-key, under
// `contract` (admin's).
void register_contract_lifecycle(CLI::App* contract, Context& ctx);
void register_calendar_command(CLI::App& app, Context& ctx);       // calendar
void register_item_commands(CLI::App& app, Context& ctx);          // import, eval
void register_compensation_commands(CLI::App& app, Context& ctx);  // period, ledger, report, what-if
void register_source_commands(CLI::App& app, Context& ctx);        // sources
void register_outbox_commands(CLI::App& app, Context& ctx);        // outbox
void register_token_commands(CLI::App& app, Context& ctx);         // token
void register_dispute_commands(CLI::App& app, Context& ctx);       // dispute list|show|accept|reject|comment
void register_correction_commands(CLI::App& app, Context& ctx);    // correction declare|list|show|withdraw|comment
void register_gen_command(CLI::App& app, Context& ctx);            // gen
void register_test_command(CLI::App& app, Context& ctx);           // test

}  // namespace pactwatch::cli
