// Tamper evidence (docs/compensation.md, "The chain" and "Statement bundles"): each closed
// statement checked against its own parts and its contract's hash chain, the audit log against
// its chain, every closed statement re-derived from its stored inputs; and the bundle of one
// statement that a partner downloads and anyone can check with nothing but the bundle.
#pragma once

#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/rules/rule_set.h"
#include "pactwatch/store/store.h"

namespace pactwatch::ledger {

// What is wrong with one closed statement's stored parts, if anything: its document against its
// SHA-256, every column against the document, the contract's canonical form and approvals
// against the contract hash; with `deep`, also the lines against the totals and every line's
// steps (what `ledger verify` does; reading money checks the rest, which is cheap).
[[nodiscard]] std::optional<std::string> statement_damage(const store::StatementRecord& r, bool deep = true);

struct Finding {
  std::string subject;  // "statement acme-desk v1 2026-10 (#3 of its chain)", "audit entry 17"
  std::string what;
};

// The first broken link of one contract's chain (its records in chain order), if any.
[[nodiscard]] std::optional<Finding> chain_damage(std::span<const store::StatementRecord> chain);

struct VerifyReport {
  std::int64_t statements = 0;
  std::int64_t contracts = 0;
  std::int64_t audit_entries = 0;
  std::int64_t rederived = 0;            // re-derived to the same document or amounts
  std::vector<Finding> breaks;           // stored data that was altered: the ledger is not verified
  std::vector<Finding> inputs_changed;   // late data since a close: not a break
  std::vector<Finding> not_rederived;    // could not be re-derived (rules changed): not a break
  std::map<std::string, std::string> heads;  // contract -> the chain hash of its last closed statement
  std::string audit_head;                    // the hash of the audit log's last entry
  [[nodiscard]] bool ok() const { return breaks.empty(); }
};

// Checks every closed statement and every audit entry, and re-derives every closed statement.
[[nodiscard]] VerifyReport verify_ledger(const rules::RuleSet& rules, store::Store& store);
[[nodiscard]] nlohmann::json verify_json(const VerifyReport& r);
// "verified 12 statements of 3 contracts and 57 audit entries" or the breaks, one a line.
[[nodiscard]] std::string verify_text(const VerifyReport& r);

inline constexpr std::string_view kBundleFormat = "pactwatch-statement-bundle/1";

// The bundle of one closed statement: its document, the contract version's canonical form, hash
// and approvals, the input digest and the chain of its contract up to it. Unexpected: there is
// no such closed statement (the caller decides who may ask).
[[nodiscard]] std::expected<nlohmann::json, std::string> statement_bundle(const rules::RuleSet& rules, store::Store& store,
                                                                        const std::string& contract, int version,
                                                                        const std::string& period);

struct BundleCheck {
  std::vector<std::string> problems;  // empty: verified
  std::vector<std::string> notes;     // what could not be checked, and why
  std::string summary;
  [[nodiscard]] bool ok() const { return problems.empty(); }
};
// Checks a bundle with nothing but the bundle itself: no database, no rules.
[[nodiscard]] BundleCheck verify_bundle(const nlohmann::json& bundle);

// Redoes the steps of a statement line's derivation; the first step that does not give its
// stated result, or a last result that is not the line's amount.
[[nodiscard]] std::optional<std::string> line_steps_problem(const nlohmann::json& line, core::Currency currency);

}  // namespace pactwatch::ledger
