// The typed result of an evaluation: one contract version and period as of one instant, every
// KPI, obligation and brand standard with its typed values, forecast, status and evidence. The
// engine returns it; the JSON document is rendered from it in one place (evaluation_json.h), and
// a stored document is read back into it there too. Compensation, the ledger, the runner and the
// API read these fields instead of digging in JSON. docs/evaluation.md, "The document", gives the
// rendered shape of every field.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pactwatch/core/money.h"
#include "pactwatch/core/status.h"
#include "pactwatch/core/time.h"
#include "pactwatch/engine/item_values.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::engine {

inline constexpr std::string_view kEngineVersion = "1";

// A period of a contract: [start, end) in UTC, with the label people use ("2026-10", "2026-Q4",
// or the rolling window's end date).
struct PeriodWindow {
  std::string label;
  core::Instant start{};
  core::Instant end{};
};

// An item named by a result (a failed condition, a value missing its target, a violation, a
// pending item): the values of the fields the rule reads. It is made once, when its item is
// prepared, with its JSON text rendered then; results share it rather than copy it.
struct EvidenceEntry {
  std::string source;
  std::string id;
  // By field name. A document read back gives numbers and money as the text it shows (a string):
  // the rendering is the same, the field's type is the contract's to know.
  std::vector<std::pair<std::string, Value>> values;
  std::string json;  // the entry as the document shows it (compact, keys sorted)
};
using Evidence = std::shared_ptr<const EvidenceEntry>;

// Makes an entry and renders its text.
[[nodiscard]] Evidence make_evidence(std::string source, std::string id, std::vector<std::pair<std::string, Value>> values);

// An item whose condition is undecided, with the instant it breaches if its timers keep running.
struct PendingEntry {
  Evidence entry;
  std::optional<core::Instant> breach_at;
};

// A capped list: the entries shown (at most the evidence limit) and how many there are in all.
template <typename Entry>
struct CappedList {
  std::vector<Entry> shown;
  std::int64_t total = 0;
  [[nodiscard]] bool truncated() const { return total > static_cast<std::int64_t>(shown.size()); }
};

// An accepted dispute or correction as the engine applies it (docs/disputes.md, "The money
// follows"): items that no longer count for some rules of the period.
struct Exclusion {
  std::string by;                  // "dispute 12", "correction 3"
  std::vector<std::string> rules;  // the ids of the KPIs, obligations and standards it applies to
  // One item (source, kind, id); or the items created in [created_from, created_until); or, with
  // neither, every item of the rules: the rules are waived for the period.
  std::string source;
  std::string kind;
  std::string id;
  std::optional<core::Instant> created_from;
  std::optional<core::Instant> created_until;
  [[nodiscard]] bool one_item() const { return !id.empty(); }
  [[nodiscard]] bool whole_rule() const { return id.empty() && !created_from; }
  friend bool operator==(const Exclusion&, const Exclusion&) = default;
};

// An item left out of a rule, and what left it out.
struct ExcludedEntry {
  std::string by;
  std::string source;
  std::string id;
  friend bool operator==(const ExcludedEntry&, const ExcludedEntry&) = default;
};

// What exclusions did to one rule: which applied (`by`, in the document's order), whether the rule
// is waived, and the items that would have counted for it otherwise.
struct RuleExclusions {
  std::vector<std::string> by;
  bool whole_rule = false;
  CappedList<ExcludedEntry> items;
  [[nodiscard]] bool any() const { return !by.empty(); }
};

// The forecast of a KPI in an open period (docs/evaluation.md, "Forecast").
struct Forecast {
  enum class Method {
    pending_fail,  // ratios: pending items due in the period count as failed
    none,          // totals: no forecast, they grow until the period ends
  } method = Method::pending_fail;
  std::int64_t pending_due_in_period = 0;
  // pending_fail with any item: numerator / (denominator + pending due), and whether it meets the
  // target.
  std::optional<core::Ratio> share;
  bool meets_target = false;
};

