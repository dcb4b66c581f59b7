// Waiting on a condition instead of a fixed time: a test that waits for something to happen
// looks for it every `poll_every` and goes on as soon as it holds, so it is as fast as the code
// under test and only a real failure uses up the whole `timeout`.
#pragma once

#include <chrono>
#include <thread>

namespace pactwatch::testutils {

// True as soon as `done()` returns true (looked at first at once, then every `poll_every`); false
// when it still does not after `timeout`. `done` runs on the calling thread. A caller that asserts
// on the condition afterwards, with a message of its own, may ignore the result.
template <class Predicate>
bool eventually(Predicate&& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll_every = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll_every);
  }
}

}  // namespace pactwatch::testutils
