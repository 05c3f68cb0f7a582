#include "stream/stream_router.h"

#include <algorithm>

#include "common/strings.h"

namespace gh::stream {

namespace {

bool endpoint_matches(const conf::StreamEndpoint& e, const boost::asio::ip::address& ip, uint16_t port) {
  if (e.port != 0 && e.port != port) return false;
  return !e.ip || e.ip->contains(ip);
}

bool any_endpoint(const std::vector<conf::StreamEndpoint>& list, const boost::asio::ip::address& ip,
                  uint16_t port) {
  return list.empty() ||
         std::any_of(list.begin(), list.end(), [&](const auto& e) { return endpoint_matches(e, ip, port); });
}

// `snis` are lower-case (configuration); `sni` too (match() lowers it once).
bool sni_matches(const std::vector<std::string>& snis, std::string_view sni) {
  if (snis.empty()) return true;
  if (sni.ends_with(".")) sni.remove_suffix(1);
  return std::any_of(snis.begin(), snis.end(), [&](const std::string& s) {
    std::string_view rule(s);
    if (rule.starts_with("*.")) return sni.size() > rule.size() - 1 && sni.ends_with(rule.substr(1));
    if (rule.ends_with(".*"))
      return sni.size() > rule.size() - 1 && sni.starts_with(rule.substr(0, rule.size() - 1));
    return sni == rule;
  });
}

int criteria_count(const conf::Route& r) {
  return !r.snis.empty() + !r.destinations.empty() + !r.sources.empty();
}

// Kong's match-rule bits for stream routes: with as many criteria, snis beat sources beat
// destinations (its router sorts categories by count, then by these bits).
int criteria_bits(const conf::Route& r) {
  return (!r.snis.empty() ? 4 : 0) | (!r.sources.empty() ? 2 : 0) | (!r.destinations.empty() ? 1 : 0);
}

}  // namespace

bool is_stream_protocol(std::string_view protocol) {
  return protocol == "tcp" || protocol == "tls" || protocol == "tls_passthrough" || protocol == "udp";
}

bool is_stream_route(const conf::Route& route) {
  return !route.protocols.empty() && std::all_of(route.protocols.begin(), route.protocols.end(),
                                                 [](const auto& p) { return is_stream_protocol(p); });
}

StreamRouter::StreamRouter(const conf::Declarative& config) {
  for (const auto& route : config.routes) {
    if (!is_stream_route(route)) continue;
    const conf::Service* service = config.find_service(route.service_id);
    if (service && !service->enabled) continue;
    routes_.push_back({&route, service});
  }
  std::stable_sort(routes_.begin(), routes_.end(), [](const StreamMatch& a, const StreamMatch& b) {
    const auto& x = *a.route;
    const auto& y = *b.route;
    if (criteria_count(x) != criteria_count(y)) return criteria_count(x) > criteria_count(y);
    return criteria_bits(x) > criteria_bits(y);
  });
}

std::optional<StreamMatch> StreamRouter::match(const StreamRequest& request) const {
  const std::string sni = to_lower(request.sni);
  for (const auto& candidate : routes_) {
    const auto& r = *candidate.route;
    if (std::find(r.protocols.begin(), r.protocols.end(), request.protocol) == r.protocols.end()) continue;
    if (!any_endpoint(r.sources, request.source_ip, request.source_port)) continue;
    if (!any_endpoint(r.destinations, request.destination_ip, request.destination_port)) continue;
    if (!sni_matches(r.snis, sni)) continue;
    return candidate;
  }
  return std::nullopt;
}

}  // namespace gh::stream
