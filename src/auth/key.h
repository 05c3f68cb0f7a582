// key-auth's search for the API key (plugins/key-auth/handler.lua): for each of key_names in
// order, the header of that name, then the query argument, then the body field, each only when
// its key_in_* switch is on; the first place holding a value decides for that name. One string:
// the key. Several values (a repeated header or argument): "Duplicate API key found". Anything
// else (an argument without '=', a JSON number): the next name.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::auth {

// What one place holds under one name.
struct Lookup {
  enum Kind { absent, one, many, other } kind = absent;
  std::string value;  // when `one`
};
using KeySource = std::function<Lookup(std::string_view name)>;

struct KeySources {
  KeySource header, query, body;  // empty: that place is not searched
};

struct KeySearch {
  enum Outcome { found, missing, duplicate } outcome = missing;
  std::string key;   // when found (may be empty: Kong then answers "No API key found")
  std::string name;  // the key name it was found under
};

KeySearch find_api_key(const std::vector<std::string>& key_names, const KeySources& sources);

// Kong reads headers through nginx, which matches "api_key" against an "api-key" header: the
// header name a key name is looked up as.
std::string key_header_name(std::string_view key_name);

}  // namespace gh::auth
