#include "proxy/grpc_status.h"

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "common/strings.h"

namespace gh::proxy {

namespace {

constexpr std::string_view kGrpcContentType = "application/grpc";

// gRPC's status names as Kong writes them in grpc-message (GRPC_MESSAGES).
std::string_view grpc_status_name(int code) {
  static constexpr std::string_view kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  return code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "Unknown";
}

// Kong's exit with a table body sends its `message` as grpc-message; the gateway's JSON bodies
// ({"message": ...}) are that table.
std::string message_of_json(const std::string& body) {
  if (body.empty() || body.front() != '{' || body.size() > 64 * 1024) return {};
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object() && json.contains("message") && json["message"].is_string())
    return json["message"].get<std::string>();
  return {};
}

}  // namespace

bool is_grpc_request(const http::RequestHead& request) {
  if (request.version_major != 2) return false;
  const auto type = request.headers.get("content-type");
  return type && type->starts_with(kGrpcContentType);
}

int grpc_status_for(int http_status) {
  switch (http_status) {
    case 200:
      return 0;
    case 400:
      return 3;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 5;
    case 409:
      return 6;
    case 429:
      return 8;
    case 499:
      return 1;
    case 500:
      return 13;
    case 501:
      return 12;
    case 503:
      return 14;
    case 504:
      return 4;
    default:
      break;
  }
  if (http_status >= 500 && http_status <= 599) return 13;
  if (http_status >= 400 && http_status <= 499) return 3;
  if (http_status >= 200 && http_status <= 299) return 0;
  return 2;  // Unknown
}

void make_grpc_answer(core::RequestContext& ctx) {
  if (!ctx.request || !is_grpc_request(*ctx.request)) return;
  auto& response = ctx.response;
  const auto type = response.headers.get("content-type");
  if (type && type->starts_with(kGrpcContentType)) {
    // A gRPC answer of a plugin's own: sent as it is, with a status if it has none.
    if (!response.headers.has("grpc-status"))
      response.headers.set("grpc-status", std::to_string(grpc_status_for(response.status)));
    return;
  }
  const bool json = type && type->size() >= 16 && iequals(type->substr(0, 16), "application/json");
  if (type && !json) return;  // a plugin chose another content type: Kong sends it as it is
  int code = grpc_status_for(response.status);
  if (const auto set = response.headers.get("grpc-status"))
    code = std::atoi(std::string(*set).c_str());
  else
    response.headers.set("grpc-status", std::to_string(code));
  if (!response.headers.has("grpc-message")) {
    std::string message = json ? message_of_json(response.body) : response.body;
    if (message.empty()) message = grpc_status_name(code);
    response.headers.set("grpc-message", std::move(message));
  }
  response.headers.set("content-type", std::string(kGrpcContentType));
  response.body.clear();
}

}  // namespace gh::proxy
