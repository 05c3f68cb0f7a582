// The test kit's simulated gateway: serves each PDK method (decoding the same protobuf messages the
// plugin socket carries) from the Gateway's state.
#include <gatehouse/pdk/testkit.h>
#include <google/protobuf/empty.pb.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <unordered_map>

#include "convert.h"

namespace gatehouse::pdk::testing {

namespace {
using namespace convert;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

template <class Message>
Message parse(std::string_view method, std::string_view bytes) {
  Message m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw PdkError("test kit: cannot decode the arguments of " + std::string(method));
  return m;
}

// Kong's log line: the arguments' string forms concatenated (integral numbers without ".0").
std::string concat(const gpb::ListValue& args) {
  std::string out;
  for (const auto& v : args.values()) {
    Value value = from_proto(v);
    if (value.is_string()) {
      out += value.get<std::string>();
    } else if (value.is_number() && value.get<double>() == static_cast<double>(value.get<std::int64_t>())) {
      out += std::to_string(value.get<std::int64_t>());
    } else {
      out += value.dump();
    }
  }
  return out;
}

// "a=1&b=2&b=3&flag" -> {a:[1], b:[2,3], flag:[]} (a valueless flag has no values, as go-pdk sees it).
Headers parse_query(std::string_view raw) {
  Headers out;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view pair = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view{} : raw.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      out[std::string(pair)];
    else
      out[std::string(pair.substr(0, eq))].emplace_back(pair.substr(eq + 1));
  }
  return out;
}

Headers limit(Headers map, int max) {
  while (max >= 0 && map.size() > static_cast<std::size_t>(max)) map.erase(std::prev(map.end()));
  return map;
}

void lower_names(const Headers& in, HeaderMap& out, bool replace) {
  for (const auto& [name, values] : in) {
    auto& slot = out[lower(name)];
    if (replace) slot.clear();
    slot.insert(slot.end(), values.begin(), values.end());
  }
}

template <class Message>
std::string encode(const Message& m) {
  return m.SerializeAsString();
}

std::string string_reply(std::string_view v) {
  pb::String s;
  s.set_v(std::string(v));
  return encode(s);
}
std::string int_reply(int v) {
  pb::Int i;
  i.set_v(v);
  return encode(i);
}
std::string number_reply(double v) {
  pb::Number n;
  n.set_v(v);
  return encode(n);
}
std::string bool_reply(bool v) {
  pb::Bool b;
  b.set_v(v);
  return encode(b);
}
std::string map_reply(const Headers& map, int max) {
  gpb::Struct s;
  to_proto(limit(map, max), &s);
  return encode(s);
}
std::string value_reply(const std::map<std::string, Value>& map, const std::string& key) {
  gpb::Value v;
  auto it = map.find(key);
  to_proto(it == map.end() ? Value(nullptr) : it->second, &v);
  return encode(v);
}

using Handler = std::function<std::string(Gateway&, std::string_view method, std::string_view args)>;

std::string arg_string(std::string_view method, std::string_view args) {
  return parse<pb::String>(method, args).v();
}
int arg_int(std::string_view method, std::string_view args) {
  return parse<pb::Int>(method, args).v();
}

const std::unordered_map<std::string_view, Handler>& handlers() {
  using G = Gateway;
  using S = std::string_view;
  static const std::unordered_map<std::string_view, Handler> table = {
      // kong.client
      {"kong.client.get_ip", [](G& g, S, S) { return string_reply(g.client.ip); }},
      {"kong.client.get_forwarded_ip",
       [](G& g, S, S) { return string_reply(g.client.forwarded_ip.empty() ? g.client.ip : g.client.forwarded_ip); }},
      {"kong.client.get_port", [](G& g, S, S) { return int_reply(g.client.port); }},
      {"kong.client.get_forwarded_port",
       [](G& g, S, S) { return int_reply(g.client.forwarded_port ? g.client.forwarded_port : g.client.port); }},
      {"kong.client.get_credential",
       [](G& g, S, S) {
         pb::AuthenticatedCredential c;
         if (!g.credential) return std::string();
         to_proto(*g.credential, &c);
         return encode(c);
       }},
      {"kong.client.load_consumer",
       [](G& g, S m, S a) {
         auto spec = parse<pb::ConsumerSpec>(m, a);
         for (const auto& c : g.consumers) {
           if ((spec.by_username() ? c.username : c.id) != spec.id()) continue;
           pb::Consumer out;
           to_proto(c, &out);
           return encode(out);
         }
         return std::string();
       }},
      {"kong.client.get_consumer",
       [](G& g, S, S) {
         pb::Consumer c;
         if (!g.consumer) return std::string();
         to_proto(*g.consumer, &c);
         return encode(c);
       }},
      {"kong.client.authenticate",
       [](G& g, S m, S a) {
         auto args = parse<pb::AuthenticateArgs>(m, a);
         if (!args.has_consumer() && !args.has_credential())
           throw PdkError("kong.client.authenticate: either credential or consumer must be provided");
         g.consumer = args.has_consumer() ? std::optional(from_proto(args.consumer())) : std::nullopt;
         g.credential = args.has_credential() ? std::optional(from_proto(args.credential())) : std::nullopt;
         return std::string();
       }},
      {"kong.client.get_protocol", [](G& g, S, S) { return string_reply(g.client.protocol); }},
      // kong.ctx.shared
      {"kong.ctx.shared.set",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         g.ctx_shared[kv.k()] = from_proto(kv.v());
         return std::string();
       }},
      {"kong.ctx.shared.get", [](G& g, S m, S a) { return value_reply(g.ctx_shared, arg_string(m, a)); }},
      // kong.ip
      {"kong.ip.is_trusted",
       [](G& g, S m, S a) {
         auto& t = g.client.trusted_ips;
         return bool_reply(std::find(t.begin(), t.end(), arg_string(m, a)) != t.end());
       }},
      // kong.log
      {"kong.log.set_serialize_value",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         Value log = Value::parse(g.serialized_log);
         std::string pointer = "/" + kv.k();  // Kong's keys are dotted paths: "request.headers.x"
         std::replace(pointer.begin(), pointer.end(), '.', '/');
         log[Value::json_pointer(pointer)] = from_proto(kv.v());
         g.serialized_log = log.dump();
         return std::string();
       }},
      {"kong.log.serialize", [](G& g, S, S) { return string_reply(g.serialized_log); }},
      // kong.nginx
      {"kong.nginx.get_var",
       [](G& g, S m, S a) {
         auto it = g.nginx_vars.find(arg_string(m, a));
         return it == g.nginx_vars.end() ? std::string() : string_reply(it->second);
       }},
      {"kong.nginx.get_tls1_version_str", [](G& g, S, S) { return string_reply(g.tls1_version); }},
      {"kong.nginx.set_ctx",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         g.nginx_ctx[kv.k()] = from_proto(kv.v());
         return std::string();
       }},
      {"kong.nginx.get_ctx", [](G& g, S m, S a) { return value_reply(g.nginx_ctx, arg_string(m, a)); }},
      {"kong.nginx.req_start_time", [](G& g, S, S) { return number_reply(g.start_time); }},
      {"kong.nginx.get_subsystem", [](G& g, S, S) { return string_reply(g.subsystem); }},
      // kong.node
      {"kong.node.get_id", [](G& g, S, S) { return string_reply(g.node_id); }},
      {"kong.node.get_memory_stats",
       [](G& g, S, S) {
         pb::MemoryStats m;
         to_proto(g.memory_stats, &m);
         return encode(m);
       }},
      // kong.request
      {"kong.request.get_scheme", [](G& g, S, S) { return string_reply(g.request.scheme); }},
      {"kong.request.get_host", [](G& g, S, S) { return string_reply(g.request.host); }},
      {"kong.request.get_port", [](G& g, S, S) { return int_reply(g.request.port); }},
      {"kong.request.get_forwarded_scheme",
       [](G& g, S, S) {
         return string_reply(g.request.forwarded_scheme.empty() ? g.request.scheme : g.request.forwarded_scheme);
       }},
      {"kong.request.get_forwarded_host",
       [](G& g, S, S) {
         return string_reply(g.request.forwarded_host.empty() ? g.request.host : g.request.forwarded_host);
       }},
      {"kong.request.get_forwarded_port",
       [](G& g, S, S) { return int_reply(g.request.forwarded_port ? g.request.forwarded_port : g.request.port); }},
      {"kong.request.get_http_version", [](G& g, S, S) { return number_reply(g.request.http_version); }},
      {"kong.request.get_method", [](G& g, S, S) { return string_reply(g.request.method); }},
      {"kong.request.get_path", [](G& g, S, S) { return string_reply(g.request.path); }},
      {"kong.request.get_path_with_query",
       [](G& g, S, S) {
         return string_reply(g.request.path + (g.request.raw_query.empty() ? "" : "?" + g.request.raw_query));
       }},
      {"kong.request.get_raw_query", [](G& g, S, S) { return string_reply(g.request.raw_query); }},
      {"kong.request.get_query_arg",
       [](G& g, S m, S a) {
         auto query = parse_query(g.request.raw_query);
         auto it = query.find(arg_string(m, a));
         return it == query.end() || it->second.empty() ? std::string() : string_reply(it->second.front());
       }},
      {"kong.request.get_query",
       [](G& g, S m, S a) { return map_reply(parse_query(g.request.raw_query), arg_int(m, a)); }},
      {"kong.request.get_header",
       [](G& g, S m, S a) {
         return g.request.headers.has(arg_string(m, a)) ? string_reply(g.request.headers.header(arg_string(m, a)))
                                                          : std::string();
       }},
      {"kong.request.get_headers", [](G& g, S m, S a) { return map_reply(g.request.headers, arg_int(m, a)); }},
      {"kong.request.get_raw_body",
       [](G& g, S, S) {
         pb::RawBodyResult r;
         if (g.request.body_error)
           r.set_error(*g.request.body_error);
         else
           r.set_content(g.request.body);
         return encode(r);
       }},
      {"kong.request.get_uri_captures",
       [](G& g, S, S) {
         pb::UriCapturesResult r;
         for (const auto& u : g.request.uri_captures.unnamed) r.add_unnamed(u);
         for (const auto& [k, v] : g.request.uri_captures.named) (*r.mutable_named())[k] = v;
         return encode(r);
       }},
      // kong.response
      {"kong.response.get_status", [](G& g, S, S) { return int_reply(g.response.status); }},
      {"kong.response.get_header",
       [](G& g, S m, S a) {
         return g.response.headers.has(arg_string(m, a)) ? string_reply(g.response.header(arg_string(m, a)))
                                                           : std::string();
       }},
      {"kong.response.get_headers", [](G& g, S m, S a) { return map_reply(g.response.headers, arg_int(m, a)); }},
      {"kong.response.get_source", [](G& g, S, S) { return string_reply(g.response.source); }},
      {"kong.response.set_status",
       [](G& g, S m, S a) {
         g.response.status = arg_int(m, a);
         return std::string();
       }},
      {"kong.response.set_header",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         g.response.headers[lower(kv.k())] = {kv.v().string_value()};
         return std::string();
       }},
      {"kong.response.add_header",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         g.response.headers[lower(kv.k())].push_back(kv.v().string_value());
         return std::string();
       }},
      {"kong.response.clear_header",
       [](G& g, S m, S a) {
         g.response.headers.erase(lower(arg_string(m, a)));
         return std::string();
       }},
      {"kong.response.set_headers",
       [](G& g, S m, S a) {
         lower_names(headers_from_proto(parse<gpb::Struct>(m, a)), g.response.headers, true);
         return std::string();
       }},
      // kong.router
      {"kong.router.get_route",
       [](G& g, S, S) {
         pb::Route r;
         if (!g.route) return std::string();
         to_proto(*g.route, &r);
         return encode(r);
       }},
      {"kong.router.get_service",
       [](G& g, S, S) {
         pb::Service s;
         if (!g.service) return std::string();
         to_proto(*g.service, &s);
         return encode(s);
       }},
      // kong.service
      {"kong.service.set_upstream",
       [](G& g, S m, S a) {
         auto name = arg_string(m, a);
         bool known = std::find(g.upstreams.begin(), g.upstreams.end(), name) != g.upstreams.end();
         if (known) g.upstream.upstream_name = name;
         return known ? bool_reply(true) : std::string();  // Kong drops the error: nil
       }},
      {"kong.service.set_target",
       [](G& g, S m, S a) {
         auto t = parse<pb::Target>(m, a);
         g.upstream.host = t.host();
         g.upstream.port = t.port();
         return std::string();
       }},
      {"kong.service.request.set_scheme",
       [](G& g, S m, S a) {
         g.upstream.scheme = arg_string(m, a);
         return std::string();
       }},
      {"kong.service.request.set_path",
       [](G& g, S m, S a) {
         g.upstream.path = arg_string(m, a);
         return std::string();
       }},
      {"kong.service.request.set_raw_query",
       [](G& g, S m, S a) {
         g.upstream.raw_query = arg_string(m, a);
         return std::string();
       }},
      {"kong.service.request.set_method",
       [](G& g, S m, S a) {
         g.upstream.method = arg_string(m, a);
         return std::string();
       }},
      {"kong.service.request.set_query",
       [](G& g, S m, S a) {
         std::string raw;
         for (const auto& [k, values] : headers_from_proto(parse<gpb::Struct>(m, a)))
           for (const auto& v : values) raw += (raw.empty() ? "" : "&") + k + "=" + v;
         g.upstream.raw_query = raw;
         return std::string();
       }},
      {"kong.service.request.set_header",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         g.upstream.headers[lower(kv.k())] = {kv.v().string_value()};
         return std::string();
       }},
      {"kong.service.request.add_header",
       [](G& g, S m, S a) {
         auto kv = parse<pb::KV>(m, a);
         g.upstream.headers[lower(kv.k())].push_back(kv.v().string_value());
         return std::string();
       }},
      {"kong.service.request.clear_header",
       [](G& g, S m, S a) {
         g.upstream.headers.erase(lower(arg_string(m, a)));
         return std::string();
       }},
      {"kong.service.request.set_headers",
       [](G& g, S m, S a) {
         lower_names(headers_from_proto(parse<gpb::Struct>(m, a)), g.upstream.headers, true);
         return std::string();
       }},
      {"kong.service.request.set_raw_body",
       [](G& g, S m, S a) {
         g.upstream.body = parse<pb::ByteString>(m, a).v();
         return std::string();
       }},
      {"kong.service.response.get_status", [](G& g, S, S) { return int_reply(g.service_response.status); }},
      {"kong.service.response.get_header",
       [](G& g, S m, S a) {
         auto name = arg_string(m, a);
         return g.service_response.headers.has(name) ? string_reply(g.service_response.headers.header(name))
                                                     : std::string();
       }},
      {"kong.service.response.get_headers",
       [](G& g, S m, S a) { return map_reply(g.service_response.headers, arg_int(m, a)); }},
      {"kong.service.response.get_raw_body",
       [](G& g, S, S) {
         pb::ByteString b;
         b.set_v(g.service_response.body);
         return encode(b);
       }},
  };
  return table;
}

}  // namespace

