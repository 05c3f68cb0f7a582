// What a traffic plugin does to a header list, as values: the pure plugin logic returns edits
// and the native-plugin glue applies them to the response (or upstream request) it owns.
#pragma once

#include <string>
#include <vector>

#include "http/header_name.h"
#include "http/headers.h"

namespace gh::traffic {

struct HeaderEdit {
  enum class Op { set, add, clear };
  Op op;
  http::HeaderName name;  // the plugins' names are constants
  std::string value;
};
using HeaderEdits = std::vector<HeaderEdit>;

}  // namespace gh::traffic
