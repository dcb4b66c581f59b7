#include "pactwatch/app/periodic_job.h"

#include <boost/asio/post.hpp>

namespace pactwatch::app {

PeriodicJob::PeriodicJob(boost::asio::io_context& io, boost::asio::thread_pool& pool, std::string name, Schedule schedule,
                         std::function<void()> job, Overlap overlap, std::function<void()> on_missed)
    : pool_(pool), name_(std::move(name)), schedule_(schedule), job_(std::move(job)), overlap_(overlap),
      on_missed_(std::move(on_missed)), timer_(io) {}

void PeriodicJob::start() { arm(schedule_.first_delay); }

void PeriodicJob::stop() {
  stopped_ = true;
  timer_.cancel();
}

void PeriodicJob::arm(std::chrono::milliseconds delay) {
  timer_.expires_after(delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    // A cancelled wait may complete after the job is gone (a reload destroys the old schedule):
    // look at nothing else first.
    if (ec) return;
    if (stopped_) return;
    tick();
    arm(schedule_.interval);
  });
}

void PeriodicJob::tick() {
  if (overlap_ == Overlap::queue) {
    boost::asio::post(pool_, [this] { job_(); });
    return;
  }
  if (running_.exchange(true)) {
    ++missed_ticks_;
    if (on_missed_) on_missed_();
    return;
  }
  boost::asio::post(pool_, [this] {
    job_();
    running_ = false;
  });
}

}  // namespace pactwatch::app
