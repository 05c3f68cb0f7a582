// Bounds for an untrusted kong.yml, checked on yaml-cpp's event stream before any node is built.
// yaml-cpp shares an aliased node instead of copying it, so a 600-byte "billion laughs" file loads
// cheaply and explodes only when walked (gigabytes, then std::bad_alloc in a serving gateway).
// The scan counts nodes as the walk will see them (every alias expanded), so what passes here
// can be walked within the limits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gh::conf {

struct YamlLimits {
  size_t max_bytes = 64u << 20;  // the file itself
  size_t max_nodes = 1'000'000;  // keys, values and items, aliases counted as their expansion
  int max_depth = 64;            // nesting, aliases included
};

// Throws ConfigError naming the file, the line and the limit when `text`:
//   is larger than max_bytes or not valid UTF-8 (a scalar too, after escapes are decoded),
//   has more than max_nodes nodes or nests deeper than max_depth once aliases are expanded,
//   has an alias inside the node it refers to (a cycle),
//   repeats a key in one mapping, or uses a mapping or a list as a key.
// Syntax errors are left to the loader, which reports them with their line.
void check_yaml_bounds(std::string_view text, const std::string& file, const YamlLimits& limits = {});

// The 1-based line of byte `offset`, and the offset of the first byte that is not valid UTF-8
// (text.size() when all is valid). Overlong forms, surrogates and code points above U+10FFFF
// are invalid, as in RFC 3629.
size_t line_of_offset(std::string_view text, size_t offset);
size_t first_invalid_utf8(std::string_view text);

}  // namespace gh::conf
