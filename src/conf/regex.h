// PCRE2 compilation shared by validation (conf) and matching (router), so both agree on what
// a valid route regex is.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gh::conf {

struct Pcre2CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using Pcre2Code = std::unique_ptr<pcre2_code, Pcre2CodeDeleter>;

// Compiles `pattern` (UTF-8) with `options` and JIT when available. On failure returns nullptr
// and sets `error` to PCRE2's message with the offset.
Pcre2Code compile_regex(std::string_view pattern, uint32_t options, std::string& error);

// The PCRE2 error for `pattern`, or nullopt when it compiles.
std::optional<std::string> regex_compile_error(std::string_view pattern);

}  // namespace gh::conf
