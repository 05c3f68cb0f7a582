#include "plugins/bundled/log_plugins.h"

#include <algorithm>
#include <stdexcept>

#include "pdk/serialize.h"

namespace gh::plugins::bundled {

using nlohmann::json;

bool QueuedLogHandler::run_now(core::Phase phase, pdk::Kong& kong) {
  if (phase != core::Phase::log) return false;
  queue_->enqueue(log_entry_json(kong));
  return true;
}

std::string log_entry_json(pdk::Kong& kong) {
  return pdk::serialize_log(kong.context()).dump(-1, ' ', false, json::error_handler_t::replace);
}

void refuse_custom_fields_by_lua(const json& config) {
  auto it = config.find("custom_fields_by_lua");
  if (it == config.end() || it->is_null() || (it->is_object() && it->empty())) return;
  throw std::invalid_argument(
      "config.custom_fields_by_lua is not supported: it runs Lua code, which gatehouse does not embed. "
      "Add the fields with kong.log.set_serialize_value from a plugin that runs before this one (an "
      "external plugin in Go, Python or JavaScript, or a C++ plugin): the log entry includes them");
}

json lua_code_field() {
  return {{"custom_fields_by_lua",
           {{"type", "map"},
            {"keys", {{"type", "string"}, {"len_min", 1}}},
            {"values", {{"type", "string"}, {"len_min", 1}}}}}};
}

json host_field(const char* name) {
  return {{name, {{"type", "string"}, {"required", true}}}};
}

json port_field(const char* name) {
  return {{name, {{"type", "integer"}, {"required", true}, {"between", {0, 65535}}}}};
}

json number_field(const char* name, double default_value) {
  return {{name, {{"type", "number"}, {"default", default_value}}}};
}

std::chrono::milliseconds milliseconds_of(const json& config, const char* name, double fallback) {
  auto it = config.find(name);
  const double ms = it != config.end() && it->is_number() ? it->get<double>() : fallback;
  return std::chrono::milliseconds(static_cast<int64_t>(std::clamp(ms, 1.0, 1e12)));
}

}  // namespace gh::plugins::bundled
