// Lets one log line through per interval and counts the ones held back, so that a failure that
// repeats for every request (or every accept) cannot flood the error log: the next line that
// passes says how many were not written. Not thread-safe: one per worker (or per loop).
#pragma once

#include <chrono>
#include <cstdint>

namespace gh::log {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Throttle(Clock::duration interval) : interval_(interval) {}

  // True when a line may be written now; `held_back` is then the number of lines refused since
  // the last one that passed.
  bool allow(uint64_t& held_back, Clock::time_point now = Clock::now()) {
    if (now < next_) {
      ++held_;
      return false;
    }
    next_ = now + interval_;
    held_back = held_;
    held_ = 0;
    return true;
  }

 private:
  Clock::duration interval_;
  Clock::time_point next_{};
  uint64_t held_ = 0;
};

}  // namespace gh::log
