// Kong's value shapes shared by several PDK namespaces: header and query multimaps, header
// arguments (validated), entity tables, trusted-proxy checks, Lua's tostring for log arguments.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/entities.h"
#include "http/header_overlay.h"
#include "pdk/table.h"

namespace gh::pdk {

// The entries of one PDK namespace (request.cpp, response.cpp, ...); table.cpp indexes them all.
std::span<const PdkFunction> request_functions();
std::span<const PdkFunction> response_functions();
std::span<const PdkFunction> service_functions();
std::span<const PdkFunction> client_functions();
std::span<const PdkFunction> node_functions();  // kong.node, nginx, ctx, log, ip, plugin, cluster, router

// ngx.req.get_headers / ngx.resp.get_headers: lower-case names, a string per name or a list for
// repeated names; at most `max` headers. (The MsgPack bridge applies fix_mmap.)
json headers_multimap(const http::Headers& headers, size_t max);
// ngx.req.get_uri_args: decoded names/values, `true` for a valueless flag, lists for repeats.
json parse_query(std::string_view query, size_t max);
// ngx.encode_args: sorted keys, lists repeated, `true` as a bare flag, `false` dropped.
std::string encode_query(const json& args);
// Appends one string argument as encode_query writes it: "name=value", escaped, after a '&'
// unless `out` is empty.
void append_query_arg(std::string& out, std::string_view name, std::string_view value);
std::string url_decode(std::string_view s);
// Optional max_headers/max_args argument (Kong: a number between 1 and 1000, default 100).
size_t max_count_arg(const PdkCall& call, size_t index, std::string_view what);

// Header arguments of set_header/add_header/set_headers/exit: a name (string, no CR/LF/NUL, a
// valid token) and a value (string, number, boolean or array of those); anything that could
// inject a line is refused with PdkError.
std::string header_name_arg(const json& name);
std::vector<std::string> header_values_arg(std::string_view name, const json& value);
// Applies a {name: value-or-list} table (set_headers semantics: each name replaced).
void set_headers_from_table(http::Headers& headers, const json& table);
void set_headers_from_table(http::HeaderOverlay& headers, const json& table);

// Kong's entity tables (kong.router.get_route/get_service, kong.client.load_consumer).
json route_entity(const conf::Route& route);
json service_entity(const conf::Service& service);
json consumer_entity(const conf::Consumer& consumer);

// Whether `address` is in kong.conf's trusted_ips (false for anything that is not an IP).
bool is_trusted_ip(const core::RequestContext& ctx, std::string_view address);
// Whether the X-Forwarded-* headers may be believed: the TCP peer is a trusted proxy.
bool peer_is_trusted(const core::RequestContext& ctx);

// Lua's tostring() of a log argument: strings as they are, numbers as Lua prints them, others as JSON.
std::string lua_tostring(const json& value);
// Host header value without port, lower-case (ngx.var.host).
std::string request_host(const core::RequestContext& ctx);

}  // namespace gh::pdk
