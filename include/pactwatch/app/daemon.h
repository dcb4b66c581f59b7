// The daemon (`pactwatch serve`): load config and rules, open and migrate the store, serve health
// endpoints, run until SIGTERM/SIGINT. SIGHUP reloads the rules through the one reload path.
#pragma once

#include <memory>
#include <string>

#include "pactwatch/config/config.h"
#include "pactwatch/core/clock.h"

namespace pactwatch::app {

// Runs in the foreground until asked to stop. Returns the process exit code (0 on a clean stop).
int serve(const config::Config& config, const core::Clock& clock);

}  // namespace pactwatch::app
