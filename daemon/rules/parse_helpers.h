// Helpers shared by the rule-file parsers (contracts and their compensation schemes): positioned
// errors inside YAML scalars, and required or optional single values.
#pragma once

#include <string>
#include <string_view>

#include "pactwatch/config/yaml_check.h"

namespace pactwatch::rules::detail {

using config::YamlReport;

// Context for one file: positions of expressions inside their YAML scalars need the source text.
struct FileContext {
  std::string_view text;
  YamlReport& report;

  // Column of character `offset` of a scalar's value (skipping an opening quote).
  YAML::Mark at_offset(const YAML::Node& node, int offset) const {
    YAML::Mark m = node.Mark();
    const auto pos = static_cast<std::size_t>(m.pos);
    const bool quoted = pos < text.size() && (text[pos] == '"' || text[pos] == '\'');
    m.column += offset + (quoted ? 1 : 0);
    return m;
  }
};

inline std::string scalar_or_error(const YAML::Node& node, const std::string& where, YamlReport& report) {
  if (!node || node.IsNull()) return {};
  if (!node.IsScalar()) {
    report.error(node, where + ": expected a single value, got " + std::string(config::node_kind(node)));
    return {};
  }
  return node.Scalar();
}

inline std::string required_scalar(const YAML::Node& parent, const char* key, const std::string& where, YamlReport& report) {
  const YAML::Node v = parent[key];
  if (!v || v.IsNull()) {
    report.error(parent, where + ": missing required key '" + key + "'");
    return {};
  }
  return scalar_or_error(v, where + ": " + key, report);
}

}  // namespace pactwatch::rules::detail
