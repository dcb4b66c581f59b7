// The evaluation document: the one place an Evaluation becomes JSON, and a stored document
// becomes an Evaluation again. docs/evaluation.md, "The document", describes every field.
#pragma once

#include <expected>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pactwatch/engine/evaluation.h"

namespace pactwatch::engine {

// The document as stored: compact, keys sorted. Evidence entries are spliced in as the text each
// was rendered to when it was made, not serialized again.
[[nodiscard]] std::string render_evaluation(const Evaluation& e);

// The same document with its evidence and pending lists left out (a placeholder string stands for
// each): the fields without the bulk.
[[nodiscard]] nlohmann::json evaluation_skeleton(const Evaluation& e);

// Reads a document back (stored, or from `eval --format json`): render_evaluation of the result
// gives the same bytes. An error names what is missing or malformed.
[[nodiscard]] std::expected<Evaluation, std::string> parse_evaluation(std::string_view text);
[[nodiscard]] std::expected<Evaluation, std::string> evaluation_from_json(const nlohmann::json& doc);

// A rule's `value` as the document shows it: a ratio's percentage ("93.50%"), a duration
// ({"milliseconds", "seconds", "text"}), a number ("86") or an amount ("1200.00 EUR"); null when
// there is none. A brand standard has none.
[[nodiscard]] nlohmann::json value_json(const KpiResult& k);
// One rule, one document section, as the document shows them, but with empty evidence and
// pending lists (their totals as given): what summaries of a result are built from.
[[nodiscard]] nlohmann::json rule_json(const KpiResult& k);
[[nodiscard]] nlohmann::json rule_json(const StandardResult& s);
[[nodiscard]] nlohmann::json period_json(const Evaluation& e);
// Exclusions as a document's input lists them (and as the input digest covers them), and back.
[[nodiscard]] nlohmann::json exclusions_json(std::span<const Exclusion> exclusions);
[[nodiscard]] std::expected<Exclusion, std::string> exclusion_from_json(const nlohmann::json& j);
// The score's value: "75.00%", or null (unscored, or no weighted KPI with enough data).
[[nodiscard]] nlohmann::json score_json(const Evaluation& e);
// An item's or a result's value as documents show it.
[[nodiscard]] nlohmann::json value_json(const Value& v);
// A duration to the millisecond as text: "1h2m3.5s", "1.667s", "4h".
[[nodiscard]] std::string duration_text(Millis d);

}  // namespace pactwatch::engine
