// Small helpers the end-to-end benchmark drivers share: timing, peak memory, running a command.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

namespace pactwatch::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// This process's peak resident set, in MB.
inline long peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

// Runs a shell command; a failure ends the benchmark.
inline void run(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "failed: " << cmd << '\n';
    std::exit(1);
  }
}

}  // namespace pactwatch::bench
