#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pactwatch::testutils {

// A bound on how fast the daemon answers (a stop within 5 s, a watchdog gap under 400 ms) is a
// promise of the release build. Under a sanitizer, several times slower, tests allow this many
// times as long (ThreadSanitizer is the slower of the two).
#if defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 15;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int kSanitizerSlowdown = 5;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;
  std::string err;
};

// A child process whose stdout and stderr go to files; killed on destruction if still running.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void signal(int signo) const;
  // Waits for exit up to `timeout`; returns the exit code (-1 for death by signal), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] std::string out() const;
  [[nodiscard]] std::string err() const;
  // Waits until stderr holds `needle` (looking every millisecond, at what was written since the
  // last look); false after `timeout`.
  bool wait_for_err(const std::string& needle, std::chrono::milliseconds timeout) const;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_path_;
  std::filesystem::path err_path_;
};

// Runs to completion (killed after `timeout`).
ProcessResult run(const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

}  // namespace pactwatch::testutils
