// A reference evaluator, slow and obviously right, written from docs/evaluation.md, docs/rules.md,
// docs/calendars.md and docs/import.md alone, to test the engine against (tests/property/
// evaluation_property_test.cc). It shares nothing with the engine but the rules parser's output
// (the contract, its expressions and thresholds), core types and the calendar's duration/add
// primitives. It reads items as the import schema describes them (NDJSON records), not as the
// store keeps them, so the importer and the store are under test too.
//
// Wherever the docs leave a question open, the reading taken is written down in
// reference_evaluator.cc under "Readings" (R1, R2, …), for the docs to settle.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pactwatch/calendar/calendar.h"
#include "pactwatch/core/time.h"
#include "pactwatch/rules/contract.h"

namespace pactwatch::reference {

// One item as an import record: its kind (tickets, deals, surveys, events) and the NDJSON object
// (with "id", "source" and "partner").
struct Record {
  std::string kind;
  nlohmann::json fields;
};

// An item's identity: (source, kind, id), in that order (docs/evaluation.md, "Evidence").
struct ItemKey {
  std::string source;
  std::string kind;
  std::string id;
  friend auto operator<=>(const ItemKey&, const ItemKey&) = default;
};
[[nodiscard]] ItemKey key_of(const Record& r);

struct Window {
  std::string label;  // "2026-10", "2026-Q4"; empty for a rolling window (the docs name no label)
  core::Instant start{};
  core::Instant end{};
};

// The month or quarter containing t in the calendar's time zone, or the rolling window ending at
// as_of (docs/evaluation.md, "Periods").
[[nodiscard]] Window period_containing(const rules::ContractVersion& c, const std::string& timezone, core::Instant t,
                                       core::Instant as_of);

struct Listed {
  std::string source;
  std::string id;
  std::optional<core::Instant> breach_at;  // pending entries only
};

struct RuleResult {
  std::string section;  // kpis, obligations, brand_standards
  std::string id;
  std::string measure;  // ratio, percentile, mean, sum, count; "standard"
  nlohmann::json value;  // as the document shows it; null when there is none
  std::optional<std::int64_t> numerator, denominator, sample;
  std::string status;
  std::optional<std::pair<std::string, std::string>> interval95;  // low, high
  bool has_forecast = false;       // ratios in an open period
  nlohmann::json forecast_value;   // "xx.xx%" or null
  std::int64_t pending_due = 0;
  bool forecast_meets_target = false;
  std::vector<Listed> pending;   // in document order, not capped
  std::vector<Listed> evidence;  // in document order, not capped
  std::int64_t missing_values = 0;
  std::int64_t running = 0;
  std::int64_t checked = 0, violations = 0, pending_count = 0;  // brand standards
};

struct Document {
  Window period;
  bool open = false;
  std::vector<ItemKey> inputs;  // sorted
  std::vector<RuleResult> kpis, brand_standards, obligations;
  nlohmann::json score;  // "75.00%", null, or "(absent)" when the document has none (R15)
};

// Evaluates one contract period as of an instant over the records (any partner's: only the
// contract's partner's count).
[[nodiscard]] Document evaluate(const rules::ContractVersion& contract, const calendar::Calendar& cal,
                                std::span<const Record> records, const Window& period, core::Instant as_of);

// Every instant by which the record can count in some period of the contract (for one of its
// rules), as of as_of: the periods an incremental run must re-evaluate when the record changes.
[[nodiscard]] std::vector<core::Instant> counting_instants(const rules::ContractVersion& contract, const Record& r,
                                                           core::Instant as_of);

// Display forms the reference shares with the comparison (docs/evaluation.md, "Values").
[[nodiscard]] nlohmann::json duration_value(std::int64_t ms);  // {"milliseconds", "text"}
[[nodiscard]] std::string duration_text(std::int64_t ms);

}  // namespace pactwatch::reference
