// libFuzzer target: the kong.yml loader (src/conf/declarative.h), YAML through entity validation.
// A declarative file comes from an operator, but `gatehouse config check` and reloads must answer
// any text with a ConfigError naming what is wrong, never crash, hang or throw anything else.
#include "conf/declarative.h"
#include "conf/error.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(gh::fuzz::as_text(data, size));
  try {
    auto declarative = gh::conf::parse_declarative(text, "kong.yml");
    (void)declarative;
  } catch (const gh::conf::ConfigError& e) {
    gh::fuzz::require(std::string_view(e.what()).starts_with("kong.yml"));
  }
  return 0;
}
