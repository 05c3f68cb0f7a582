#include "auth/key.h"

#include "common/strings.h"

namespace gh::auth {

namespace {

Lookup look(const KeySource& source, std::string_view name) {
  return source ? source(name) : Lookup{};
}

}  // namespace

KeySearch find_api_key(const std::vector<std::string>& key_names, const KeySources& sources) {
  for (const auto& name : key_names) {
    Lookup value = look(sources.header, name);
    if (value.kind == Lookup::absent) value = look(sources.query, name);
    if (value.kind == Lookup::absent) value = look(sources.body, name);
    if (value.kind == Lookup::one) return {KeySearch::found, std::move(value.value), name};
    if (value.kind == Lookup::many) return {KeySearch::duplicate, {}, name};
  }
  return {};
}

std::string key_header_name(std::string_view key_name) {
  std::string out = to_lower(key_name);
  for (char& c : out)
    if (c == '_') c = '-';
  return out;
}

}  // namespace gh::auth
