#include "cache/key.h"

#include <openssl/evp.h>

#include <algorithm>

#include "common/strings.h"

namespace gh::cache {

namespace {

// Kong's generate_key_from: for each field present, "field=v1,v2" (values sorted) or the bare
// field for a flag; joined with ':'. `values_of` gives a field's values (nullopt = a flag).
template <typename ValuesOf>
std::string key_part(const std::vector<std::string>& fields, ValuesOf values_of) {
  std::string out;
  for (const auto& field : fields) {
    std::vector<std::optional<std::string>> values = values_of(field);
    if (values.empty()) continue;
    if (!out.empty()) out += ':';
    out += field;
    if (values.size() == 1 && !values.front()) continue;  // a bare flag
    // A flag among repeated values (Lua cannot sort it with strings) counts as no value.
    std::vector<std::string> texts;
    for (auto& v : values)
      if (v) texts.push_back(std::move(*v));
    std::sort(texts.begin(), texts.end());
    out += '=';
    for (size_t i = 0; i < texts.size(); ++i) {
      if (i) out += ',';
      out += texts[i];
    }
  }
  return out;
}

std::string params_part(const KeyInputs& in) {
  if (!in.query || !in.query->is_object()) return {};
  const auto& args = *in.query;
  // An argument's values: a string, `true` for a bare flag (nullopt), or a list of those.
  auto values_of = [&](const std::string& name) {
    std::vector<std::optional<std::string>> values;
    auto it = args.find(name);
    if (it == args.end()) return values;
    auto add = [&](const nlohmann::json& v) {
      if (v.is_string())
        values.emplace_back(v.get<std::string>());
      else
        values.emplace_back(std::nullopt);
    };
    if (it->is_array())
      for (const auto& v : *it) add(v);
    else
      add(*it);
    return values;
  };
  if (in.vary_query_params && !in.vary_query_params->empty())
    return key_part(*in.vary_query_params, values_of);
  std::vector<std::string> names;  // a JSON object iterates its keys sorted, as Kong sorts them
  for (const auto& [name, value] : args.items()) names.push_back(name);
  return key_part(names, values_of);
}

std::string headers_part(const KeyInputs& in) {
  if (!in.vary_headers || in.vary_headers->empty() || !in.headers) return {};
  auto values_of = [&](const std::string& field) {
    // Kong's header table: names case-insensitive, '_' the same as '-'.
    std::string name = field;
    std::replace(name.begin(), name.end(), '_', '-');
    std::vector<std::optional<std::string>> values;
    for (auto v : in.headers->get_all(name)) values.emplace_back(std::string(v));
    return values;
  };
  return key_part(*in.vary_headers, values_of);
}

}  // namespace

std::string request_line_uri(std::string_view method, std::string_view target, int version_minor,
                             bool ignore_case) {
  std::string uri;
  uri.reserve(method.size() + target.size() + 10);
  uri.append(method);
  uri += ' ';
  if (auto q = target.find('?'); q != std::string_view::npos) {
    uri.append(target.substr(0, q));
  } else {
    uri.append(target);
    uri += " HTTP/1.";
    uri += static_cast<char>('0' + std::clamp(version_minor, 0, 9));
  }
  if (ignore_case) uri = to_lower(uri);
  return uri;
}

std::string key_material(const KeyInputs& in) {
  std::string prefix = "default";
  if (!in.route_id.empty())
    prefix = in.consumer_id.empty() ? std::string(in.route_id)
                                    : std::string(in.consumer_id) + ":" + std::string(in.route_id);
  std::string out = std::move(prefix);
  out += '|';
  out.append(in.method);
  out += '|';
  out.append(in.uri);
  out += '|';
  out += params_part(in);
  out += '|';
  out += headers_part(in);
  return out;
}

std::string sha256_hex(std::string_view data) {
  // Fetched once: an implicit fetch per digest is a lookup on every request.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, kSha256, nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(length * 2, '\0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

std::string cache_key(const KeyInputs& in) {
  return sha256_hex(key_material(in));
}

}  // namespace gh::cache
