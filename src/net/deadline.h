// One timer per connection enforcing "this operation must finish by T" for any number of
// sequential operations. Arming is an assignment (no timer syscall) unless the new deadline is
// earlier than the one the timer sleeps towards; on expiry the armed socket is cancelled, so
// the pending read/write/connect completes with operation_aborted and the owner sees expired().
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

namespace gh::net {

class Deadline {
 public:
  using clock = std::chrono::steady_clock;

  explicit Deadline(boost::asio::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline() { stop(); }

  // Cancels `socket` (any Asio socket: TCP, Unix, ...) if the operations that follow are not
  // done within `timeout`.
  template <typename Socket>
  void arm(std::chrono::milliseconds timeout, Socket& socket) {
    auto& s = *state_;
    s.target = &socket;
    s.cancel = [](void* target) {
      boost::system::error_code ignored;
      static_cast<Socket*>(target)->cancel(ignored);
    };
    s.expired = false;
    s.deadline = clock::now() + timeout;
    if (!s.waiting || s.deadline < s.timer.expiry()) start_wait(state_);
  }
  void disarm() { state_->deadline = clock::time_point::max(); }
  bool expired() const { return state_->expired; }
  void stop() {
    state_->stopped = true;
    state_->target = nullptr;
    if (state_->waiting) state_->timer.cancel();
  }

 private:
  // Shared with the pending timer handler, which may run after the Deadline is gone.
  struct State {
    explicit State(boost::asio::any_io_executor ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    clock::time_point deadline = clock::time_point::max();
    void* target = nullptr;
    void (*cancel)(void*) = nullptr;  // type-erased Socket::cancel, no allocation per arm()
    unsigned generation = 0;
    bool waiting = false;
    bool expired = false;
    bool stopped = false;
  };

  static void start_wait(const std::shared_ptr<State>& state) {
    auto& s = *state;
    s.timer.expires_at(s.deadline);  // cancels a previous wait, whose handler sees an old generation
    s.waiting = true;
    unsigned gen = ++s.generation;
    s.timer.async_wait([state, gen](const boost::system::error_code&) { on_timer(state, gen); });
  }

  static void on_timer(const std::shared_ptr<State>& state, unsigned gen) {
    auto& s = *state;
    if (gen != s.generation) return;
    s.waiting = false;
    if (s.stopped) return;
    if (clock::now() >= s.deadline) {
      s.expired = true;
      s.deadline = clock::time_point::max();
      if (s.target) s.cancel(s.target);
      return;
    }
    if (s.deadline != clock::time_point::max()) start_wait(state);
  }

  std::shared_ptr<State> state_;
};

}  // namespace gh::net
