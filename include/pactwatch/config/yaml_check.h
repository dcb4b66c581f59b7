// Helpers for validating YAML documents with positioned diagnostics (config and rule files).
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pactwatch/core/diagnostic.h"

namespace pactwatch::config {

// Collects diagnostics for one file.
class YamlReport {
 public:
  explicit YamlReport(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Mark& mark, std::string message);
  void error(const YAML::Node& node, std::string message) { error(node.Mark(), std::move(message)); }
  void error_at_file(std::string message) { diagnostics_.push_back({file_, 0, 0, std::move(message)}); }

  // Reports keys of `map` not in `known` ("unknown key 'x' (did you mean 'y'?)") and duplicates.
  void check_keys(const YAML::Node& map, const std::vector<std::string_view>& known, std::string_view where);

  [[nodiscard]] bool ok() const { return diagnostics_.empty(); }
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] core::Diagnostics& diagnostics() { return diagnostics_; }

 private:
  std::string file_;
  core::Diagnostics diagnostics_;
};

// Parses YAML text; a syntax error becomes a positioned diagnostic and an undefined node. The
// text is checked strictly first (yaml_syntax_error): yaml-cpp alone forgives some malformed
// documents and reads something else than was written.
[[nodiscard]] YAML::Node parse_yaml(std::string_view text, YamlReport& report);

// The first YAML syntax error in a document, positioned in `file`, judged as strictly as the
// common YAML 1.1 readers judge it (PyYAML's safe loader is the reference in the tests): an
// unterminated quoted value, a second document, content after a list at its indentation, a
// duplicate or undefined anchor, a tab where YAML allows only spaces, a collection as a mapping
// key, and the rest of that grammar. Tags and merge keys are refused too. Nothing when the
// document is well-formed.
[[nodiscard]] std::optional<core::Diagnostic> yaml_syntax_error(std::string_view text, std::string_view file);

[[nodiscard]] std::string_view node_kind(const YAML::Node& node);

}  // namespace pactwatch::config
