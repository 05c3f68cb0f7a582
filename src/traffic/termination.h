// request-termination's answer (Kong's kong/plugins/request-termination/handler.lua and schema).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gh::traffic {

// The schema's record-level check: Kong's messages ("message cannot be used with content_type or
// body", ...), or nullopt.
std::optional<std::string> validate_termination(const nlohmann::json& config);

// Kong's default message for the statuses it has one for (503 "Service unavailable", ...).
std::optional<std::string_view> termination_default_message(int status);

struct Termination {
  int status = 503;
  std::optional<std::string> body;
  std::optional<std::string> content_type;  // the configured one, or Kong's JSON type for a message
};

// The answer when neither `echo` applies: the configured body with its content type, or
// {"message": message or Kong's default} (no body for statuses without a default).
Termination termination_response(const nlohmann::json& config);

}  // namespace gh::traffic