std::string HeaderMap::header(std::string_view name) const {
  auto it = find(lower(name));
  return it == end() || it->second.empty() ? std::string() : it->second.front();
}

bool HeaderMap::has(std::string_view name) const {
  return find(lower(name)) != end();
}

Gateway::Gateway() : kong_(*this) {}
Gateway::~Gateway() = default;

std::string_view Gateway::call(std::string_view method, std::string_view args) {
  if (exit_in_phase_) throw PdkError("use of closed network connection");  // as over the socket
  begin_phase({});
  calls.emplace_back(method);
  static constexpr std::string_view kLevels[] = {"alert", "crit", "err", "warn", "notice", "info", "debug"};
  if (method.rfind("kong.log.", 0) == 0) {
    std::string_view level = method.substr(9);
    if (std::find(std::begin(kLevels), std::end(kLevels), level) != std::end(kLevels)) {
      logs.push_back({std::string(level), concat(parse<gpb::ListValue>(method, args))});
      reply_.clear();
      return reply_;
    }
  }
  auto it = handlers().find(method);
  if (it == handlers().end()) throw PdkError("method \"" + std::string(method) + "\" not found");
  reply_ = it->second(*this, method, args);
  return reply_;
}

void Gateway::write(std::string_view method, std::string_view args) {
  writes.emplace_back(method);
  call(method, args);
}

