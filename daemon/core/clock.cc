#include "pactwatch/core/clock.h"

namespace pactwatch::core {

Instant SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

}  // namespace pactwatch::core
