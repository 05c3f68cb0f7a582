// Routing of stream (TCP/TLS) connections, Kong's way: a route matches a connection of one of its
// protocols (tcp, tls, tls_passthrough) when every criterion it sets matches: one of its
// `sources` (client address and/or port), one of its `destinations` (the address and/or port the
// client connected to) and one of its `snis` (exact, or a leading/trailing wildcard label).
// Routes setting more kinds of criteria are tried first; among as many, snis before sources
// before destinations (Kong's category order); then file order.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/entities.h"

namespace gh::stream {

struct StreamRequest {
  std::string_view protocol;  // "tcp", "tls" (terminated here) or "tls_passthrough"
  boost::asio::ip::address source_ip;
  uint16_t source_port = 0;
  boost::asio::ip::address destination_ip;
  uint16_t destination_port = 0;
  std::string_view sni;  // "" when none (plain TCP, or a client that sent no SNI)
};

struct StreamMatch {
  const conf::Route* route = nullptr;
  const conf::Service* service = nullptr;  // null: the route has no (enabled) service
};

class StreamRouter {
 public:
  explicit StreamRouter(const conf::Declarative& config);
  std::optional<StreamMatch> match(const StreamRequest& request) const;
  bool empty() const { return routes_.empty(); }

 private:
  std::vector<StreamMatch> routes_;  // stream routes, most specific first
};

// tcp, tls, tls_passthrough, udp: the protocols of Kong's stream subsystem.
bool is_stream_protocol(std::string_view protocol);
// True for a route that belongs to the stream subsystem (every protocol is a stream one).
bool is_stream_route(const conf::Route& route);

}  // namespace gh::stream
