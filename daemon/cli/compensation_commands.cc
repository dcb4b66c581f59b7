#include <unistd.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include "context.h"
#include "pactwatch/ledger/report.h"
#include "pactwatch/ledger/verify.h"
#include "pactwatch/core/clock.h"
#include "pactwatch/rules/rule_set.h"

namespace pactwatch::cli {

namespace {

using nlohmann::json;

std::optional<core::Instant> as_of_or_now(const std::string& text, const core::Clock& clock) {
  if (text.empty()) return clock.now();
  auto t = core::parse_rfc3339(text);
  if (!t) {
    std::cerr << "pactwatch: --as-of: " << t.error() << '\n';
    return std::nullopt;
  }
  return *t;
}

void print_statement(const json& doc, std::ostream& out) {
  out << doc["contract"]["partner"].get<std::string>() << "  " << doc["contract"]["id"].get<std::string>() << " v"
      << doc["contract"]["version"] << "  " << doc["period"]["label"].get<std::string>() << "  ["
      << doc["status"].get<std::string>() << "]  as of " << doc["as_of"].get<std::string>() << '\n';
  std::size_t width = 10;
  for (const auto& l : doc["lines"]) width = std::max(width, l["amount"].get<std::string>().size());
  for (const auto& l : doc["lines"]) {
    out << "  " << std::setw(static_cast<int>(width)) << l["amount"].get<std::string>() << "  " << std::left
        << std::setw(12) << l["kind"].get<std::string>() << std::right << "  " << l["description"].get<std::string>() << '\n';
    const auto& d = l["derivation"];
    if (d.contains("formula")) out << "  " << std::string(width, ' ') << "  " << std::string(12, ' ') << "  = " << d["formula"].get<std::string>() << '\n';
  }
  out << "  " << std::string(width, '-') << '\n';
  out << "  " << std::setw(static_cast<int>(width)) << doc["total"].get<std::string>() << "  total " << doc["currency"].get<std::string>();
  if (doc["carry_forward_out"] != "0" && doc["carry_forward_out"].get<std::string>().find_first_not_of("0.") != std::string::npos) {
    out << " (carried forward: " << doc["carry_forward_out"].get<std::string>() << ")";
  }
  out << '\n';
}

}  // namespace

int cmd_period_close(const config::Config& config, const StoreArgs& s, const CloseArgs& a) {
  const core::SystemClock clock;
  auto as_of = as_of_or_now(a.as_of, clock);
  if (!as_of) return 1;
  auto session = open_session(config, s);
  if (!session) return 1;
  ledger::Statements statements(session->rules, *session->db);
  const std::string by = a.by.empty() ? (getenv("USER") ? std::string(getenv("USER")) : std::string("unknown")) : a.by;
  try {
    auto r = statements.close(a.period, a.partner.empty() ? std::nullopt : std::optional(a.partner), *as_of, clock.now(), by,
                              a.with_open_disputes);
    if (!r) {
      std::cerr << "pactwatch: " << r.error() << "; nothing closed\n";
      return 1;
    }
    if (r->empty()) std::cout << "no contract with compensation in effect during " << a.period << '\n';
    for (const auto& o : *r) {
      std::cout << o.partner << "  " << o.contract << " v" << o.version << "  " << o.period << ": ";
      switch (o.kind) {
        case ledger::CloseOutcome::Kind::closed: std::cout << "closed, total " << o.total << '\n'; break;
        case ledger::CloseOutcome::Kind::reproduced: std::cout << "already closed (total " << o.total << "); " << o.detail << '\n'; break;
        case ledger::CloseOutcome::Kind::differs: std::cout << "already closed (total " << o.total << "); " << o.detail << '\n'; break;
        case ledger::CloseOutcome::Kind::skipped_draft: std::cout << "not closed: " << o.detail << '\n'; break;
      }
    }
  } catch (const store::AlreadyClosed& e) {
    std::cerr << "pactwatch: " << e.what() << " (closed meanwhile by another run); nothing closed\n";
    return 1;
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << "; nothing closed\n";
    return 1;
  }
  return 0;
}

int cmd_report_compensation(const config::Config& config, const StoreArgs& s, const ReportArgs& a) {
  const core::SystemClock clock;
  auto as_of = as_of_or_now(a.as_of, clock);
  if (!as_of) return 1;
  auto session = open_session(config, s);
  if (!session) return 1;
  ledger::Statements statements(session->rules, *session->db);
  std::vector<ledger::StatementView> views;
  try {
    auto r = statements.for_period(a.period, a.partner.empty() ? std::nullopt : std::optional(a.partner), *as_of);
    if (!r) {
      std::cerr << "pactwatch: " << r.error() << '\n';
      return 1;
    }
    views = std::move(*r);
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  const auto report = ledger::make_report(a.period, *as_of, views);
  if (a.format == "json") {
    std::cout << ledger::report_json(report).dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    return 0;
  }
  if (a.format == "csv") {
    std::cout << ledger::report_csv(report);
    return 0;
  }
  if (views.empty()) std::cout << "no contract with compensation in effect during " << a.period << '\n';
  for (const auto& v : views) {
    print_statement(v.document, std::cout);
    std::cout << '\n';
  }
  for (const auto& [cur, m] : report.totals) std::cout << "total " << cur << ": " << m.to_decimal() << " (previews excluded)\n";
  return 0;
}

int cmd_ledger_verify(const config::Config& config, const StoreArgs& s, const LedgerVerifyArgs& a) {
  auto session = open_session(config, s);
  if (!session) return 1;
  try {
    const auto report = ledger::verify_ledger(session->rules, *session->db);
    if (a.format == "json") std::cout << ledger::verify_json(report).dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    else std::cout << ledger::verify_text(report);
    return report.ok() ? 0 : 1;
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
}

int cmd_ledger_verify_bundle(const LedgerVerifyArgs& a) {
  std::ifstream in(a.bundle, std::ios::binary);
  if (!in) {
    std::cerr << "pactwatch: cannot read " << a.bundle << '\n';
    return 1;
  }
  const json bundle = json::parse(in, nullptr, false);
  if (bundle.is_discarded()) {
    std::cerr << "pactwatch: " << a.bundle << " is not JSON\n";
    return 1;
  }
  const auto check = ledger::verify_bundle(bundle);
  if (a.format == "json") {
    std::cout << json{{"verified", check.ok()}, {"summary", check.summary}, {"problems", check.problems}, {"notes", check.notes}}.dump(2)
              << '\n';
  } else {
    std::cout << check.summary << '\n';
    for (const auto& p : check.problems) std::cout << "  problem: " << p << '\n';
    for (const auto& n : check.notes) std::cout << "  note: " << n << '\n';
  }
  return check.ok() ? 0 : 1;
}

int cmd_ledger_bundle(const config::Config& config, const StoreArgs& s, const BundleArgs& a) {
  auto session = open_session(config, s);
  if (!session) return 1;
  try {
    auto bundle = ledger::statement_bundle(session->rules, *session->db, a.contract, a.version, a.period);
    if (!bundle) {
      std::cerr << "pactwatch: " << bundle.error() << '\n';
      return 1;
    }
    std::cout << bundle->dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}

int cmd_what_if(const config::Config& config, const StoreArgs& s, const WhatIfArgs& a) {
  const core::SystemClock clock;
  auto as_of = as_of_or_now(a.as_of, clock);
  if (!as_of) return 1;
  std::map<std::string, std::string> values;
  for (const auto& kv : a.sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size()) {
      std::cerr << "pactwatch: --set " << kv << ": expected KPI=VALUE, e.g. csat=92%\n";
      return 2;
    }
    values[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  auto session = open_session(config, s);
  if (!session) return 1;
  ledger::Statements statements(session->rules, *session->db);
  try {
    auto actual = statements.for_period(a.period, a.partner, *as_of);
    auto r = statements.for_period(a.period, a.partner, *as_of, &values);
    if (!actual || !r) {
      std::cerr << "pactwatch: " << (actual ? r.error() : actual.error()) << '\n';
      return 1;
    }
    if (a.format == "json") {
      json out = json::array();
      for (std::size_t i = 0; i < r->size(); ++i) {
        out.push_back({{"what_if", (*r)[i].document}, {"actual_total", i < actual->size() ? (*actual)[i].document["total"] : json(nullptr)}});
      }
      std::cout << json{{"statements", out}}.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
      return 0;
    }
    for (std::size_t i = 0; i < r->size(); ++i) {
      print_statement((*r)[i].document, std::cout);
      if (i < actual->size()) {
        std::cout << "  (actual total as of " << core::format_rfc3339(*as_of) << ": "
                  << (*actual)[i].document["total"].get<std::string>() << ")\n";
      }
      std::cout << '\n';
    }
  } catch (const store::StoreError& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}

void register_compensation_commands(CLI::App& app, Context& ctx) {
  // Compensation: statements, period close, finance reports, what-if.
  auto& close_args = ctx.hold<CloseArgs>();
  auto* period = app.add_subcommand("period", "Close a period's statements (see docs/compensation.md)");
  period->require_subcommand(1);
  auto* close = period->add_subcommand("close", "Freeze the statements of PERIOD (all partners, or one); "
                                                "re-running it on a closed period verifies it");
  close->add_option("PERIOD", close_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  close->add_option("--partner", close_args.partner, "Only this partner");
  close->add_option("--as-of", close_args.as_of, "Compute the statements as of this instant (default: now)");
  close->add_option("--by", close_args.by, "Who closes, recorded with the statements (default: $USER)");
  close->add_flag("--with-open-disputes", close_args.with_open_disputes,
                  "Close even with disputes or corrections open, listing them in the statement as open");
  ctx.add_store_args(close);
  close->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_period_close(*c, ctx.store, close_args) : kExitFailure;
  });
  // The ledger's tamper evidence: verify the chains and re-derive every closed statement, or
  // check a statement bundle alone; print a bundle.
  auto& verify_args = ctx.hold<LedgerVerifyArgs>();
  auto& bundle_args = ctx.hold<BundleArgs>();
  auto* ledger = app.add_subcommand("ledger", "Verify the ledger of closed statements and the audit log (see docs/compensation.md)");
  ledger->require_subcommand(1);
  auto* verify = ledger->add_subcommand("verify", "Recompute the hash chains, re-derive every closed statement and report the first "
                                                  "break, or check one statement bundle with --bundle (no database)");
  verify->add_option("--bundle", verify_args.bundle, "A statement bundle file to check on its own");
  verify->add_option("--format", verify_args.format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  ctx.add_store_args(verify);
  verify->callback([&] {
    if (!verify_args.bundle.empty()) {
      ctx.rc = cmd_ledger_verify_bundle(verify_args);
      return;
    }
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_ledger_verify(*c, ctx.store, verify_args) : kExitFailure;
  });
  auto* bundle = ledger->add_subcommand("bundle", "Print the bundle of a closed statement: what its partner downloads and can verify");
  bundle->add_option("CONTRACT", bundle_args.contract, "Contract id")->required();
  bundle->add_option("VERSION", bundle_args.version, "Contract version")->required();
  bundle->add_option("PERIOD", bundle_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  ctx.add_store_args(bundle);
  bundle->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_ledger_bundle(*c, ctx.store, bundle_args) : kExitFailure;
  });
  auto& report_args = ctx.hold<ReportArgs>();
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
  ctx.add_store_args(comp);
  comp->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_report_compensation(*c, ctx.store, report_args) : kExitFailure;
  });
  auto& what_if_args = ctx.hold<WhatIfArgs>();
  auto* what_if = app.add_subcommand("what-if", "The statement as it would be if KPIs had the given values");
  what_if->add_option("--partner", what_if_args.partner, "The partner")->required();
  what_if->add_option("--period", what_if_args.period, "2026-10 (month) or 2026-Q4 (quarter)")->required();
  what_if->add_option("--set", what_if_args.sets, "KPI=VALUE, e.g. csat=92% (repeatable)")->required();
  what_if->add_option("--as-of", what_if_args.as_of, "Evaluate as of this instant (default: now)");
  what_if->add_option("--format", what_if_args.format, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  ctx.add_store_args(what_if);
  what_if->callback([&] {
    auto c = ctx.config_for();
    ctx.rc = c ? cmd_what_if(*c, ctx.store, what_if_args) : kExitFailure;
  });
}

}  // namespace pactwatch::cli
