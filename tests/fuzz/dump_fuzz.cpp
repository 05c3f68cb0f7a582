// libFuzzer target: the plugin-server dump/query output parser (src/pluginserver/registry.h),
// which reads whatever a plugin server's query command prints: log lines with colour codes around
// a JSON plugin table in either shape (array, or {Protocol, SocketPath, Plugins}). Anything that is
// not a plugin table must be refused with std::runtime_error, never crash.
#include "fuzz_support.h"
#include "pluginserver/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view output = gh::fuzz::as_text(data, size);
  try {
    auto dump = gh::pluginserver::parse_dump(output);
    for (const auto& plugin : dump.plugins) {
      gh::fuzz::touch(plugin.name);
      (void)plugin.schema.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
