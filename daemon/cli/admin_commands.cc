// Administration: serve, check, contract, db and config.
#include <filesystem>
#include <iostream>

#include "context.h"
#include "pactwatch/app/daemon.h"
#include "pactwatch/calendar/calendar_file.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/ledger/agreements.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::cli {

namespace {

// `checked`: enforcement comes from the store's recorded approvals; otherwise only the file's
// approvals block was read, which proves nothing.
void print_contract_summary(const rules::RuleSet& set, bool checked) {
  for (const auto& c : set.contracts) {
    std::cout << "  " << c.contract << " v" << c.version << " (" << c.partner << ", " << calendar::format_date(c.effective_from)
              << " to " << (c.effective_until ? calendar::format_date(*c.effective_until) : "open end") << "): "
              << (c.enforced ? (checked ? "enforced" : "approved in the file (not verified)") : "draft") << ", sha256 " << c.sha256.substr(0, 16) << "…, " << c.status_note
              << '\n';
    for (const auto& u : c.unverified_approvals) {
      std::cout << "    unverified: the " << u.party << " approval by " << u.by << " in " << std::filesystem::path(c.file).filename().string()
                << " is not recorded in the store and enforces nothing (pactwatch contract adopt, docs/rules.md)\n";
    }
  }
}

int cmd_check(const Context& ctx, const std::string& rules_override) {
  config::Config c;
  const bool rules_only = !ctx.config_explicit() && !rules_override.empty() && !std::filesystem::exists(ctx.config_path);
  std::size_t secret_problems = 0;
  if (rules_only) {
    c = config::default_config();  // checking a rules directory alone: no config file needed
  } else {
    auto loaded = ctx.load();
    if (!loaded) return kExitFailure;
    c = *loaded;
    // The secrets it names, read as serve reads them (as this user).
    const auto secrets = config::check_secrets(c, ctx.config_path);
    print_diagnostics(secrets.problems);
    print_diagnostics(secrets.unchecked);
    secret_problems = secrets.problems.size();
    if (secret_problems > 0) {
      std::cerr << ctx.config_path << ": " << secret_problems << " problem(s)\n";
    } else {
      std::cout << ctx.config_path << ": ok";
      if (!secrets.unchecked.empty()) std::cout << " (" << secrets.unchecked.size() << " credential(s) not checked here)";
      std::cout << '\n';
    }
  }
  if (!rules_override.empty()) c.rules_dir = rules_override;
  // What the approvals prove: with a store to ask, enforcement from its recorded approvals (a
  // file's approvals block enforces nothing); a rules directory checked alone reads the files'.
  std::unique_ptr<store::Store> db = rules_only ? nullptr : open_store(c, "", false);
  auto report = rules::check_rule_set(c.rules_dir, db ? rules::Enforcement::recorded_later : rules::Enforcement::from_files);
  bool approvals_checked = false;
  if (db && report.problems.empty()) {
    try {
      const auto overlaps = ledger::enforce_recorded(report.set, *db);
      report.problems.insert(report.problems.end(), overlaps.begin(), overlaps.end());
      approvals_checked = true;
    } catch (const store::StoreError& e) {
      std::cerr << "pactwatch: cannot read the recorded approvals (" << e.what() << "); approvals not checked\n";
    }
  }
  print_diagnostics(report.problems);
  const auto& set = report.set;
  std::cout << c.rules_dir << ": " << set.partners.size() << " partner(s), " << set.calendars.size() << " calendar(s), "
            << set.contracts.size() << " contract version(s)" << (report.problems.empty() ? "" : " loaded") << '\n';
  print_contract_summary(set, approvals_checked);
  if (!approvals_checked && !set.contracts.empty()) {
    std::cout << "approvals: not checked against the store; a file's approvals block enforces nothing until the approvals "
                 "are recorded (pactwatch contract status)\n";
  }
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

int cmd_db_migrate(const Context& ctx) {
  auto c = ctx.load();
  if (!c) return kExitFailure;
  auto db = open_store(*c, "", false);
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

int cmd_db_status(const Context& ctx) {
  auto c = ctx.load();
  if (!c) return kExitFailure;
  auto db = open_store(*c, "", false);
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
int cmd_db_explain(const Context& ctx) {
  auto c = ctx.load();
  if (!c) return kExitFailure;
  auto db = open_store(*c, "", true);
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
int cmd_db_leases(const Context& ctx) {
  auto c = ctx.load();
  if (!c) return kExitFailure;
  auto db = open_store(*c, "", true);
  if (!db) return kExitFailure;
  try {
    const auto now = core::SystemClock().now();
    const auto leases = db->leases().all();
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

int cmd_serve(const Context& ctx) {
  auto c = ctx.load();
  if (!c) return kExitFailure;
  const core::SystemClock clock;
  return app::serve(*c, clock, ctx.config_path);
}

}  // namespace

void register_admin_commands(CLI::App& app, Context& ctx) {
  auto* serve = app.add_subcommand("serve", "Run the daemon in the foreground until SIGTERM or SIGINT");
  serve->callback([&] { ctx.rc = cmd_serve(ctx); });
  auto& rules_override = ctx.hold<std::string>();
  auto* check = app.add_subcommand(
      "check", "Validate the config, partners, calendars and contracts; summarize each contract; exit 0 when valid");
  check->add_option("--rules", rules_override, "Rules directory to check instead of the config's rules_dir");
  check->callback([&] {
    ctx.rc = cmd_check(ctx, rules_override);
  });

  auto& contract_file = ctx.hold<std::string>();
  auto* contract = app.add_subcommand(
      "contract", "Contract versions: their hash, and their way from proposal to enforcement (docs/rules.md)");
  contract->require_subcommand(1);
  auto* c_hash = contract->add_subcommand("hash", "Print the SHA-256 that both parties approve (approvals excluded)");
  c_hash->add_option("FILE", contract_file, "Contract file")->required();
  c_hash->callback([&] { ctx.rc = cmd_contract("hash", contract_file); });
  auto* c_canon = contract->add_subcommand("canonical", "Print the canonical form the hash is taken over");
  c_canon->add_option("FILE", contract_file, "Contract file")->required();
  c_canon->callback([&] { ctx.rc = cmd_contract("canonical", contract_file); });
  register_contract_lifecycle(contract, ctx);

  auto* db = app.add_subcommand("db", "Store administration");
  db->require_subcommand(1);
  db->add_subcommand("migrate", "Apply pending schema migrations")->callback([&] { ctx.rc = cmd_db_migrate(ctx); });
  db->add_subcommand("status", "Show the schema version and migrations")->callback([&] { ctx.rc = cmd_db_status(ctx); });
  db->add_subcommand("explain", "Show the database's plans for pactwatch's hot queries")->callback([&] {
    ctx.rc = cmd_db_explain(ctx);
  });
  db->add_subcommand("leases", "Show which instance holds each source, shard and the notification queue")->callback([&] {
    ctx.rc = cmd_db_leases(ctx);
  });

  auto* cfg = app.add_subcommand("config", "Configuration helpers");
  cfg->require_subcommand(1);
  cfg->add_subcommand("defaults", "Print every setting with its default and meaning")->callback([&] {
    std::cout << config::defaults_yaml();
  });
}

}  // namespace pactwatch::cli
