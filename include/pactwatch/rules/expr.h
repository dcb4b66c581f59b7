// The expression language of contracts: `where`, `each` and ratio conditions.
//
//   priority == "urgent" and not ("vip" in tags)
//   first_reply <= 1h          resolution < 2d4h        amount >= EUR 10000.00
//   score >= 4                 custom.region in ["emea", "apac"]
//
// Fields depend on the item kind (tickets, deals, surveys, events); an unknown field is an error
// that names the valid ones. Errors carry the column (1-based) within the expression.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pactwatch/core/money.h"
#include "pactwatch/core/time.h"

namespace pactwatch::rules {

enum class SourceKind { tickets, deals, surveys, events };
[[nodiscard]] std::string_view to_string(SourceKind k);
[[nodiscard]] std::expected<SourceKind, std::string> parse_source_kind(std::string_view s);

enum class ValueType {
  boolean,
  string,
  number,     // exact decimal (a Ratio); percentages are numbers ("95%" is 95/100)
  duration,   // business time
  money,
  string_list,
  dynamic,    // custom fields: string or number, decided by the data
};
[[nodiscard]] std::string_view to_string(ValueType t);

struct FieldInfo {
  std::string_view name;
  ValueType type;
  std::string_view description;
};
// The fields an expression over items of `kind` may use (custom.NAME is always allowed too).
[[nodiscard]] std::span<const FieldInfo> fields_of(SourceKind kind);

struct ExprError {
  int column = 0;  // 1-based within the expression text
  std::string message;
};

enum class CompareOp { eq, ne, lt, le, gt, ge };
[[nodiscard]] std::string_view to_string(CompareOp op);

using Literal = std::variant<bool, std::string, core::Ratio, core::Duration, core::Money, std::vector<std::string>>;

struct Expr {
  enum class Kind { literal, field, compare, in, not_in, all_of, any_of, negate };
  Kind kind = Kind::literal;
  int column = 1;
  ValueType type = ValueType::boolean;
  std::string field;                        // Kind::field
  std::optional<Literal> value;             // Kind::literal
  CompareOp op = CompareOp::eq;             // Kind::compare
  std::vector<std::unique_ptr<Expr>> args;  // operands
};

// Parses and type-checks a boolean expression over items of `kind`.
[[nodiscard]] std::expected<std::unique_ptr<Expr>, ExprError> parse_condition(std::string_view text, SourceKind kind);

// A comparison with a literal right side such as ">= 95%" or "<= 16h" (objectives). The result
// type is checked against `expected` when given.
struct Threshold {
  CompareOp op = CompareOp::ge;
  Literal value;
  ValueType type = ValueType::number;
  bool percent = false;  // written as a percentage ("95%"), shown as one
};
[[nodiscard]] std::expected<Threshold, ExprError> parse_threshold(std::string_view text);

// A single field name of `kind` (measures: `of: resolution`).
[[nodiscard]] std::expected<FieldInfo, std::string> find_field(std::string_view name, SourceKind kind);

// Canonical text of a literal (for messages and summaries): "95%" -> "19/20", 1h30m -> "1h30m".
[[nodiscard]] std::string literal_text(const Literal& v);

}  // namespace pactwatch::rules
