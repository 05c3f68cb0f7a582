// gRPC requests answered by the gateway itself (no route, a plugin's exit, an upstream failure),
// as Kong's kong.response.exit answers them: the HTTP status kept, the gRPC status and message in
// grpc-status / grpc-message response headers, content-type application/grpc and no body (a
// "trailers-only" response: one HEADERS frame ending the stream). docs/grpc.md.
#pragma once

#include <string_view>

#include "core/request_context.h"
#include "http/parser.h"

namespace gh::proxy {

// Kong's test: an HTTP/2 request whose content-type starts with application/grpc.
bool is_grpc_request(const http::RequestHead& request);

// Kong's mapping of an HTTP status to a gRPC status code (HTTP_TO_GRPC_STATUS, then by class).
int grpc_status_for(int http_status);

// Turns the gateway's answer to a gRPC request into Kong's gRPC form, unless a plugin already
// answered with a gRPC content-type or a content-type of its own other than JSON.
void make_grpc_answer(core::RequestContext& ctx);

}  // namespace gh::proxy
