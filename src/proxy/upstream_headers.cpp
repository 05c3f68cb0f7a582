#include "proxy/upstream_headers.h"

#include <charconv>
#include <optional>

#include "common/strings.h"
#include "common/version.h"

namespace gh::proxy {

namespace {

// Client headers Kong replaces with its own value (or, for some, keeps when the peer is trusted).
enum class KongSets {
  none,
  host,
  real_ip,
  forwarded_for,
  proto,
  fwd_host,
  port,
  path,
  prefix,
  via,
  request_id
};

KongSets kong_sets(std::string_view name) {
  switch (name.size()) {
    case 3:
      return iequals(name, "via") ? KongSets::via : KongSets::none;
    case 4:
      return iequals(name, "host") ? KongSets::host : KongSets::none;
    case 9:
      return iequals(name, "x-real-ip") ? KongSets::real_ip : KongSets::none;
    case 15:
      return iequals(name, "x-forwarded-for") ? KongSets::forwarded_for : KongSets::none;
    case 16:
      if (iequals(name, "x-forwarded-host")) return KongSets::fwd_host;
      if (iequals(name, "x-forwarded-port")) return KongSets::port;
      if (iequals(name, "x-forwarded-path")) return KongSets::path;
      return KongSets::none;
    case 17:
      if (iequals(name, "x-forwarded-proto")) return KongSets::proto;
      if (iequals(name, "x-kong-request-id")) return KongSets::request_id;
      return KongSets::none;
    case 18:
      return iequals(name, "x-forwarded-prefix") ? KongSets::prefix : KongSets::none;
    default:
      return KongSets::none;
  }
}

// The client's values of the headers Kong sets (first occurrence of each).
struct ClientValues {
  std::optional<std::string_view> host, forwarded_for, proto, fwd_host, port, path, prefix, via;

