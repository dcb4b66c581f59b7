// The subcommands' arguments and handlers; context.h has what they share and their registration.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pactwatch/config/config.h"
#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::cli {

struct StoreArgs {
  std::string rules_dir;  // overrides the config when set
  std::string db_url;     // overrides the config when set
};

struct ImportArgs {
  std::string kind;
  std::string file;
  std::string source = "import";
  std::string format;  // ndjson or csv; from the file name when empty
  bool skip_bad = false;
  bool evaluate = false;  // re-evaluate the partner-periods the imported items affect, as of now
};

struct EvalArgs {
  std::string partner;
  std::string period;
  std::string as_of;
  std::string format = "table";
  bool save = false;  // store the results and record status changes
};

struct CloseArgs {
  std::string period;
  std::string partner;
  std::string as_of;  // the instant the statements are computed as of (default: now)
  std::string by;     // who closes (recorded); default: $USER
  bool with_open_disputes = false;  // close even with open disputes, listing them in the statement
};

struct ReportArgs {
  std::string period;
  std::string partner;
  std::string as_of;
  std::string format = "table";
};

struct WhatIfArgs {
  std::string partner;
  std::string period;
  std::string as_of;
  std::vector<std::string> sets;  // KPI=VALUE
  std::string format = "table";
};

struct LedgerVerifyArgs {
  std::string bundle;  // check this bundle file alone (no database)
  std::string format = "text";
};

struct BundleArgs {
  std::string contract;
  int version = 0;
  std::string period;
};

struct TokenArgs {
  std::string role;
  std::string partner;
  std::string expires = "90d";  // or never
  std::string name;
};

struct SyncArgs {
  std::string name;
  bool once = false;
  std::string since;
};

struct CursorArgs {
  std::string name;
  std::string at;      // RFC 3339: where the next sync starts
  std::string reason;  // recorded in the audit log
};

// The operating-system user running the command (from the password database, not $USER, which
// anyone can set), as the audit log names the command line's acts ("cli:USER").
[[nodiscard]] std::string os_user();

struct DisputeListArgs {
  std::string partner;
  std::string state;
  bool json = false;
};

// `dispute record`: a partner's dispute that reached the brand another way (mail, a call),
// recorded for the partner.
struct DisputeRecordArgs {
  std::string partner;
  std::string contract;
  int version = 0;
  std::string period;
  std::string rule;
  std::string item;  // SOURCE/KIND/ID; empty: the whole rule
  std::string category;
  std::string reason;
  std::string from;  // who at the partner raised it
  std::string by;
};

struct DisputeActArgs {
  std::int64_t id = 0;
  std::string comment;
  std::string by;
  bool json = false;
};

struct CorrectionDeclareArgs {
  std::string partner;
  std::string contract;
  int version = 0;
  std::vector<std::string> rules;
  std::string from;   // RFC 3339
  std::string until;  // RFC 3339
  std::string category;
  std::string reason;
  std::string by;
};

// Opens the store of the config (or `url_override`), migrating it when asked; prints the reason
// and returns nothing on failure.
std::unique_ptr<store::Store> open_store(const config::Config& config, const std::string& url_override, bool migrate);

// Enforcement from the store's recorded approvals (ledger/agreements.h) on a loaded rule set;
// prints the problem and returns false when they cannot be read or enforce overlapping versions.
bool enforce_recorded_or_report(rules::RuleSet& set, store::Store& db);

// The rules with enforcement from the store's recorded approvals, and the store (migrated): what
// the commands that compute or record anything run on. Prints the problem and returns nothing on
// failure.
struct Session {
  rules::RuleSet rules;
  std::unique_ptr<store::Store> db;
};
std::optional<Session> open_session(const config::Config& config, const StoreArgs& s);

int cmd_import(const config::Config& config, const StoreArgs& store, const ImportArgs& args);
int cmd_eval(const config::Config& config, const StoreArgs& store, const EvalArgs& args);
int cmd_test(const std::vector<std::string>& files);
int cmd_period_close(const config::Config& config, const StoreArgs& store, const CloseArgs& args);
int cmd_report_compensation(const config::Config& config, const StoreArgs& store, const ReportArgs& args);
int cmd_sources_list(const config::Config& config);
int cmd_sources_test(const config::Config& config, const std::string& name);
int cmd_sources_sync(const config::Config& config, const StoreArgs& store, const SyncArgs& args);
int cmd_sources_cursor_show(const config::Config& config, const StoreArgs& store, const std::string& name);
int cmd_sources_cursor_set(const config::Config& config, const StoreArgs& store, const CursorArgs& args);
int cmd_sources_quarantine(const config::Config& config, const StoreArgs& store, const std::string& name);
int cmd_outbox_list(const config::Config& config, const StoreArgs& store, const std::string& status);
int cmd_outbox_retry(const config::Config& config, const StoreArgs& store, const std::string& id);
int cmd_token_create(const config::Config& config, const StoreArgs& store, const TokenArgs& args);
int cmd_token_list(const config::Config& config, const StoreArgs& store);
int cmd_token_revoke(const config::Config& config, const StoreArgs& store, const std::string& id);
// `ledger verify`: the chains and every closed statement re-derived; exit 1 on a break.
int cmd_ledger_verify(const config::Config& config, const StoreArgs& store, const LedgerVerifyArgs& args);
// `ledger verify --bundle FILE`: the bundle alone, no config, no database.
int cmd_ledger_verify_bundle(const LedgerVerifyArgs& args);
// `ledger bundle`: prints a closed statement's bundle (what a partner downloads).
int cmd_ledger_bundle(const config::Config& config, const StoreArgs& store, const BundleArgs& args);
int cmd_what_if(const config::Config& config, const StoreArgs& store, const WhatIfArgs& args);

}  // namespace pactwatch::cli
