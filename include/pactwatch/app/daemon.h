// The daemon (`pactwatch serve`): load config and rules, open and migrate the store, serve health
// endpoints, run until SIGTERM/SIGINT. SIGHUP reloads the rules through the one reload path.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"

namespace pactwatch::app {

// Runs in the foreground until asked to stop. Returns the process exit code (0 on a clean stop).
// With the config's path, SIGHUP reloads the config too (sources, channels, rules directory,
// schedules): validated aside, applied only when valid; the listen address and the database need
// a restart.
int serve(const config::Config& config, const core::Clock& clock, const std::filesystem::path& config_path = {});

}  // namespace pactwatch::app
