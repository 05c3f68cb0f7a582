// The one exception type of the configuration layer. Its what() is the complete message a user
// sees: "<file>:<line>: <entity>.<field>: <problem>" (line omitted when unknown), so callers print
// it verbatim and exit non-zero.
#pragma once

#include <stdexcept>

namespace gh::conf {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace gh::conf
