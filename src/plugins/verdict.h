// What one plugin's phase handler reports back to the phase runner. The runner alone applies the
// failure policy and decides what runs next (docs/plugins.md, failure policy).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace gh::plugins {

// Why a plugin failed, in the terms the runner acts on.
enum class Failure : uint8_t {
  instance_lost,  // the server lost the instance: the external host restarts it and retries once
  timeout,        // the server did not answer in time, or the event ran past its deadline: 504
  unavailable,    // cannot connect (not running, restarting)
  protocol,       // the server's stream is out of step (malformed frame): restart the server
  error,          // anything else (the plugin or its server reported an error, a native throw)
};

struct [[nodiscard]] Verdict {
  enum class Kind : uint8_t {
    proceed,  // the handler returned: the next plugin runs
    exited,   // the plugin produced the response (kong.response.exit): the phase ends here
    failed,   // the handler failed: `failure` and `why` say how; the runner applies the policy
  };
  Kind kind = Kind::proceed;
  Failure failure = Failure::error;
  std::string why;

  static Verdict proceed() { return {}; }
  static Verdict exited() { return {Kind::exited, Failure::error, {}}; }
  static Verdict failed(Failure failure, std::string why) { return {Kind::failed, failure, std::move(why)}; }
};

}  // namespace gh::plugins
