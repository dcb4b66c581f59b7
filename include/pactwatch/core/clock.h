// The source of "now". Only the daemon's edges read the real clock; the engine is given `now`.
#pragma once

#include "pactwatch/core/time.h"

namespace pactwatch::core {

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Instant now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] Instant now() const override;
};

// A clock that moves only when told to: for tests and for replaying a period as of an instant.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Instant start) : now_(start) {}
  [[nodiscard]] Instant now() const override { return now_; }
  void set(Instant t) { now_ = t; }
  void advance(Duration d) { now_ += d; }

 private:
  Instant now_;
};

}  // namespace pactwatch::core
