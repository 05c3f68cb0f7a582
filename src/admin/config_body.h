// POST /config's body, as Kong's Admin API takes it: a JSON declarative document, a JSON/form/
// multipart `config` field holding YAML or JSON text, or (gatehouse) a raw YAML body. Hostile
// input is refused before a document is built: bounded depth, valid UTF-8 (docs/admin-api.md).
#pragma once

#include <optional>
#include <string>

#include "admin/api.h"

namespace gh::admin {

struct ConfigBody {
  std::string text;  // the declarative configuration (YAML or JSON)
  bool check_hash = false;
  bool flatten_errors = false;
};

// The configuration in `request`, or the 4xx answer that refuses it.
struct DecodedConfig {
  std::optional<ConfigBody> body;
  ApiResponse refusal;
};
DecodedConfig decode_config_body(const ApiRequest& request);

}  // namespace gh::admin