  void record(KongSets which, std::string_view value) {
    std::optional<std::string_view>* slot = nullptr;
    switch (which) {
      case KongSets::host:
        slot = &host;
        break;
      case KongSets::forwarded_for:
        slot = &forwarded_for;
        break;
      case KongSets::proto:
        slot = &proto;
        break;
      case KongSets::fwd_host:
        slot = &fwd_host;
        break;
      case KongSets::port:
        slot = &port;
        break;
      case KongSets::path:
        slot = &path;
        break;
      case KongSets::prefix:
        slot = &prefix;
        break;
      case KongSets::via:
        slot = &via;
        break;
      default:
        return;
    }
    if (!*slot) *slot = value;
  }
};

// Copies the client's headers that go upstream unchanged; remembers the values Kong replaces.
ClientValues emit_client_headers(const ForwardingInputs& in, HeaderSink& sink) {
  ClientValues values;
  const http::Headers& headers = in.client_headers ? *in.client_headers : in.request.headers;
  const HopByHop hop(headers);
  for (const auto& h : headers) {
    if (hop.contains(h.name)) continue;
    const KongSets which = kong_sets(h.name);
    values.record(which, h.value);
    const bool kept = which == KongSets::none || (which == KongSets::host && in.match.route->preserve_host) ||
                      (which == KongSets::via && !in.server_tokens) ||
                      (which == KongSets::request_id && in.request_id.empty());
    if (kept) sink.add(h.name, h.value);
  }
  return values;
}

}  // namespace

HopByHop::HopByHop(const http::Headers& headers) {
  for (const auto& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto token = trim(rest.substr(0, comma));
      if (!token.empty()) {
        if (listed_count_ == kMaxListed) {
          overflow_ = &headers;
          return;
        }
        listed_[listed_count_++] = token;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
}

bool HopByHop::always(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 6:
      return iequals(name, "expect");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14:
      return iequals(name, "content-length");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    default:
      return false;
  }
}

bool HopByHop::contains(std::string_view name) const {
  if (always(name)) return true;
  if (overflow_) return overflow_->has_token("connection", name);
  for (size_t i = 0; i < listed_count_; ++i)
    if (iequals(listed_[i], name)) return true;
  return false;
}

void emit_upstream_headers(const ForwardingInputs& in, HeaderSink& sink) {
  const ClientValues client = emit_client_headers(in, sink);
  const auto& service = *in.match.service;
  const auto& route = *in.match.route;
  std::string scratch;

  if (!route.preserve_host) {
    const bool default_port = (service.port == 80 && service.protocol == "http") ||
                              (service.port == 443 && service.protocol == "https");
    scratch = service.host;
    if (!default_port) {
      scratch += ':';
      append_decimal(scratch, service.port);
    }
    sink.add("Host", scratch);
  }
  sink.add("X-Real-IP", in.client_ip);
  if (client.forwarded_for) {
    scratch.assign(*client.forwarded_for);
    scratch += ", ";
    scratch += in.remote_ip;
    sink.add("X-Forwarded-For", scratch);
  } else {
    sink.add("X-Forwarded-For", in.remote_ip);
  }
  // A trusted peer's X-Forwarded-* values are passed on; anyone else's are replaced.
  auto forwarded = [&](std::string_view name, const std::optional<std::string_view>& theirs,
                       std::string_view ours) { sink.add(name, in.trusted_peer && theirs ? *theirs : ours); };
  forwarded("X-Forwarded-Proto", client.proto, in.scheme);
  // nginx's $host: an absolute-form target's host, else the Host header's (RFC 9112 §3.2.2).
  const auto& authority = in.request.target_authority;
  forwarded("X-Forwarded-Host", client.fwd_host,
            host_without_port(authority.empty() ? client.host.value_or("") : std::string_view(authority)));
  char port_digits[8];
  auto [port_end, ec] = std::to_chars(port_digits, port_digits + sizeof port_digits, in.server_port);
  forwarded("X-Forwarded-Port", client.port, std::string_view(port_digits, port_end - port_digits));
  forwarded("X-Forwarded-Path", client.path, in.request.path());
  const auto& matched = in.match.matched_path;
  if (route.strip_path && !matched.empty() && matched.front() != '~') {
    std::string_view prefix = matched;
    if (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
    forwarded("X-Forwarded-Prefix", client.prefix, prefix);
  } else if (in.trusted_peer && client.prefix) {
    sink.add("X-Forwarded-Prefix", *client.prefix);
  }
  if (in.server_tokens) {
    if (client.via) {
      scratch.assign(*client.via);
      scratch += ", ";
      scratch += kViaToken;
      sink.add("Via", scratch);
    } else {
      sink.add("Via", kViaToken);
    }
  }
  if (!in.request_id.empty()) sink.add("X-Kong-Request-Id", in.request_id);
}

namespace {
// Passes on only the headers of one name.
class NamedSink final : public HeaderSink {
 public:
  NamedSink(std::string_view name, HeaderSink& out) : name_(name), out_(out) {}
  void add(std::string_view name, std::string_view value) override {
    if (iequals(name, name_)) out_.add(name, value);
  }

 private:
  std::string_view name_;
  HeaderSink& out_;
};
}  // namespace

void emit_upstream_headers_named(const ForwardingInputs& in, std::string_view name, HeaderSink& sink) {
  if (HopByHop::always(name)) return;  // never forwarded, never set by Kong
  if (kong_sets(name) != KongSets::none) {
    NamedSink only(name, sink);
    emit_upstream_headers(in, only);
    return;
  }
  emit_client_headers_named(in.client_headers ? *in.client_headers : in.request.headers, name, sink);
}

bool forwarded_as_sent(std::string_view name) {
  return !HopByHop::always(name) && kong_sets(name) == KongSets::none;
}

// Any other client header goes upstream as it came, unless its Connection header names it.
void emit_client_headers_named(const http::Headers& client, std::string_view name, HeaderSink& sink) {
  std::optional<HopByHop> hop;
  for (const auto& h : client) {
    if (!iequals(h.name, name)) continue;
    if (!hop) hop.emplace(client);
    if (!hop->contains(h.name)) sink.add(h.name, h.value);
  }
}

http::HeaderNameFilter upstream_header_names(const http::Headers& client) {
  // What emit_upstream_headers may add, whatever the route, peer or configuration.
  static constexpr http::HeaderNameFilter kKongSets = [] {
    http::HeaderNameFilter names;
    for (std::string_view name :
         {"Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
          "X-Forwarded-Path", "X-Forwarded-Prefix", "Via", "X-Kong-Request-Id"})
      names.add(name);
    return names;
  }();
  http::HeaderNameFilter names = kKongSets;
  for (const auto& h : client) names.add(h.name);
  return names;
}

void add_proxied_headers(HeaderSink& sink, const http::Headers& upstream, const http::Headers& overrides) {
  const HopByHop hop(upstream);
  for (const auto& h : upstream)
    if (!hop.contains(h.name) && (overrides.empty() || !overrides.has(h.name))) sink.add(h.name, h.value);
  for (const auto& h : overrides)
    if (!HopByHop::always(h.name)) sink.add(h.name, h.value);
}

http::Headers upstream_headers_for_plugins(const http::Headers& received) {
  http::Headers headers;
  headers.reserve(received.size());
  const HopByHop hop(received);
  for (const auto& h : received)
    if (!hop.contains(h.name) || iequals(h.name, "content-length")) headers.add(h.name, h.value);
  return headers;
}

http::Headers merged_response_headers(const http::Headers& upstream, const http::Headers& overrides) {
  http::Headers headers;
  headers.reserve(upstream.size() + overrides.size());
  for (const auto& h : upstream)
    if (overrides.empty() || !overrides.has(h.name)) headers.add(h.name, h.value);
  for (const auto& h : overrides) headers.add(h.name, h.value);
  return headers;
}

}  // namespace gh::proxy