// A KPI or an obligation: what the contract says of it (as the document repeats it), then what
// was measured.
struct KpiResult {
  std::string id;
  std::string description;
  rules::SourceKind source = rules::SourceKind::tickets;
  rules::MeasureKind measure = rules::MeasureKind::ratio;
  std::string counted_by;
  std::string target;                  // the objective as text: ">= 95.00%", "<= 4h"
  std::optional<std::string> warning;  // the warning level as text
  std::optional<std::string> where;
  std::optional<std::string> condition;
  std::int64_t min_sample = 1;
  std::optional<core::Ratio> weight;

  std::int64_t where_undetermined = 0;
  // Ratio measures: items meeting the condition over decided items, and the undecided ones.
  std::int64_t numerator = 0;
  std::int64_t denominator = 0;
  CappedList<PendingEntry> pending;
  // Other measures: the sample, the items without a value of the measure's type, the running
  // timers left out, and the value (empty: none, as with no sample).
  std::int64_t sample = 0;
  std::int64_t missing_values = 0;
  std::int64_t running = 0;
  std::optional<Value> value;

  std::optional<Forecast> forecast;  // open periods only
  core::RuleStatus status = core::RuleStatus::insufficient_data;
  CappedList<Evidence> evidence;
  RuleExclusions excluded;  // a waived rule (whole_rule) has insufficient data

  [[nodiscard]] bool is_ratio() const { return measure == rules::MeasureKind::ratio; }
  // A ratio's value, exactly (numerator / denominator, unreduced); empty with no decided item.
  [[nodiscard]] std::optional<core::Ratio> share() const;
  // The items the value stands on: the denominator of a ratio, the sample of the others.
  [[nodiscard]] std::int64_t sample_size() const { return is_ratio() ? denominator : sample; }
  // The value as one number to draw: a percentage (93.5), seconds for a duration, the number or
  // the amount in units; empty when there is none.
  [[nodiscard]] std::optional<double> plotted() const;
};

// A KPI's target as a line on the chart of its plotted values: in the same units as
// KpiResult::plotted (a percentage for a ratio measure, seconds for a duration, the number or the
// amount in units), and whether values pass at or above it (>=, >) or at or below it (<=, <).
struct PlotTarget {
  bool at_least = true;
  double value = 0;
  friend bool operator==(const PlotTarget&, const PlotTarget&) = default;
};
// Nothing for a target drawn as no line (= and !=, or a literal that is not a number).
[[nodiscard]] std::optional<PlotTarget> plotted_target(const rules::Kpi& kpi);

struct StandardResult {
  std::string id;
  std::string description;
  std::string rule;  // the `each` condition as written
  rules::Severity severity = rules::Severity::major;
  std::int64_t checked = 0;
  std::int64_t pending = 0;
  CappedList<Evidence> violations;  // `violations` in the document is the total
  RuleExclusions excluded;
  // Waived for the period (a whole-rule exclusion): neither met nor breached.
  [[nodiscard]] core::RuleStatus status() const {
    if (excluded.whole_rule) return core::RuleStatus::insufficient_data;
    return violations.total > 0 ? core::RuleStatus::breached : core::RuleStatus::met;
  }
};

struct ContractRef {
  std::string id;
  int version = 0;
  std::string sha256;
  bool enforced = false;
  std::string note;
  std::string partner;
  std::string calendar;
  std::string currency;
};

struct InputProblem {
  std::string source;
  std::string id;
  std::string problem;
};

struct Evaluation {
  std::string engine_version{kEngineVersion};
  ContractRef contract;
  PeriodWindow period;
  bool open = false;
  core::Instant as_of{};
  std::int64_t input_items = 0;
  std::string input_digest;
  std::vector<InputProblem> problems;
  // The exclusions applied (the input digest covers them), ordered by `by`.
  std::vector<Exclusion> exclusions;
  std::vector<KpiResult> kpis;
  std::vector<StandardResult> brand_standards;
  std::vector<KpiResult> obligations;

  // Whether the document has a score: at least one KPI is weighted.
  [[nodiscard]] bool scored() const;
  // The weighted score (core::weighted_score over the KPIs); empty when unscored or when every
  // weighted KPI has insufficient data.
  [[nodiscard]] std::optional<core::Ratio> score() const;
};

}  // namespace pactwatch::engine
