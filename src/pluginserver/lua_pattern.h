// Lua 5.1 pattern matching (string.find semantics), because Kong schemas' `match` uses Lua
// patterns, not regular expressions: "^%d+$", "%w+", "[%a_][%w_]*", "%b()", "%f[%w]".
#pragma once

#include <string_view>

namespace gh::pluginserver {

// True if `pattern` matches somewhere in `subject` (anchored by a leading '^').
// Throws std::runtime_error("malformed pattern ...") for an invalid pattern.
bool lua_find(std::string_view subject, std::string_view pattern);

}  // namespace gh::pluginserver
