// Logging: spdlog to stderr, as text (default) or one JSON object per line. No secrets are logged.
#pragma once

#include <string_view>

#include "pactwatch/config/config.h"

namespace pactwatch::app {

// Configures the default logger. `level` is one of the config's log levels.
void setup_logging(config::LogFormat format, std::string_view level);

}  // namespace pactwatch::app
