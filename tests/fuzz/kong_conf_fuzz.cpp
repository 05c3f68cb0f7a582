// libFuzzer target: the kong.conf parser (src/conf/properties.h): `key = value` lines, comments
// and escapes, then every typed property (listen lists, sizes, booleans, CIDRs, log targets, TLS
// settings). Any text must load or be refused with a ConfigError, never crash or throw anything
// else. The text is written to a file in a directory of its own (load_properties reads a path), so
// that relative paths a property names resolve to nothing but that file.
#include <fstream>
#include <string>

#include "conf/error.h"
#include "conf/properties.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string conf_path = gh::fuzz::temporary_directory("kong-conf-fuzz") + "/kong.conf";
  {
    std::ofstream out(conf_path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    auto properties = gh::conf::load_properties(conf_path, {});
    (void)properties;
  } catch (const gh::conf::ConfigError&) {
  }
  return 0;
}
