// What a PDK function does to the request, shared by the two ways plugins reach it: the wire
// table (pdk/table.h, plugin servers) and the typed facade (pdk/kong.h, native plugins). Both
// go through these, so a native and an external plugin leave the same state behind.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/request_context.h"

namespace gh::pdk {

// kong.response.exit's effect: the gateway answers `status` with `body` (headers already set on
// ctx.response.headers); later plugins of the phase and the proxying are skipped.
void exit_response(core::RequestContext& ctx, int status, std::optional<std::string> body);

// kong.client.authenticate: the consumer and credential entity tables (either may be null, not
// both) that consumer-scoped plugins and kong.client.get_consumer see from now on.
void set_authenticated(core::RequestContext& ctx, core::EntityTable consumer, core::EntityTable credential);

// The authenticated consumer's id ("" when none): what plugin precedence resolves against.
std::string authenticated_consumer_id(const core::RequestContext& ctx);

}  // namespace gh::pdk

namespace gh::pdk {

// The client's body, read on first use ("" when the request has none): a pointer into the
// context, or null when it is not in memory (in a temporary file, too large, the client left).
boost::asio::awaitable<const std::string*> request_body(core::RequestContext& ctx);

// Header name and value checks of every header writer (set/add/clear, exit's headers): a valid
// token; no CR, LF or NUL in a value. Throw PdkError with Kong-style messages.
std::string checked_header_name(std::string_view name);
std::string checked_header_value(std::string_view name, std::string_view value);

// kong.service.request writers: what goes upstream. Throw PdkError for invalid values.
void set_upstream_method(core::RequestContext& ctx, std::string method);
void set_upstream_path(core::RequestContext& ctx, std::string path);
void set_upstream_raw_query(core::RequestContext& ctx, std::string query);

}  // namespace gh::pdk
