// The shared dictionaries proxy-cache's memory strategy stores into, by name (Kong's
// `lua_shared_dict`s): `kong_db_cache` and `kong_core_db_cache`, sized by mem_cache_size (Kong's
// default 128m), plus those a kong.conf declares with nginx_http_lua_shared_dict ("name size",
// several separated by ';'). One per gateway (plugins::SharedMemory): every worker and every
// snapshot of a reload sees the same stores, so entries survive reloads as they survive in Kong's
// shared memory.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cache/store.h"
#include "conf/properties.h"

namespace gh::cache {

class Dictionaries {
 public:
  // Declares the dictionaries `properties` names, with their sizes: new ones are made, existing
  // ones resized (entries kept while they fit). Throws conf::ConfigError for a declaration that
  // cannot be read.
  void configure(const conf::Properties& properties);
  // The dictionary of that name; null when it is not declared (Kong: "missing shared dict").
  std::shared_ptr<Store> find(const std::string& name) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Store>, std::less<>> stores_;
};

// The sizes `properties` declare, by dictionary name (what configure applies).
std::map<std::string, size_t> declared_dictionaries(const conf::Properties& properties);

}  // namespace gh::cache
