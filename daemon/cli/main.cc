// pactwatch's command line: one executable, subcommands. Exit codes: 0 success, 1 failure (bad
// config, store error, invalid rules), 2 usage error (unknown subcommand or flag).
//
// main() sets up the global options, lets each command file register its subcommands
// (context.h lists them, in the order --help shows them) and dispatches.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

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

// Edit distance (insertions, deletions, substitutions), for suggesting the command meant.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The word on the command line that names no command where one is expected (`pactwatch evl`,
// `pactwatch dispute lst`), with the command path before it and the nearest command's name; empty
// when every word named a command. Global options and their values are passed over.
struct Unknown {
  std::string path, word, nearest;
  const CLI::App* level = nullptr;  // the command whose subcommands were expected
};
std::optional<Unknown> unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* level = &app;
  std::string path = "pactwatch";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "-c" || word == "--config" || word == "--log-format" || word == "--log-level") {
      ++i;
      continue;
    }
    if (word.starts_with("-")) {
      if (word.find('=') != std::string::npos) continue;
      return std::nullopt;  // a command's own option: what follows is its business
    }
    const auto subs = level->get_subcommands([](const CLI::App*) { return true; });
    if (subs.empty()) return std::nullopt;
    const CLI::App* next = nullptr;
    for (const auto* sub : subs) {
      if (sub->get_name() == word) next = sub;
    }
    if (next) {
      level = next;
      path += " " + word;
      continue;
    }
    Unknown u{path, word, {}, level};
    std::size_t best = word.size() / 2 + 2;  // nothing nearer than this is no suggestion
    for (const auto* sub : subs) {
      const std::size_t d = distance(word, sub->get_name());
      if (d < best) {
        best = d;
        u.nearest = sub->get_name();
      }
    }
    return u;
  }
  return std::nullopt;
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
    if (const auto u = unknown_command(app, argc, argv)) {
      std::cerr << "pactwatch: '" << u->word << "' is not a command of " << u->path
                << (u->nearest.empty() ? std::string() : "; did you mean '" + u->path + " " + u->nearest + "'?") << " ("
                << u->path << " --help lists them)\n\n"
                << u->level->help();
      return cli::kExitUsage;
    }
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
