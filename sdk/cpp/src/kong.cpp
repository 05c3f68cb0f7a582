// Kong& over a Channel: each method encodes its input message, makes one call and decodes the
// output message (types per the service table of proto/pluginsocket.proto).
#include <gatehouse/pdk/kong.h>
#include <google/protobuf/empty.pb.h>

#include <fstream>
#include <sstream>

#include "convert.h"

namespace gatehouse::pdk {

namespace {
using namespace convert;

// Reused across calls of one thread: PDK calls are frequent and their arguments small.
thread_local std::string args_buffer;

std::string_view encode(const gpb::MessageLite& message) {
  message.SerializeToString(&args_buffer);
  return args_buffer;
}

template <class Reply>
Reply decode(std::string_view method, std::string_view bytes) {
  Reply reply;
  if (!reply.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw PdkError("cannot decode the reply to " + std::string(method));
  return reply;
}

// A call without arguments (google.protobuf.Empty is a zero-length frame).
template <class Reply>
Reply call(detail::Channel& channel, std::string_view method) {
  return decode<Reply>(method, channel.call(method, {}));
}

template <class Reply>
Reply call(detail::Channel& channel, std::string_view method, const gpb::MessageLite& args) {
  return decode<Reply>(method, channel.call(method, encode(args)));
}

// Entity results: a zero-length reply is Lua's nil.
template <class Reply>
auto call_optional(detail::Channel& channel, std::string_view method, const gpb::MessageLite* args = nullptr)
    -> std::optional<decltype(from_proto(std::declval<Reply>()))> {
  std::string_view bytes = channel.call(method, args ? encode(*args) : std::string_view{});
  if (bytes.empty()) return std::nullopt;
  return from_proto(decode<Reply>(method, bytes));
}

// Only for methods whose output is google.protobuf.Empty: Gatehouse:1 batches them (no reply).
void call_void(detail::Channel& channel, std::string_view method, const gpb::MessageLite& args) {
  channel.write(method, encode(args));
}

pb::String string_arg(std::string_view v) {
  pb::String s;
  s.set_v(std::string(v));
  return s;
}

pb::Int int_arg(int v) {
  pb::Int i;
  i.set_v(v);
  return i;
}

pb::KV kv_arg(std::string_view k, const Value& v) {
  pb::KV kv;
  kv.set_k(std::string(k));
  to_proto(v, kv.mutable_v());
  return kv;
}

pb::KV kv_arg(std::string_view k, std::string_view v) {
  pb::KV kv;
  kv.set_k(std::string(k));
  kv.mutable_v()->set_string_value(std::string(v));
  return kv;
}

std::string get_string(detail::Channel& ch, std::string_view method) {
  return call<pb::String>(ch, method).v();
}
std::string get_string(detail::Channel& ch, std::string_view method, std::string_view arg) {
  return call<pb::String>(ch, method, string_arg(arg)).v();
}
int get_int(detail::Channel& ch, std::string_view method) {
  return call<pb::Int>(ch, method).v();
}
double get_number(detail::Channel& ch, std::string_view method) {
  return call<pb::Number>(ch, method).v();
}

Headers get_multimap(detail::Channel& ch, std::string_view method, int max) {
  // go-pdk maps "no limit" (-1) to Kong's default of 100.
  return headers_from_proto(call<gpb::Struct>(ch, method, int_arg(max < 0 ? kDefaultMaxArgs : max)));
}

void set_multimap(detail::Channel& ch, std::string_view method, const Headers& map) {
  gpb::Struct s;
  to_proto(map, &s);
  call_void(ch, method, s);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PdkError("cannot read the buffered request body " + path);
  std::ostringstream body;
  body << in.rdbuf();
  return std::move(body).str();
}
}  // namespace

Kong::Kong(detail::Channel& channel)
    : client(channel),
      ctx(channel),
      ip(channel),
      log(channel),
      nginx(channel),
      node(channel),
      request(channel),
      response(channel),
      router(channel),
      service(channel) {}

// ---- kong.client ----------------------------------------------------------------------------
std::string Kong::Client::get_ip() {
  return get_string(channel_, "kong.client.get_ip");
}
std::string Kong::Client::get_forwarded_ip() {
  return get_string(channel_, "kong.client.get_forwarded_ip");
}
int Kong::Client::get_port() {
  return get_int(channel_, "kong.client.get_port");
}
int Kong::Client::get_forwarded_port() {
  return get_int(channel_, "kong.client.get_forwarded_port");
}

std::optional<Credential> Kong::Client::get_credential() {
  return call_optional<pb::AuthenticatedCredential>(channel_, "kong.client.get_credential");
}

std::optional<Consumer> Kong::Client::load_consumer(std::string_view consumer_id, bool by_username) {
  pb::ConsumerSpec spec;
  spec.set_id(std::string(consumer_id));
  spec.set_by_username(by_username);
  return call_optional<pb::Consumer>(channel_, "kong.client.load_consumer", &spec);
}

std::optional<Consumer> Kong::Client::get_consumer() {
  return call_optional<pb::Consumer>(channel_, "kong.client.get_consumer");
}

void Kong::Client::authenticate(const std::optional<Consumer>& consumer,
                                const std::optional<Credential>& credential) {
  pb::AuthenticateArgs args;
  if (consumer) to_proto(*consumer, args.mutable_consumer());
  if (credential) to_proto(*credential, args.mutable_credential());
  call_void(channel_, "kong.client.authenticate", args);
}

std::string Kong::Client::get_protocol(bool allow_terminated) {
  pb::Bool arg;
  arg.set_v(allow_terminated);
  return call<pb::String>(channel_, "kong.client.get_protocol", arg).v();
}

// ---- kong.ctx.shared ------------------------------------------------------------------------
void Kong::Ctx::Shared::set(std::string_view key, const Value& value) {
  call_void(channel_, "kong.ctx.shared.set", kv_arg(key, value));
}

Value Kong::Ctx::Shared::get(std::string_view key) {
  return from_proto(call<gpb::Value>(channel_, "kong.ctx.shared.get", string_arg(key)));
}

std::string Kong::Ctx::Shared::get_string(std::string_view key) {
  Value v = get(key);
  if (channel_.recording()) return {};  // declared: the call above is the read
  if (!v.is_string()) throw PdkError("expected type: string");
  return v.get<std::string>();
}

double Kong::Ctx::Shared::get_number(std::string_view key) {
  Value v = get(key);
  if (channel_.recording()) return 0;  // declared: the call above is the read
  if (!v.is_number()) throw PdkError("expected type: number");
  return v.get<double>();
}

// ---- kong.ip --------------------------------------------------------------------------------
bool Kong::Ip::is_trusted(std::string_view address) {
  return call<pb::Bool>(channel_, "kong.ip.is_trusted", string_arg(address)).v();
}

// ---- kong.log -------------------------------------------------------------------------------
void Kong::Log::write(std::string_view method, std::initializer_list<Value> args) {
  gpb::ListValue list;
  for (const auto& v : args) to_proto(v, list.add_values());
  call_void(channel_, method, list);
}

void Kong::Log::set_serialize_value(std::string_view key, const Value& value) {
  call_void(channel_, "kong.log.set_serialize_value", kv_arg(key, value));
}

std::string Kong::Log::serialize() {
  return get_string(channel_, "kong.log.serialize");
}

// ---- kong.nginx -----------------------------------------------------------------------------
std::string Kong::Nginx::get_var(std::string_view name) {
  return get_string(channel_, "kong.nginx.get_var", name);
}
std::string Kong::Nginx::get_tls1_version_str() {
  return get_string(channel_, "kong.nginx.get_tls1_version_str");
}
void Kong::Nginx::set_ctx(std::string_view key, const Value& value) {
  // Kong's schema answers it with a String (unused): an ordinary call, not a batched write.
  channel_.call("kong.nginx.set_ctx", encode(kv_arg(key, value)));
}
Value Kong::Nginx::get_ctx(std::string_view key) {
  return from_proto(call<gpb::Value>(channel_, "kong.nginx.get_ctx", string_arg(key)));
}
double Kong::Nginx::req_start_time() {
  return get_number(channel_, "kong.nginx.req_start_time");
}
std::string Kong::Nginx::get_subsystem() {
  return get_string(channel_, "kong.nginx.get_subsystem");
}

// ---- kong.node ------------------------------------------------------------------------------
std::string Kong::Node::get_id() {
  return get_string(channel_, "kong.node.get_id");
}
MemoryStats Kong::Node::get_memory_stats() {
  return from_proto(call<pb::MemoryStats>(channel_, "kong.node.get_memory_stats"));
}

// ---- kong.request ---------------------------------------------------------------------------
std::string Kong::Request::get_scheme() {
  return get_string(channel_, "kong.request.get_scheme");
}
std::string Kong::Request::get_host() {
  return get_string(channel_, "kong.request.get_host");
}
int Kong::Request::get_port() {
  return get_int(channel_, "kong.request.get_port");
}
std::string Kong::Request::get_forwarded_scheme() {
  return get_string(channel_, "kong.request.get_forwarded_scheme");
}
std::string Kong::Request::get_forwarded_host() {
  return get_string(channel_, "kong.request.get_forwarded_host");
}
int Kong::Request::get_forwarded_port() {
  return get_int(channel_, "kong.request.get_forwarded_port");
}
double Kong::Request::get_http_version() {
  return get_number(channel_, "kong.request.get_http_version");
}
std::string Kong::Request::get_method() {
  return get_string(channel_, "kong.request.get_method");
}
std::string Kong::Request::get_path() {
  return get_string(channel_, "kong.request.get_path");
}
std::string Kong::Request::get_path_with_query() {
  return get_string(channel_, "kong.request.get_path_with_query");
}
std::string Kong::Request::get_raw_query() {
  return get_string(channel_, "kong.request.get_raw_query");
}
std::string Kong::Request::get_query_arg(std::string_view name) {
  return get_string(channel_, "kong.request.get_query_arg", name);
}
Headers Kong::Request::get_query(int max_args) {
  return get_multimap(channel_, "kong.request.get_query", max_args);
}
std::string Kong::Request::get_header(std::string_view name) {
  return get_string(channel_, "kong.request.get_header", name);
}
Headers Kong::Request::get_headers(int max_headers) {
  return get_multimap(channel_, "kong.request.get_headers", max_headers);
}

std::string Kong::Request::get_raw_body() {
  auto result = call<pb::RawBodyResult>(channel_, "kong.request.get_raw_body");
  switch (result.kind_case()) {
    case pb::RawBodyResult::kBodyFilepath:
      return read_file(result.body_filepath());
    case pb::RawBodyResult::kError:
      throw PdkError(result.error());
    case pb::RawBodyResult::kContent:
    case pb::RawBodyResult::KIND_NOT_SET:
      break;
  }
  return std::move(*result.mutable_content());
}

UriCaptures Kong::Request::get_uri_captures() {
  auto result = call<pb::UriCapturesResult>(channel_, "kong.request.get_uri_captures");
  UriCaptures out;
  out.unnamed.assign(result.unnamed().begin(), result.unnamed().end());
  out.named.insert(result.named().begin(), result.named().end());
  return out;
}

// ---- kong.response --------------------------------------------------------------------------
int Kong::Response::get_status() {
  return get_int(channel_, "kong.response.get_status");
}
std::string Kong::Response::get_header(std::string_view name) {
  return get_string(channel_, "kong.response.get_header", name);
}
Headers Kong::Response::get_headers(int max_headers) {
  return get_multimap(channel_, "kong.response.get_headers", max_headers);
}
std::string Kong::Response::get_source() {
  return get_string(channel_, "kong.response.get_source");
}
void Kong::Response::set_status(int status) {
  call_void(channel_, "kong.response.set_status", int_arg(status));
}
void Kong::Response::set_header(std::string_view name, std::string_view value) {
  call_void(channel_, "kong.response.set_header", kv_arg(name, value));
}
void Kong::Response::add_header(std::string_view name, std::string_view value) {
  call_void(channel_, "kong.response.add_header", kv_arg(name, value));
}
void Kong::Response::clear_header(std::string_view name) {
  call_void(channel_, "kong.response.clear_header", string_arg(name));
}
void Kong::Response::set_headers(const Headers& headers) {
  set_multimap(channel_, "kong.response.set_headers", headers);
}

void Kong::Response::exit(int status, std::string_view body, const Headers& headers) {
  pb::ExitArgs args;
  args.set_status(status);
  args.set_body(std::string(body));
  if (!headers.empty()) to_proto(headers, args.mutable_headers());
  channel_.exit("kong.response.exit", encode(args));
}

// ---- kong.router ----------------------------------------------------------------------------
std::optional<Route> Kong::Router::get_route() {
  return call_optional<pb::Route>(channel_, "kong.router.get_route");
}
std::optional<Service> Kong::Router::get_service() {
  return call_optional<pb::Service>(channel_, "kong.router.get_service");
}

// ---- kong.service ---------------------------------------------------------------------------
bool Kong::ServiceApi::set_upstream(std::string_view upstream) {
  return call<pb::Bool>(channel_, "kong.service.set_upstream", string_arg(upstream)).v();
}

void Kong::ServiceApi::set_target(std::string_view host, int port) {
  pb::Target target;
  target.set_host(std::string(host));
  target.set_port(port);
  call_void(channel_, "kong.service.set_target", target);
}

void Kong::ServiceApi::Request::set_scheme(std::string_view v) {
  call_void(channel_, "kong.service.request.set_scheme", string_arg(v));
}
void Kong::ServiceApi::Request::set_path(std::string_view v) {
  call_void(channel_, "kong.service.request.set_path", string_arg(v));
}
void Kong::ServiceApi::Request::set_raw_query(std::string_view v) {
  call_void(channel_, "kong.service.request.set_raw_query", string_arg(v));
}
void Kong::ServiceApi::Request::set_method(std::string_view v) {
  call_void(channel_, "kong.service.request.set_method", string_arg(v));
}
void Kong::ServiceApi::Request::set_query(const Headers& args) {
  set_multimap(channel_, "kong.service.request.set_query", args);
}
void Kong::ServiceApi::Request::set_header(std::string_view name, std::string_view value) {
  call_void(channel_, "kong.service.request.set_header", kv_arg(name, value));
}
void Kong::ServiceApi::Request::add_header(std::string_view name, std::string_view value) {
  call_void(channel_, "kong.service.request.add_header", kv_arg(name, value));
}
void Kong::ServiceApi::Request::clear_header(std::string_view name) {
  call_void(channel_, "kong.service.request.clear_header", string_arg(name));
}
void Kong::ServiceApi::Request::set_headers(const Headers& headers) {
  set_multimap(channel_, "kong.service.request.set_headers", headers);
}
void Kong::ServiceApi::Request::set_raw_body(std::string_view body) {
  pb::ByteString arg;
  arg.set_v(std::string(body));
  call_void(channel_, "kong.service.request.set_raw_body", arg);
}

int Kong::ServiceApi::Response::get_status() {
  return get_int(channel_, "kong.service.response.get_status");
}
std::string Kong::ServiceApi::Response::get_header(std::string_view name) {
  return get_string(channel_, "kong.service.response.get_header", name);
}
Headers Kong::ServiceApi::Response::get_headers(int max_headers) {
  return get_multimap(channel_, "kong.service.response.get_headers", max_headers);
}
std::string Kong::ServiceApi::Response::get_raw_body() {
  return call<pb::ByteString>(channel_, "kong.service.response.get_raw_body").v();
}

}  // namespace gatehouse::pdk
