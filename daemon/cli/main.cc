// pactwatch's command line: one executable, subcommands. Exit codes: 0 success, 1 failure (bad
// config, store error, invalid rules), 2 usage error (unknown subcommand or flag).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>

#include "commands.h"
#include "pactwatch/app/daemon.h"
#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/app/logging.h"
#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/core/version.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/sources/generate.h"
#include "pactwatch/store/store.h"

namespace {

using namespace pactwatch;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct GlobalOptions {
  std::string config_path{config::kDefaultConfigPath};
  bool config_explicit = false;
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

void print_contract_summary(const rules::RuleSet& set) {
  for (const auto& c : set.contracts) {
    std::cout << "  " << c.contract << " v" << c.version << " (" << c.partner << ", " << calendar::format_date(c.effective_from)
              << " to " << (c.effective_until ? calendar::format_date(*c.effective_until) : "open end") << "): "
              << (c.enforced ? "enforced" : "draft") << ", sha256 " << c.sha256.substr(0, 16) << "…, " << c.status_note
              << '\n';
  }
}

int cmd_check(const GlobalOptions& g, const std::string& rules_override) {
  config::Config c;
  const bool rules_only = !g.config_explicit && !rules_override.empty() && !std::filesystem::exists(g.config_path);
  std::size_t secret_problems = 0;
  if (rules_only) {
    c = config::default_config();  // checking a rules directory alone: no config file needed
  } else {
    auto loaded = load(g);
    if (!loaded) return kExitFailure;
    c = *loaded;
    // The secrets it names, read as serve reads them (as this user).
    const auto secrets = config::check_secrets(c, g.config_path);
    print_diagnostics(secrets.problems);
    print_diagnostics(secrets.unchecked);
    secret_problems = secrets.problems.size();
    if (secret_problems > 0) {
      std::cerr << g.config_path << ": " << secret_problems << " problem(s)\n";
    } else {
      std::cout << g.config_path << ": ok";
      if (!secrets.unchecked.empty()) std::cout << " (" << secrets.unchecked.size() << " credential(s) not checked here)";
      std::cout << '\n';
    }
  }
  if (!rules_override.empty()) c.rules_dir = rules_override;
  auto report = rules::check_rule_set(c.rules_dir);
  print_diagnostics(report.problems);
  const auto& set = report.set;
  std::cout << c.rules_dir << ": " << set.partners.size() << " partner(s), " << set.calendars.size() << " calendar(s), "
            << set.contracts.size() << " contract version(s)" << (report.problems.empty() ? "" : " loaded") << '\n';
  print_contract_summary(set);
  if (!report.problems.empty()) {
    std::cerr << c.rules_dir << ": " << report.problems.size() << " problem(s)\n";
    return kExitFailure;
  }
  return secret_problems == 0 ? kExitOk : kExitFailure;
}

int cmd_contract(const std::string& op, const std::string& file) {
  auto text = core::read_file(file);
  if (!text) {
    std::cerr << file << ": cannot read the contract file\n";
    return kExitFailure;
  }
  auto out = op == "hash" ? rules::contract_hash(*text, file) : rules::canonical_contract(*text, file);
  if (!out) {
    print_diagnostics(out.error());
    return kExitFailure;
  }
  std::cout << *out << '\n';
  return kExitOk;
}

int cmd_db_migrate(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  auto db = cli::open_store(*c, "", false);
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
  auto db = cli::open_store(*c, "", false);
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

// `pactwatch db explain`: the plans of the store's hot queries (docs/scaling.md).
int cmd_db_explain(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  auto db = cli::open_store(*c, "", true);
  if (!db) return kExitFailure;
  try {
    for (const auto& q : db->explain_hot_queries()) {
      std::cout << q.name << ":\n";
      for (const auto& line : q.plan) std::cout << "    " << line << '\n';
    }
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return kExitFailure;
  }
  return kExitOk;
}

// `pactwatch db leases`: who holds what when several instances share the database.
int cmd_db_leases(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  auto db = cli::open_store(*c, "", true);
  if (!db) return kExitFailure;
  try {
    const auto now = core::SystemClock().now();
    const auto leases = db->leases();
    if (leases.empty()) std::cout << "no leases (no instance has run serve on this database)\n";
    for (const auto& l : leases) {
      std::cout << l.name << "  " << l.holder << "  fence " << l.fence << "  "
                << (l.expires_at > now ? "until " : "expired ") << core::format_rfc3339(l.expires_at) << '\n';
    }
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return kExitFailure;
  }
  return kExitOk;
}

// `pactwatch calendar FILE OP ARGS`: answers one question about a calendar, for users debugging
// a calendar file and for tests.
struct CalendarArgs {
  std::string file;
  std::string t1;
  std::string t2;
  std::string amount;
  std::size_t count = 1;
  bool before = false;
};

std::optional<core::Instant> instant_arg(const std::string& text) {
  auto t = core::parse_rfc3339(text);
  if (!t) {
    std::cerr << "pactwatch: " << t.error() << '\n';
    return std::nullopt;
  }
  return *t;
}

// Whole seconds ("3600") or a duration ("1h30m", "PT4H").
std::optional<calendar::Millis> amount_arg(const std::string& text) {
  std::int64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec == std::errc() && ptr == text.data() + text.size() && seconds >= 0) return calendar::Millis(seconds * 1000);
  auto d = core::parse_duration(text);
  if (!d) {
    std::cerr << "pactwatch: '" << text << "' is neither a number of seconds nor a duration\n";
    return std::nullopt;
  }
  return std::chrono::duration_cast<calendar::Millis>(*d);
}

int cmd_calendar(const CalendarArgs& a, const std::string& op) {
  auto cal = calendar::load_calendar(a.file);
  if (!cal) {
    print_diagnostics(cal.error());
    return kExitFailure;
  }
  auto t1 = instant_arg(a.t1);
  if (!t1) return kExitFailure;
  auto print_or_fail = [](const std::expected<core::Instant, std::string>& r) {
    if (!r) {
      std::cerr << "pactwatch: " << r.error() << '\n';
      return kExitFailure;
    }
    std::cout << core::format_rfc3339(*r) << '\n';
    return kExitOk;
  };
  if (op == "duration") {
    auto t2 = instant_arg(a.t2);
    if (!t2) return kExitFailure;
    std::cout << std::chrono::duration_cast<std::chrono::seconds>(cal->duration(*t1, *t2)).count() << '\n';
    return kExitOk;
  }
  if (op == "add" || op == "sub") {
    auto d = amount_arg(a.amount);
    if (!d) return kExitFailure;
    return print_or_fail(op == "add" ? cal->add(*t1, *d) : cal->sub(*t1, *d));
  }
  if (op == "is-open") {
    std::cout << (cal->is_open(*t1) ? "open" : "closed") << '\n';
    return kExitOk;
  }
  if (op == "next-open") return print_or_fail(cal->next_open(*t1));
  for (const auto& span : cal->periods(*t1, a.count, a.before)) {
    std::cout << core::format_rfc3339(span.start) << ' ' << core::format_rfc3339(span.end) << '\n';
  }
  return kExitOk;
}

int cmd_serve(const GlobalOptions& g) {
  auto c = load(g);
  if (!c) return kExitFailure;
  const core::SystemClock clock;
  return app::serve(*c, clock, g.config_path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pactwatch: monitors partner SLA and KPI contracts and computes what they pay", "pactwatch"};
  app.set_version_flag("--version", std::string(core::version()) + " (git " + std::string(core::git_revision()) + ")");
  app.require_subcommand(1);
  // Global options may follow the subcommand: `pactwatch check --config bad.yaml`.
  app.fallthrough();

  GlobalOptions g;
  auto* config_opt = app.add_option("-c,--config", g.config_path, "Configuration file")->capture_default_str();
  app.add_option("--log-format", g.log_format, "Log format, overrides the config")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", g.log_level, "Log level, overrides the config")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  int rc = kExitOk;
  auto* serve = app.add_subcommand("serve", "Run the daemon in the foreground until SIGTERM or SIGINT");
  serve->callback([&] { rc = cmd_serve(g); });
  std::string rules_override;
  auto* check = app.add_subcommand(
      "check", "Validate the config, partners, calendars and contracts; summarize each contract; exit 0 when valid");
  check->add_option("--rules", rules_override, "Rules directory to check instead of the config's rules_dir");
  check->callback([&] {
    g.config_explicit = config_opt->count() > 0;
    rc = cmd_check(g, rules_override);
  });

  std::string contract_file;
  auto* contract = app.add_subcommand("contract", "Contract helpers");
  contract->require_subcommand(1);
  auto* c_hash = contract->add_subcommand("hash", "Print the SHA-256 that both parties approve (approvals excluded)");
  c_hash->add_option("FILE", contract_file, "Contract file")->required();
  c_hash->callback([&] { rc = cmd_contract("hash", contract_file); });
  auto* c_canon = contract->add_subcommand("canonical", "Print the canonical form the hash is taken over");
  c_canon->add_option("FILE", contract_file, "Contract file")->required();
  c_canon->callback([&] { rc = cmd_contract("canonical", contract_file); });

  auto* db = app.add_subcommand("db", "Store administration");
  db->require_subcommand(1);
  db->add_subcommand("migrate", "Apply pending schema migrations")->callback([&] { rc = cmd_db_migrate(g); });
  db->add_subcommand("status", "Show the schema version and migrations")->callback([&] { rc = cmd_db_status(g); });
  db->add_subcommand("explain", "Show the database's plans for pactwatch's hot queries")->callback([&] {
    rc = cmd_db_explain(g);
  });
  db->add_subcommand("leases", "Show which instance holds each source, shard and the notification queue")->callback([&] {
    rc = cmd_db_leases(g);
  });

  auto* cfg = app.add_subcommand("config", "Configuration helpers");
  cfg->require_subcommand(1);
  cfg->add_subcommand("defaults", "Print every setting with its default and meaning")->callback([&] {
    std::cout << config::defaults_yaml();
  });

  CalendarArgs cal_args;
  auto* cal = app.add_subcommand("calendar", "Ask a calendar (a file or the built-in 24x7) about business time");
  cal->add_option("file", cal_args.file, "Calendar file, or 24x7")->required();
  cal->require_subcommand(1);
  auto add_t = [&](CLI::App* sub, std::string* where, const char* name) {
    sub->add_option(name, *where, "Instant, RFC 3339 with Z or an offset")->required();
  };
  auto* c_duration = cal->add_subcommand("duration", "Business seconds in [T1, T2)");
  add_t(c_duration, &cal_args.t1, "T1");
  add_t(c_duration, &cal_args.t2, "T2");
  auto* c_add = cal->add_subcommand("add", "The instant when SECONDS of business time have passed after T");
  add_t(c_add, &cal_args.t1, "T");
  c_add->add_option("SECONDS", cal_args.amount, "Seconds, or a duration such as 4h")->required();
  auto* c_sub = cal->add_subcommand("sub", "The latest instant SECONDS of business time before T");
  add_t(c_sub, &cal_args.t1, "T");
  c_sub->add_option("SECONDS", cal_args.amount, "Seconds, or a duration such as 4h")->required();
  auto* c_open = cal->add_subcommand("is-open", "\"open\" or \"closed\" at T");
  add_t(c_open, &cal_args.t1, "T");
  auto* c_next = cal->add_subcommand("next-open", "T when open, else the next opening");
  add_t(c_next, &cal_args.t1, "T");
  auto* c_periods = cal->add_subcommand("periods", "N open intervals after T (or before, with --before), nearest first");
  add_t(c_periods, &cal_args.t1, "T");
  c_periods->add_option("N", cal_args.count, "How many")->required()->check(CLI::Range(1, 10000));
  c_periods->add_flag("--before", cal_args.before, "Intervals before T");
  for (auto* sub : {c_duration, c_add, c_sub, c_open, c_next, c_periods}) {
    sub->callback([&, sub] { rc = cmd_calendar(cal_args, sub->get_name()); });
  }

  // Items and evaluations.
  cli::StoreArgs store_args;
  auto add_store_args = [&](CLI::App* sub) {
    sub->add_option("--rules", store_args.rules_dir, "Rules directory instead of the config's rules_dir");
    sub->add_option("--db", store_args.db_url, "Database URL instead of the config's database.url");
  };
  // With --rules and --db a config file is optional (as with check --rules).
  auto config_for = [&]() -> std::optional<config::Config> {
    if (config_opt->count() == 0 && !std::filesystem::exists(g.config_path)) {
      auto c = config::default_config();
      app::setup_logging(c.log_format, "warn");
      return c;
    }
    return load(g);
  };
  cli::ImportArgs import_args;
  auto* import = app.add_subcommand("import", "Load items from an NDJSON or CSV file (see docs/import.md)");
  import->add_option("KIND", import_args.kind, "tickets, deals, surveys or events")
      ->required()
      ->check(CLI::IsMember({"tickets", "deals", "surveys", "events"}));
  import->add_option("FILE", import_args.file, "NDJSON (one object per line) or CSV with a header row")->required();
  import->add_option("--source", import_args.source, "Source of records that name none")->capture_default_str();
  import->add_option("--format", import_args.format, "ndjson or csv (default: from the file name)")
      ->check(CLI::IsMember({"ndjson", "csv"}));
  import->add_flag("--skip-bad", import_args.skip_bad, "Import the good lines and list the bad ones");
  import->add_flag("--evaluate", import_args.evaluate,
                   "Re-evaluate (and store) the contract periods the imported items affect, as of now");
  add_store_args(import);
  import->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_import(*c, store_args, import_args) : kExitFailure;
  });
  cli::EvalArgs eval_args;
  auto* eval = app.add_subcommand("eval", "Evaluate contracts over the stored items (see docs/evaluation.md)");
  eval->add_option("--partner", eval_args.partner, "Only this partner");
  eval->add_option("--period", eval_args.period, "Period label: 2026-10 (month) or 2026-Q4 (quarter); default: the one containing --as-of");
  eval->add_option("--as-of", eval_args.as_of, "Evaluate as of this instant (default: now)");
  eval->add_option("--format", eval_args.format, "table (for people) or json (stable)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  eval->add_flag("--save", eval_args.save, "Store the results and record status changes (printed on stderr)");
  add_store_args(eval);
  eval->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_eval(*c, store_args, eval_args) : kExitFailure;
  });
  // Compensation: statements, period close, finance reports, what-if.
  cli::CloseArgs close_args;
  auto* period = app.add_subcommand("period", "Close a period's statements (see docs/compensation.md)");
  period->require_subcommand(1);
  auto* close = period->add_subcommand("close", "Freeze the statements of PERIOD (all partners, or one); "
                                                "re-running it on a closed period verifies it");
  close->add_option("PERIOD", close_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  close->add_option("--partner", close_args.partner, "Only this partner");
  close->add_option("--as-of", close_args.as_of, "Compute the statements as of this instant (default: now)");
  close->add_option("--by", close_args.by, "Who closes, recorded with the statements (default: $USER)");
  add_store_args(close);
  close->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_period_close(*c, store_args, close_args) : kExitFailure;
  });
  // The ledger's tamper evidence: verify the chains and re-derive every closed statement, or
  // check a statement bundle alone; print a bundle.
  cli::LedgerVerifyArgs verify_args;
  cli::BundleArgs bundle_args;
  auto* ledger = app.add_subcommand("ledger", "Verify the ledger of closed statements and the audit log (see docs/compensation.md)");
  ledger->require_subcommand(1);
  auto* verify = ledger->add_subcommand("verify", "Recompute the hash chains, re-derive every closed statement and report the first "
                                                  "break, or check one statement bundle with --bundle (no database)");
  verify->add_option("--bundle", verify_args.bundle, "A statement bundle file to check on its own");
  verify->add_option("--format", verify_args.format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  add_store_args(verify);
  verify->callback([&] {
    if (!verify_args.bundle.empty()) {
      rc = cli::cmd_ledger_verify_bundle(verify_args);
      return;
    }
    auto c = config_for();
    rc = c ? cli::cmd_ledger_verify(*c, store_args, verify_args) : kExitFailure;
  });
  auto* bundle = ledger->add_subcommand("bundle", "Print the bundle of a closed statement: what its partner downloads and can verify");
  bundle->add_option("CONTRACT", bundle_args.contract, "Contract id")->required();
  bundle->add_option("VERSION", bundle_args.version, "Contract version")->required();
  bundle->add_option("PERIOD", bundle_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  add_store_args(bundle);
  bundle->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_ledger_bundle(*c, store_args, bundle_args) : kExitFailure;
  });
  cli::ReportArgs report_args;
  auto* report = app.add_subcommand("report", "Reports for finance");
  report->require_subcommand(1);
  auto* comp = report->add_subcommand("compensation", "One row per partner and contract version: base, bonus, credits, "
                                                      "earn-backs, clawbacks, adjustments, total, status");
  comp->add_option("--period", report_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  comp->add_option("--partner", report_args.partner, "Only this partner");
  comp->add_option("--as-of", report_args.as_of, "Compute open statements as of this instant (default: now)");
  comp->add_option("--format", report_args.format, "table (statements for people), csv (RFC 4180) or json (with derivations)")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  add_store_args(comp);
  comp->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_report_compensation(*c, store_args, report_args) : kExitFailure;
  });
  cli::WhatIfArgs what_if_args;
  auto* what_if = app.add_subcommand("what-if", "The statement as it would be if KPIs had the given values");
  what_if->add_option("--partner", what_if_args.partner, "The partner")->required();
  what_if->add_option("--period", what_if_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  what_if->add_option("--set", what_if_args.sets, "KPI=VALUE, e.g. csat=92% (repeatable)")->required();
  what_if->add_option("--as-of", what_if_args.as_of, "Evaluate as of this instant (default: now)");
  what_if->add_option("--format", what_if_args.format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  add_store_args(what_if);
  what_if->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_what_if(*c, store_args, what_if_args) : kExitFailure;
  });
  // Connectors.
  cli::SyncArgs sync_args;
  std::string test_source;
  auto* src = app.add_subcommand("sources", "The configured sources: list, test, sync, cursors, quarantine (see docs/connectors.md)");
  src->require_subcommand(1);
  auto* src_list = src->add_subcommand("list", "The sources in the config");
  src_list->callback([&] {
    auto c = load(g);
    rc = c ? cli::cmd_sources_list(*c) : kExitFailure;
  });
  auto* src_test = src->add_subcommand("test", "One authenticated request to the source; says what it saw");
  src_test->add_option("NAME", test_source, "The source's name under sources:")->required();
  src_test->callback([&] {
    auto c = load(g);
    rc = c ? cli::cmd_sources_test(*c, test_source) : kExitFailure;
  });
  auto* src_sync = src->add_subcommand("sync", "Sync the source now, from its stored cursor");
  src_sync->add_option("NAME", sync_args.name, "The source's name under sources:")->required();
  src_sync->add_flag("--once", sync_args.once, "Fetch and store one page only");
  src_sync->add_option("--since", sync_args.since,
                       "A backfill: re-read from this instant (RFC 3339); the stored cursor stays where it is");
  add_store_args(src_sync);
  src_sync->callback([&] {
    auto c = load(g);
    rc = c ? cli::cmd_sources_sync(*c, store_args, sync_args) : kExitFailure;
  });
  cli::CursorArgs cursor_args;
  std::string cursor_source;
  auto* src_cursor = src->add_subcommand("cursor", "Show a source's cursors, or move them on purpose (audited)");
  src_cursor->require_subcommand(1);
  auto* cursor_show = src_cursor->add_subcommand("show", "Where each stream of the source stands");
  cursor_show->add_option("NAME", cursor_source, "The source's name under sources:")->required();
  add_store_args(cursor_show);
  cursor_show->callback([&] {
    auto c = load(g);
    rc = c ? cli::cmd_sources_cursor_show(*c, store_args, cursor_source) : kExitFailure;
  });
  auto* cursor_set = src_cursor->add_subcommand(
      "set", "Make the next sync start at an instant (forward skips what lies between: the audit log records who, when and why)");
  cursor_set->add_option("NAME", cursor_args.name, "The source's name under sources:")->required();
  cursor_set->add_option("AT", cursor_args.at, "Where the next sync starts (RFC 3339)")->required();
  cursor_set->add_option("--reason", cursor_args.reason, "Why (recorded in the audit log)")->required();
  add_store_args(cursor_set);
  cursor_set->callback([&] {
    auto c = load(g);
    rc = c ? cli::cmd_sources_cursor_set(*c, store_args, cursor_args) : kExitFailure;
  });
  std::string quarantine_source;
  auto* src_quarantine = src->add_subcommand("quarantine", "Records set aside because they could not be mapped, with the reason");
  src_quarantine->add_option("NAME", quarantine_source, "Only this source's");
  add_store_args(src_quarantine);
  src_quarantine->callback([&] {
    auto c = load(g);
    rc = c ? cli::cmd_sources_quarantine(*c, store_args, quarantine_source) : kExitFailure;
  });
  // Notifications.
  std::string outbox_status, outbox_id;
  auto* outbox = app.add_subcommand("outbox", "Notification events and their deliveries (see docs/notifications.md)");
  outbox->require_subcommand(1);
  auto* ob_list = outbox->add_subcommand("list", "Events with each channel's delivery state");
  ob_list->add_option("--status", outbox_status, "Only deliveries in this state")->check(CLI::IsMember({"pending", "delivered", "dead", "skipped"}));
  add_store_args(ob_list);
  ob_list->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_outbox_list(*c, store_args, outbox_status) : kExitFailure;
  });
  auto* ob_retry = outbox->add_subcommand("retry", "Queue dead deliveries of an event again (ID, or all)");
  ob_retry->add_option("ID", outbox_id, "An event id from outbox list, or all")->required();
  add_store_args(ob_retry);
  ob_retry->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_outbox_retry(*c, store_args, outbox_id) : kExitFailure;
  });
  // API tokens.
  cli::TokenArgs token_args;
  std::string token_id;
  auto* token = app.add_subcommand("token", "API tokens for finance, admins and partners (see docs/api.md)");
  token->require_subcommand(1);
  auto* tk_create = token->add_subcommand("create", "Create a token and print it once (only its SHA-256 is stored)");
  tk_create->add_option("--role", token_args.role, "admin, finance, viewer or partner")->required()
      ->check(CLI::IsMember({"admin", "finance", "viewer", "partner"}));
  tk_create->add_option("--partner", token_args.partner, "The partner a partner token belongs to");
  tk_create->add_option("--expires", token_args.expires, "Lifetime: 90d, 12h, 30m, or never")->capture_default_str();
  tk_create->add_option("--name", token_args.name, "A name to recognise it by (default: the partner or role)");
  add_store_args(tk_create);
  tk_create->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_token_create(*c, store_args, token_args) : kExitFailure;
  });
  auto* tk_list = token->add_subcommand("list", "Every token: id, role, partner, name, created, state");
  add_store_args(tk_list);
  tk_list->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_token_list(*c, store_args) : kExitFailure;
  });
  auto* tk_revoke = token->add_subcommand("revoke", "Revoke a token by its id (tok_...)");
  tk_revoke->add_option("ID", token_id, "The token's id from token list")->required();
  add_store_args(tk_revoke);
  tk_revoke->callback([&] {
    auto c = config_for();
    rc = c ? cli::cmd_token_revoke(*c, store_args, token_id) : kExitFailure;
  });
  sources::GenerateOptions gen_opts;
  std::string gen_out = "gen";
  auto* gen = app.add_subcommand("gen", "Write a realistic, seeded data set and matching rules (for demos and benchmarks)");
  gen->add_option("--partners", gen_opts.partners, "Number of partners")->capture_default_str();
  gen->add_option("--tickets", gen_opts.tickets, "Number of tickets")->capture_default_str();
  gen->add_option("--seed", gen_opts.seed, "Seed: the same seed writes the same files")->capture_default_str();
  gen->add_option("--out", gen_out, "Directory to write rules/, tickets.ndjson and surveys.ndjson into")->capture_default_str();
  gen->callback([&] {
    auto r = sources::generate(gen_out, gen_opts);
    if (!r) {
      std::cerr << "pactwatch: " << r.error() << '\n';
      rc = kExitFailure;
      return;
    }
    std::cout << "wrote " << gen_opts.partners << " partner(s) and their contracts to " << gen_out << "/rules, "
              << r->tickets << " ticket(s) to " << gen_out << "/tickets.ndjson and " << r->surveys << " survey(s) to "
              << gen_out << "/surveys.ndjson (import with --source gen)\n";
  });
  std::vector<std::string> scenario_files;
  auto* test = app.add_subcommand("test", "Run contract scenario tests: items, an as-of instant, expected results");
  test->add_option("FILE", scenario_files, "Scenario files")->required();
  test->callback([&] { rc = cli::cmd_test(scenario_files); });

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
