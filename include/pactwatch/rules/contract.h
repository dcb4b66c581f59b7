// Contract versions (rules/contracts/*.yaml): what brand and partner agreed, approved by both over
// the SHA-256 of the contract's canonical form.
#pragma once

#include <algorithm>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/agreement.h"
#include "pactwatch/core/diagnostic.h"
#include "pactwatch/core/dispute.h"
#include "pactwatch/core/money.h"
#include "pactwatch/rules/compensation_scheme.h"
#include "pactwatch/rules/expr.h"

namespace pactwatch::rules {

struct Objective {
  Threshold target;
  std::optional<Threshold> warning;
};

enum class MeasureKind { ratio, percentile, mean, sum, count };
[[nodiscard]] std::string_view to_string(MeasureKind k);

struct Measure {
  MeasureKind kind = MeasureKind::ratio;
  std::shared_ptr<const Expr> condition;  // ratio: the share of items meeting it
  std::string condition_text;
  int percentile = 0;                     // percentile: 1-99
  std::string of;                         // percentile, mean, sum: the field measured
  ValueType type = ValueType::number;     // type of the measured value (a ratio is a number)
};

// A KPI (measured on the partner) or an obligation (measured on the brand): same shape.
struct Kpi {
  std::string id;
  std::string description;
  std::string rationale;
  SourceKind source = SourceKind::tickets;
  std::shared_ptr<const Expr> where;  // empty: every item of the source
  std::string where_text;
  Measure measure;
  Objective objective;
  int min_sample = 1;
  std::optional<core::Ratio> weight;
  // Which instant places an item in a period: created (default), solved (tickets), closed or
  // registered (deals).
  std::string counted_by = "created";
};

enum class Severity { minor, major, critical };
[[nodiscard]] std::string_view to_string(Severity s);

// A rule every item must meet; each failing item is a violation.
struct BrandStandard {
  std::string id;
  std::string description;
  std::string rationale;
  SourceKind source = SourceKind::tickets;
  std::shared_ptr<const Expr> where;
  std::string where_text;
  std::shared_ptr<const Expr> each;
  std::string each_text;
  Severity severity = Severity::major;
};

struct Approval {
  std::string party;  // brand or partner
  std::string by;     // email
  core::Instant at{};
  std::string sha256;
};

struct Period {
  enum class Kind { month, quarter, rolling } kind = Kind::month;
  core::Duration rolling{0};
};

// What the partner may dispute, and for how long (the `disputes` block, docs/disputes.md).
struct DisputeTerms {
  int window_days = 0;  // calendar days after the period ends in which a dispute may be opened
  std::vector<core::DisputeCategory> categories;  // the categories the partner may dispute under
  // Categories the brand accepts in advance: a dispute under one is accepted when it is opened.
  std::vector<core::DisputeCategory> pre_agreed;
  [[nodiscard]] bool allows(core::DisputeCategory c) const {
    return std::find(categories.begin(), categories.end(), c) != categories.end();
  }
};

struct ContractVersion {
  std::string file;
  std::string contract;  // id shared by all versions
  int version = 0;
  std::string partner;
  std::string description;  // what the contract is about, for people (reports, the portal)
  calendar::LocalDate effective_from{};
  std::optional<calendar::LocalDate> effective_until;  // inclusive; open-ended when empty
  std::vector<Approval> approvals;
  std::string currency;
  std::string calendar;
  Period period;
  std::map<std::string, std::set<std::string>> pause_in;  // timer name -> statuses that pause it
  std::vector<Kpi> kpis;
  std::vector<BrandStandard> brand_standards;
  std::vector<Kpi> obligations;
  std::string compensation_json;  // canonical JSON of the compensation block ("null" when absent)
  std::optional<CompensationScheme> compensation;  // validated; empty when the contract pays nothing
  std::string notify_json;
  // The `disputes` block; none: nothing in this version may be disputed.
  std::optional<DisputeTerms> disputes;
  // Routing of notification events (the `notify` block): event types for the brand's channels
  // (empty optional: all) and for the partner's contacts (empty: none; never for a draft).
  std::optional<std::vector<std::string>> notify_brand;
  std::vector<std::string> notify_partner;

  // Position (line, column) of each top-level key, for cross-file diagnostics.
  std::map<std::string, std::pair<int, int>> positions;

  std::string sha256;        // of the canonical form without approvals
  // Both parties approved this exact content. As parsed, from the file's approvals block, which
  // anyone who can write the file can type; rules::apply_recorded_approvals replaces it with what
  // the store's recorded acts prove, and everything that runs on a store goes through it.
  bool enforced = false;
  std::string status_note;   // why it is a draft, or who approved it
  // Set by rules::apply_recorded_approvals: where the recorded acts leave this version, and the
  // approvals of the file that no recorded approval backs (they enforce nothing).
  std::optional<core::Agreement> agreement;
  std::vector<Approval> unverified_approvals;

  [[nodiscard]] bool in_effect_on(calendar::LocalDate d) const {
    return d >= effective_from && (!effective_until || d <= *effective_until);
  }
};

// Parses one contract file. Cross-file checks (partner and calendar references, overlapping
// versions) are the rule set's.
[[nodiscard]] std::expected<ContractVersion, core::Diagnostics> parse_contract(std::string_view text,
                                                                               const std::string& file);
[[nodiscard]] std::expected<ContractVersion, core::Diagnostics> load_contract(const std::filesystem::path& file);

// The canonical form the hash is taken over: the document as JSON with object keys sorted, every
// scalar as a string, no insignificant whitespace, and the top-level `approvals` key removed.
[[nodiscard]] std::expected<std::string, core::Diagnostics> canonical_contract(std::string_view text,
                                                                               const std::string& file);
// The canonical form of a loaded version, read back from its file and checked against the hash
// it was loaded with; an error when the file is gone or changed since.
[[nodiscard]] std::expected<std::string, std::string> canonical_of(const ContractVersion& v);
// Lower-case hex SHA-256 of the canonical form.
[[nodiscard]] std::expected<std::string, core::Diagnostics> contract_hash(std::string_view text, const std::string& file);

}  // namespace pactwatch::rules