void Gateway::exit(std::string_view method, std::string_view args) {
  if (exit_in_phase_) throw PdkError("use of closed network connection");
  calls.emplace_back(method);
  auto exit = parse<pb::ExitArgs>(method, args);
  response.status = exit.status();
  response.body = exit.body();
  lower_names(headers_from_proto(exit.headers()), response.headers, true);
  response.source = "exit";
  response.exited = true;
  exit_in_phase_ = true;
}

std::vector<std::string> Gateway::log_messages(std::string_view level) const {
  std::vector<std::string> out;
  for (const auto& entry : logs)
    if (entry.level == level) out.push_back(entry.message);
  return out;
}

void Gateway::begin_phase(std::string_view phase) {
  if (!phase.empty()) exit_in_phase_ = false;
  if (upstream_prepared_) return;
  // The upstream request starts as the client's request (what the gateway would proxy).
  upstream_prepared_ = true;
  upstream.scheme = request.scheme;
  upstream.host = service ? service->host : request.host;
  upstream.port = service ? service->port : request.port;
  upstream.method = request.method;
  upstream.path = request.path;
  upstream.raw_query = request.raw_query;
  upstream.headers = request.headers;
  upstream.body = request.body;
}

void Gateway::proxy() {
  // Headers set by plugins before the response arrived win over the service's, as in Kong.
  HeaderMap merged = service_response.headers;
  for (const auto& [name, values] : response.headers) merged[name] = values;
  response.headers = std::move(merged);
  response.status = service_response.status;
  response.body = service_response.body;
}

}  // namespace gatehouse::pdk::testing
