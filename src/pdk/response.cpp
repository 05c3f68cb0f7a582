// kong.response.*: the response the client will get (Kong's pdk/response.lua).
#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"
#include "pdk/shapes.h"
#include "pdk/state.h"

namespace gh::pdk {

namespace {

constexpr std::string_view kJsonContentType = "application/json; charset=utf-8";

// kong.response.error's default messages: Kong's HTTP_MESSAGES in pdk/response.lua (a longer
// table than the proxy's own error responses, which is why it lives here).
std::string error_message(int status) {
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 406:
      return "Not acceptable";
    case 407:
      return "Proxy authentication required";
    case 408:
      return "Request timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length required";
    case 412:
      return "Precondition failed";
    case 413:
      return "Payload too large";
    case 414:
      return "URI too long";
    case 415:
      return "Unsupported media type";
    case 416:
      return "Range not satisfiable";
    case 417:
      return "Expectation failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected request";
    case 422:
      return "Unprocessable entity";
    case 423:
      return "Locked";
    case 424:
      return "Failed dependency";
    case 425:
      return "Too early";
    case 426:
      return "Upgrade required";
    case 428:
      return "Precondition required";
    case 429:
      return "Too many requests";
    case 431:
      return "Request header fields too large";
    case 451:
      return "Unavailable for legal reasons";
    case 494:
      return "Request header or cookie too large";
    case 500:
      return "An unexpected error occurred";
    case 501:
      return "Not implemented";
    case 502:
      return "An invalid response was received from the upstream server";
    case 503:
      return "The upstream server is currently unavailable";
    case 504:
      return "The upstream server is timing out";
    case 505:
      return "HTTP version not supported";
    case 506:
      return "Variant also negotiates";
    case 507:
      return "Insufficient storage";
    case 508:
      return "Loop detected";
    case 510:
      return "Not extended";
    case 511:
      return "Network authentication required";
    default:
      return fmt::format("The upstream server responded with {}", status);
  }
}

int status_arg(const PdkCall& c, int min, int max) {
  if (!c.arg(0).is_number()) throw PdkError("code must be a number");
  auto status = c.int_arg(0, "code");
  if (status < min || status > max)
    throw PdkError(fmt::format("code must be a number between {} and {}", min, max));
  return static_cast<int>(status);
}

http::Headers& headers(PdkCall& c) {
  return c.ctx.response.headers;
}

PdkResult get_status(PdkCall& c) {
  return PdkResult::ok(c.ctx.response.status);
}

PdkResult get_header(PdkCall& c) {
  auto v = headers(c).get(c.string_arg(0, "header name"));
  return v ? PdkResult::ok(*v) : PdkResult::nil();
}

PdkResult get_headers(PdkCall& c) {
  return PdkResult::ok(headers_multimap(headers(c), max_count_arg(c, 0, "max_headers")));
}

PdkResult get_source(PdkCall& c) {
  return PdkResult::ok(c.ctx.response.source);
}

PdkResult set_status(PdkCall& c) {
  c.ctx.response.status = status_arg(c, 100, 999);
  return PdkResult::nil();
}

PdkResult set_header(PdkCall& c) {
  auto name = header_name_arg(c.arg(0));
  auto values = header_values_arg(name, c.arg(1));
  headers(c).remove(name);
  for (auto& v : values) headers(c).add(name, std::move(v));
  return PdkResult::nil();
}

PdkResult add_header(PdkCall& c) {
  auto name = header_name_arg(c.arg(0));
  for (auto& v : header_values_arg(name, c.arg(1))) headers(c).add(name, std::move(v));
  return PdkResult::nil();
}

PdkResult clear_header(PdkCall& c) {
  headers(c).remove(header_name_arg(c.arg(0)));
  return PdkResult::nil();
}

PdkResult set_headers(PdkCall& c) {
  set_headers_from_table(headers(c), c.arg(0));
  return PdkResult::nil();
}

// The gateway answers instead of the upstream: later plugins and the proxying are skipped.
PdkResult terminate(PdkCall& c, int status, std::optional<std::string> body) {
  exit_response(c.ctx, status, std::move(body));
  PdkResult result;
  result.status = PdkResult::Status::terminal;
  return result;
}

// exit in the stream subsystem (Kong's L4 variant): nginx's stream statuses only; the body (a
// table is JSON-encoded) goes to the client or, for errors, to the log; headers are ignored.
PdkResult stream_exit(PdkCall& c) {
  static constexpr int kStreamStatuses[] = {200, 400, 403, 500, 502, 503};
  const json& code = c.arg(0);
  if (!code.is_number()) throw PdkError("code must be a number");
  int status = code.get<int>();
  if (std::find(std::begin(kStreamStatuses), std::end(kStreamStatuses), status) == std::end(kStreamStatuses))
    throw PdkError("unacceptable code, only 200, 400, 403, 500, 502 and 503 are accepted");
  const json& body = c.arg(1);
  if (body.is_string()) return terminate(c, status, body.get<std::string>());
  if (body.is_binary())
    return terminate(c, status, std::string(body.get_binary().begin(), body.get_binary().end()));
  if (body.is_object() || body.is_array())
    return terminate(c, status, body.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!body.is_null()) throw PdkError("body must be a nil, string or table");
  return terminate(c, status, std::nullopt);
}

// exit(status, body?, headers?): a table body is JSON-encoded with Kong's JSON content type.
PdkResult exit(PdkCall& c) {
  if (stream_subsystem(c.ctx)) return stream_exit(c);
  int status = status_arg(c, 0, 599);
  http::Headers exit_headers;
  if (c.has(2)) set_headers_from_table(exit_headers, c.arg(2));
  const json& body = c.arg(1);
  std::optional<std::string> text;
  if (body.is_string()) {
    text = body.get<std::string>();
  } else if (body.is_binary()) {
    text = std::string(body.get_binary().begin(), body.get_binary().end());
  } else if (body.is_object() || body.is_array()) {
    text = body.dump(-1, ' ', false, json::error_handler_t::replace);
    if (!exit_headers.has("content-type") && !headers(c).has("content-type")) {
      exit_headers.set("Content-Type", std::string(kJsonContentType));
    }
  } else if (!body.is_null()) {
    throw PdkError(fmt::format("body must be a string or a table (got {})", body.type_name()));
  }
  for (const auto& h : exit_headers) headers(c).remove(h.name);
  for (const auto& h : exit_headers) headers(c).add(h.name, h.value);
  return terminate(c, status, std::move(text));
}

// error(status, message?, headers?): Kong's {"message": ...} body with its default messages.
PdkResult error(PdkCall& c) {
  int status = status_arg(c, 400, 599);
  auto message = c.has(1) ? lua_tostring(c.arg(1)) : error_message(status);
  if (c.has(2)) set_headers_from_table(headers(c), c.arg(2));
  headers(c).set("Content-Type", std::string(kJsonContentType));
  return terminate(c, status,
                   json{{"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Getters run in every phase (Kong limits them to response/log; the recorded Kong also served them
// in access, and plugins cannot tell the difference); writers before the response is sent.
constexpr PdkFunction kResponseTable[] = {
    {"kong.response.get_status", kHttpPhases, kHttpReads, kStep, get_status},
    {"kong.response.get_header", kHttpPhases, kHttpReads, kStep, get_header},
    {"kong.response.get_headers", kHttpPhases, kHttpReads, kStepMultiMap, get_headers},
    {"kong.response.get_source", kHttpPhases, kHttpReads, kStep, get_source},
    {"kong.response.set_status", kResponseWritable, kHttpOnly, kStep, set_status},
    {"kong.response.set_header", kResponseWritable, kHttpOnly, kStep, set_header},
    {"kong.response.add_header", kResponseWritable, kHttpOnly, kStep, add_header},
    {"kong.response.clear_header", kResponseWritable, kHttpOnly, kStep, clear_header},
    {"kong.response.set_headers", kResponseWritable, kHttpOnly, kStep, set_headers},
    {"kong.response.exit", kResponseWritable | kPreread, kCalls, kStep, exit},
    {"kong.response.error", kResponseWritable, kHttpOnly, kStep, error},
};

}  // namespace

void exit_response(core::RequestContext& ctx, int status, std::optional<std::string> body) {
  auto& r = ctx.response;
  r.status = status;
  r.body = std::move(body).value_or("");
  r.source = "exit";
}

std::span<const PdkFunction> response_functions() {
  return kResponseTable;
}

}  // namespace gh::pdk
