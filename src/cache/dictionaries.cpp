#include "cache/dictionaries.h"

#include "common/strings.h"
#include "conf/error.h"

namespace gh::cache {

namespace {

constexpr size_t kDefaultMemCacheSize = 128 * 1024 * 1024;  // Kong's mem_cache_size

size_t size_property(const conf::Properties& properties, const std::string& key, size_t fallback) {
  const auto text = properties.get(key);
  if (!text || trim(*text).empty()) return fallback;
  const auto size = conf::parse_size(trim(*text));
  if (!size || *size == 0)
    throw conf::ConfigError(key + ": expected a size such as 128m, got '" + *text + "'");
  return *size;
}

}  // namespace

std::map<std::string, size_t> declared_dictionaries(const conf::Properties& properties) {
  std::map<std::string, size_t> sizes;
  const size_t mem_cache = size_property(properties, "mem_cache_size", kDefaultMemCacheSize);
  sizes["kong_db_cache"] = mem_cache;
  sizes["kong_core_db_cache"] = mem_cache;
  const auto declared = properties.get("nginx_http_lua_shared_dict");
  if (!declared) return sizes;
  for (const auto& item : split_list(*declared, ';')) {
    // "name size", or the directive as written in an nginx template: "lua_shared_dict name size".
    auto words = split_list(item, ' ');
    if (!words.empty() && words.front() == "lua_shared_dict") words.erase(words.begin());
    const auto size = words.size() == 2 ? conf::parse_size(words[1]) : std::nullopt;
    if (!size || *size == 0)
      throw conf::ConfigError(
          "nginx_http_lua_shared_dict: expected 'name size' (e.g. 'my_cache 10m'), got '" + item + "'");
    sizes[words[0]] = *size;
  }
  return sizes;
}

void Dictionaries::configure(const conf::Properties& properties) {
  const auto sizes = declared_dictionaries(properties);
  std::lock_guard lock(mutex_);
  for (const auto& [name, size] : sizes) {
    auto& store = stores_[name];
    if (!store)
      store = std::make_shared<Store>(size);
    else if (store->capacity() != size)
      store->resize(size);
  }
}

std::shared_ptr<Store> Dictionaries::find(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = stores_.find(name);
  return it == stores_.end() ? nullptr : it->second;
}

}  // namespace gh::cache
