// The header list a proxied request carries upstream, as Kong builds it: the client's headers
// minus hop-by-hop ones, then Host and the X-Real-IP / X-Forwarded-* / Via / X-Kong-Request-Id
// headers Kong sets. One function produces it for both uses: written straight into the upstream
// request head (no plugin can change it: nothing is copied), or materialized into a Headers
// list that access-phase plugins edit through kong.service.request.*.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "http/header_name_filter.h"
#include "http/headers.h"
#include "http/parser.h"
#include "router/router.h"

namespace gh::proxy {

// The hop-by-hop headers of one message (RFC 9110 §7.6.1): a fixed list, the framing headers
// gatehouse recomputes, and whatever the message's Connection header names. Connection is
// parsed once here, not once per header.
class HopByHop {
 public:
  explicit HopByHop(const http::Headers& headers);
  bool contains(std::string_view name) const;
  // The fixed part alone (for header lists that have no Connection header of their own).
  static bool always(std::string_view name);

 private:
  static constexpr size_t kMaxListed = 8;
  std::array<std::string_view, kMaxListed> listed_{};
  size_t listed_count_ = 0;
  const http::Headers* overflow_ = nullptr;  // more tokens than fit: ask the headers each time
};

using http::HeaderSink;

// Everything the upstream headers depend on besides the client's own headers.
struct ForwardingInputs {
  const http::RequestHead& request;
  const router::RouteMatch& match;
  std::string_view client_ip;  // after real_ip_header/trusted_ips
  std::string_view remote_ip;  // the TCP peer
  std::string_view scheme;
  uint16_t server_port = 0;
  bool trusted_peer = false;  // the peer is in trusted_ips: its X-Forwarded-* are believed
  bool server_tokens = false;
  std::string_view request_id;  // empty: no X-Kong-Request-Id
  // The client's headers as rewrite-phase plugins left them; null: the request's own.
  const http::Headers* client_headers = nullptr;
};

void emit_upstream_headers(const ForwardingInputs& in, HeaderSink& sink);
// Only the headers named `name` of that list (case-insensitive), in order: a plugin asking whether
// the upstream request has a header, without the whole list being built.
void emit_upstream_headers_named(const ForwardingInputs& in, std::string_view name, HeaderSink& sink);
// Whether the headers named `name` of that list are only the client's, as sent (Kong neither sets
// nor drops the name itself): emit_client_headers_named gives them from the client's list alone.
bool forwarded_as_sent(std::string_view name);
void emit_client_headers_named(const http::Headers& client, std::string_view name, HeaderSink& sink);
// A summary of the names that list can have, made from `client` (the client's headers it is
// built from) and every name Kong may set: never without a name the list has.
http::HeaderNameFilter upstream_header_names(const http::Headers& client);

// The sink that copies into a Headers list (for plugins to edit).
class HeadersSink final : public HeaderSink {
 public:
  explicit HeadersSink(http::Headers& out) : out_(out) {}
  void add(std::string_view name, std::string_view value) override {
    out_.add(std::string(name), std::string(value));
  }

 private:
  http::Headers& out_;
};

// The sink that writes "Name: value\r\n" lines into a request head being serialized.
class HeadLinesSink final : public HeaderSink {
 public:
  explicit HeadLinesSink(std::string& out) : out_(out) {}
  void add(std::string_view name, std::string_view value) override {
    http::append_header_line(out_, name, value);
  }

 private:
  std::string& out_;
};

// --- The upstream's response headers ---

// 1xx, 204 and 304 responses have no body (RFC 9110 §6.4.1).
inline bool status_has_no_body(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

// The upstream's response headers as they go to the client: hop-by-hop ones left out, those
// plugins set with kong.response.* before the upstream answered replacing the upstream's.
void add_proxied_headers(HeaderSink& sink, const http::Headers& upstream, const http::Headers& overrides);

// The upstream's response headers as plugins see them (kong.service.response.*): hop-by-hop ones
// left out, but Content-Length kept, as in Kong.
http::Headers upstream_headers_for_plugins(const http::Headers& received);

// The response headers once the upstream answered (kong.response.get_headers, kong.log.serialize):
// the upstream's, those plugins set before it answered replacing the upstream's of the same name,
// every value in order (as forward_response writes them to the client).
http::Headers merged_response_headers(const http::Headers& upstream, const http::Headers& overrides);

}  // namespace gh::proxy
