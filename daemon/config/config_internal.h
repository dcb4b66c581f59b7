// Private to the config module: what config.cc (the settings table, the file as a whole) and
// source_config.cc (the sources: section) share.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pactwatch/config/config.h"
#include "pactwatch/config/yaml_check.h"

namespace pactwatch::config::detail {

// "30s", "5m", "2h" or a number of seconds.
std::optional<std::int64_t> seconds(std::string_view v);
// Remembers where a value was written (Config::positions).
void note_position(Config& config, const std::string& key, const YAML::Node& value);
// The sources: section: appends a SourceConfig per source to `config`, reports every problem.
void parse_sources(const YAML::Node& node, Config& config, YamlReport& report);

}  // namespace pactwatch::config::detail
