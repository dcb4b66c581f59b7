// One job of the daemon's schedule: a timer on the io_context ticks first after `first_delay`, then
// every `interval`; each tick hands the job to a thread pool and re-arms at once, so a slow job
// never shifts the ticks that follow. A tick that finds the job still running is skipped and
// counted (Overlap::skip), or queues another run behind it (Overlap::queue). The job catches its
// own failures: what escapes it ends the process, as anything escaping a pool thread does.
// Not thread-safe: start and stop from the io_context; missed_ticks() and running() may be read
// from anywhere.
#pragma once

#include <utility>  // before Boost.Asio (Boost 1.74 with GCC 12 in C++23 mode)

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace pactwatch::app {

class PeriodicJob {
 public:
  enum class Overlap {
    skip,   // a tick while the last run is still going is skipped, counted and reported
    queue,  // every tick posts a run; runs that overlap wait for each other inside the job
  };
  struct Schedule {
    std::chrono::milliseconds first_delay;
    std::chrono::milliseconds interval;
  };

  // `io` and `pool` outlive the job; the pool is joined before the job is destroyed. `on_missed`
  // is called on the io_context for each skipped tick (Overlap::skip), after it was counted.
  PeriodicJob(boost::asio::io_context& io, boost::asio::thread_pool& pool, std::string name, Schedule schedule,
              std::function<void()> job, Overlap overlap = Overlap::skip, std::function<void()> on_missed = {});
  PeriodicJob(const PeriodicJob&) = delete;
  PeriodicJob& operator=(const PeriodicJob&) = delete;

  // Arms the first tick.
  void start();
  // No tick runs the job after this: the wait ends at once. A run already on the pool goes on
  // (the job watches the scheduler's own stop flag); join the pool to wait for it.
  void stop();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const Schedule& schedule() const { return schedule_; }
  [[nodiscard]] std::int64_t missed_ticks() const { return missed_ticks_; }
  [[nodiscard]] bool running() const { return running_; }

 private:
  void arm(std::chrono::milliseconds delay);
  void tick();

  boost::asio::thread_pool& pool_;
  std::string name_;
  Schedule schedule_;
  std::function<void()> job_;
  Overlap overlap_;
  std::function<void()> on_missed_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
  std::atomic<bool> running_{false};
  std::atomic<std::int64_t> missed_ticks_{0};
};

}  // namespace pactwatch::app
