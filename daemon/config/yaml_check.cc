#include "pactwatch/config/yaml_check.h"

#include <set>

namespace pactwatch::config {

void YamlReport::error(const YAML::Mark& mark, std::string message) {
  const int line = mark.line >= 0 ? mark.line + 1 : 0;
  const int column = mark.column >= 0 ? mark.column + 1 : 0;
  diagnostics_.push_back({file_, line, column, std::move(message)});
}

void YamlReport::check_keys(const YAML::Node& map, const std::vector<std::string_view>& known,
                            std::string_view where) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const YAML::Node key_node = kv.first;
    if (!key_node.IsScalar()) {
      error(key_node, std::string(where) + ": keys must be plain names");
      continue;
    }
    const std::string key = key_node.Scalar();
    if (!seen.insert(key).second) {
      error(key_node, std::string(where) + ": duplicate key '" + key + "'");
      continue;
    }
    bool found = false;
    for (auto k : known) found = found || k == key;
    if (!found) {
      std::string msg = std::string(where) + ": unknown key '" + key + "'";
      if (auto hint = core::did_you_mean(key, known); !hint.empty()) msg += " (" + hint + ")";
      error(key_node, std::move(msg));
    }
  }
}

YAML::Node parse_yaml(std::string_view text, YamlReport& report) {
  if (auto problem = yaml_syntax_error(text, report.file())) {
    report.diagnostics().push_back(std::move(*problem));
    return YAML::Node(YAML::NodeType::Undefined);
  }
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    report.error(e.mark, "YAML syntax error: " + e.msg);
    return YAML::Node(YAML::NodeType::Undefined);
  }
}

std::string_view node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "nothing";
}

}  // namespace pactwatch::config
