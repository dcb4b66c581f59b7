// pactwatch's command line: one executable, subcommands. Exit codes: 0 success, 1 failure (bad
// config, store error, invalid rules), 2 usage error (unknown subcommand or flag).
//
// main() sets up the global options, lets each command file register its subcommands
// (context.h lists them, in the order --help shows them) and dispatches.
#include <CLI/CLI.hpp>

#include <iostream>

#include "context.h"
#include "pactwatch/core/version.h"

namespace {

using namespace pactwatch;

// The global options, which may also follow the subcommand: `pactwatch check --config bad.yaml`.
void add_global_options(CLI::App& app, cli::Context& ctx) {
  app.set_version_flag("--version", std::string(core::version()) + " (git " + std::string(core::git_revision()) + ")");
  app.require_subcommand(1);
  app.fallthrough();
  ctx.config_option = app.add_option("-c,--config", ctx.config_path, "Configuration file")->capture_default_str();
  app.add_option("--log-format", ctx.log_format, "Log format, overrides the config")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", ctx.log_level, "Log level, overrides the config")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

// Parses the command line and runs the subcommand it names; its exit code.
int dispatch(CLI::App& app, const cli::Context& ctx, int argc, char** argv) {
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
    return cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "pactwatch: " << e.what() << '\n';
    return cli::kExitFailure;
  }
  return ctx.rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pactwatch: monitors partner SLA and KPI contracts and computes what they pay", "pactwatch"};
  cli::Context ctx;
  add_global_options(app, ctx);
  for (auto* add : {cli::register_admin_commands, cli::register_calendar_command, cli::register_item_commands,
                    cli::register_compensation_commands, cli::register_source_commands, cli::register_outbox_commands,
                    cli::register_token_commands, cli::register_dispute_commands, cli::register_correction_commands,
                    cli::register_gen_command,
                    cli::register_test_command}) {
    add(app, ctx);
  }
  return dispatch(app, ctx, argc, argv);
}
