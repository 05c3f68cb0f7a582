// libFuzzer target: the kong.conf parser (src/conf/properties.h): `key = value` lines, comments
// and escapes, then every typed property (listen lists, sizes, booleans, CIDRs, log targets, TLS
// settings). Any text must load or be refused with a ConfigError, never crash or throw anything
// else. The text goes to parse_properties as the content of a kong.conf in an empty directory of
// its own (load_properties without the file read, which cost a disk write per execution), so that
// relative paths a property names (certificates, logs) resolve into that directory, never to a
// file of the machine's.
#include <string>

#include "conf/error.h"
#include "conf/properties.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string conf_path = gh::fuzz::temporary_directory("kong-conf-fuzz") + "/kong.conf";
  try {
    auto properties = gh::conf::parse_properties(gh::fuzz::as_text(data, size), conf_path, {});
    (void)properties;
  } catch (const gh::conf::ConfigError&) {
  }
  return 0;
}
