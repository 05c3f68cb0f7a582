// The ssl_* properties → Properties::ssl (docs/tls.md). Internal to load_properties.
#pragma once

#include <functional>
#include <string>

#include "conf/properties.h"

namespace gh::conf {

// `raw(key)` is the final property string, `where(key)` names its origin for errors and
// `resolve(key, path)` makes a path written for `key` absolute. Throws ConfigError.
void fill_tls_settings(Properties& p, const std::function<std::string(const std::string&)>& raw,
                       const std::function<std::string(const std::string&)>& where,
                       const std::function<std::string(const std::string&, const std::string&)>& resolve);

}  // namespace gh::conf
