// Helpers for validating YAML documents with positioned diagnostics (config and rule files).
#pragma once

#include <yaml-cpp/yaml.h>

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

// Parses YAML text; a syntax error becomes a positioned diagnostic and an undefined node.
[[nodiscard]] YAML::Node parse_yaml(std::string_view text, YamlReport& report);

[[nodiscard]] std::string_view node_kind(const YAML::Node& node);

}  // namespace pactwatch::config
