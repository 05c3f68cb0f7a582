#include "traffic/termination.h"

namespace gh::traffic {

namespace {

using json = nlohmann::json;

bool is_present(const json& config, const char* field) {
  auto it = config.find(field);
  return it != config.end() && it->is_string() && !it->get<std::string>().empty();
}

}  // namespace

std::optional<std::string> validate_termination(const json& config) {
  bool message = is_present(config, "message"), body = is_present(config, "body"),
       content_type = is_present(config, "content_type");
  if (message && (content_type || body)) return "message cannot be used with content_type or body";
  if (content_type && !body) return "content_type requires a body";
  if (config.value("echo", false) && (content_type || body))
    return "echo cannot be used with content_type and body";
  return std::nullopt;
}

std::optional<std::string_view> termination_default_message(int status) {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 500:
      return "An unexpected error occurred";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service unavailable";
    default:
      return std::nullopt;
  }
}

Termination termination_response(const json& config) {
  Termination t;
  t.status = config.value("status_code", 503);
  if (auto it = config.find("body"); it != config.end() && it->is_string()) {
    t.body = it->get<std::string>();
    if (auto ct = config.find("content_type"); ct != config.end() && ct->is_string())
      t.content_type = ct->get<std::string>();
    return t;
  }
  std::optional<std::string> message;
  if (auto it = config.find("message"); it != config.end() && it->is_string()) {
    message = it->get<std::string>();
  } else if (auto d = termination_default_message(t.status)) {
    message = std::string(*d);
  }
  if (message) {
    t.body = json{{"message", *message}}.dump();
    t.content_type = "application/json; charset=utf-8";
  }
  return t;
}

}  // namespace gh::traffic
