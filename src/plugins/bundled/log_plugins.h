// What http-log, file-log, tcp-log and udp-log share: the log phase that turns the request into
// Kong's log entry (pdk::serialize_log, the JSON of kong.log.serialize) and queues it for the log
// shipping thread (logsink::Queue), the refusal of custom_fields_by_lua, and schema pieces.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "logsink/queue.h"
#include "plugins/native.h"

namespace gh::plugins::bundled {

// The log phase of every log plugin: one entry per request, queued, never waiting for delivery.
class QueuedLogHandler final : public NativeHandler {
 public:
  explicit QueuedLogHandler(std::shared_ptr<logsink::Queue> queue) : queue_(std::move(queue)) {}
  bool run_now(core::Phase phase, pdk::Kong& kong) override;

 private:
  std::shared_ptr<logsink::Queue> queue_;
};

// Kong's log entry of the request as one line of JSON (invalid UTF-8 replaced, as cjson cannot
// refuse a request's bytes either).
std::string log_entry_json(pdk::Kong& kong);

// custom_fields_by_lua runs Lua, which gatehouse does not embed: a config that sets it is
// refused at load with a message that says what to do instead. Throws std::invalid_argument.
void refuse_custom_fields_by_lua(const nlohmann::json& config);

// Schema fields as Kong's typedefs give them.
nlohmann::json lua_code_field();              // custom_fields_by_lua
nlohmann::json host_field(const char* name);  // typedefs.host { required = true }
nlohmann::json port_field(const char* name);  // typedefs.port { required = true }
nlohmann::json number_field(const char* name, double default_value);

// Milliseconds from a Kong timeout/keepalive number (at least 1).
std::chrono::milliseconds milliseconds_of(const nlohmann::json& config, const char* name, double fallback);

}  // namespace gh::plugins::bundled
