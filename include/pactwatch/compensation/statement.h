// Statements: the money of one contract version and period, computed from its evaluation, its
// deals and what earlier statements left (carry-forward, credits to earn back, closed periods to
// adjust). Pure: no clock, no I/O; every line carries its derivation, and lines sum exactly to the
// total. docs/compensation.md describes every line kind with a worked example.
#pragma once

#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/money.h"
#include "pactwatch/core/status.h"
#include "pactwatch/engine/evaluate.h"
#include "pactwatch/rules/contract.h"
#include "pactwatch/core/item.h"

namespace pactwatch::compensation {

// Statements closed by another engine version are compared by their amounts, not their bytes
// (version 2 added the steps of every derivation and the digests of every input read).
inline constexpr std::string_view kEngineVersion = "2";

// A KPI's or obligation's result, as compensation needs it.
struct RuleResult {
  std::string id;
  core::RuleStatus status = core::RuleStatus::insufficient_data;
  std::optional<core::Ratio> share; // ratio measures: numerator / denominator, exactly
  std::optional<core::Ratio> weight;
};

struct StandardResult {
  std::string id;
  std::string severity;
  std::int64_t violations = 0;
};

// The parts of an evaluation that compensation reads.
struct PeriodResults {
  std::vector<RuleResult> kpis;
  std::vector<RuleResult> obligations;
  std::vector<StandardResult> standards;
  std::string input_digest;
};
[[nodiscard]] PeriodResults results_from_evaluation(const engine::Evaluation& evaluation);

// What-if: sets KPIs to the given values ("csat=92%", "qa_score=88", "resolution_p90=10h") and
// recomputes their statuses against their objectives as if the sample sufficed.
[[nodiscard]] std::expected<void, std::string> apply_what_if(PeriodResults& results, const rules::ContractVersion& contract,
                                                             const std::map<std::string, std::string>& values);

// A credit of an earlier period that this period may earn back.
struct PriorCredit {
  std::string period;   // where the credit was taken
  std::string kpi;
  core::Money amount;   // the credit as a positive amount
  bool met_since = false;  // the KPI was met (or warning) in every period after it, up to this one
};

// A difference between a closed statement and what its period computes to now.
struct Adjustment {
  std::string period;
  int version = 0;
  core::Money amount;
  std::string explanation;
  // How the amount came about, for its derivation: now_own − closed_own − prior.
  std::optional<core::Money> now_own;
  std::optional<core::Money> closed_own;
  std::optional<core::Money> prior;  // adjustments for that period already made in closed statements since
};

struct Line {
  std::string kind;  // base, commission, bonus, gate, credit, credit_band, earn_back, reciprocity,
                     // clawback, cap, floor, adjustment, carry_forward_in, carry_forward
  std::string description;
  core::Money amount;
  nlohmann::json derivation;  // the numbers and the formula
  std::optional<std::string> kpi;  // credits and earn-backs: the KPI concerned
};

// Another period's input a statement read (for an adjustment, an earn-back or the statuses in
// between): its digest, recorded in the document so a re-derivation can tell inputs that changed
// since the close from a statement that was altered.
struct InputRead {
  std::string period;  // the period read (for role calendar: the calendar's name)
  std::string role;    // adjustment, earn_back, status, calendar
  std::string digest;  // the evaluation's input digest of that period (the calendar's digest)
};

struct StatementInput {
  const rules::ContractVersion* contract = nullptr;
  const calendar::Calendar* calendar = nullptr;
  engine::PeriodWindow period;
  core::Instant as_of{};
  std::string status = "open";  // open, closed, preview (draft contracts), what_if
  PeriodResults results;
  std::span<const core::Item> deals;  // the partner's deals (any period: commission and clawback pick theirs)
  std::optional<core::Money> carry_in;  // left by the previous period's minimum payout
  std::string carry_in_from;            // that period
  std::vector<PriorCredit> earn_back;
  std::vector<Adjustment> adjustments;
  std::vector<InputRead> inputs_read;  // besides the period's own (results.input_digest)
};

struct Statement {
  std::string contract;
  int version = 0;
  std::string partner;
  std::string period;
  std::string status;
  core::Currency currency;
  std::vector<Line> lines;
  core::Money own;       // this period's own lines (before adjustments and carry-forward)
  core::Money total;     // payable: the sum of every line
  core::Money carry_out; // carried to the next period by the minimum payout
  nlohmann::json document;  // the whole statement (see docs/compensation.md)
};

// Computes a statement. Throws core::MoneyError on an overflow (an amount past 92 quadrillion).
[[nodiscard]] Statement compute_statement(const StatementInput& input);

// The credit lines of a statement document (for earn-back) and its own amount (for adjustments).
[[nodiscard]] std::vector<PriorCredit> credits_of(const nlohmann::json& statement_document);

// RFC 4180 CSV cell: quoted when needed; text a spreadsheet would run as a formula (=, +, -, @,
// tab or carriage return first) gets a leading apostrophe, plain decimal numbers excepted.
[[nodiscard]] std::string csv_cell(std::string_view text);

}  // namespace pactwatch::compensation
