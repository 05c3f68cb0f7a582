#include "pdk/kong.h"

#include <algorithm>

#include "common/log.h"
#include "common/strings.h"
#include "core/snapshot.h"
#include "pdk/shapes.h"
#include "pdk/state.h"
#include "router/router.h"

namespace gh::pdk {

namespace {
constexpr std::string_view kJsonContentType = "application/json; charset=utf-8";

// The name, checked as checked_header_name checks it (the same error) but not copied.
http::HeaderName valid_header_name(std::string_view name) {
  if (auto checked = http::HeaderName::check(name)) return *checked;
  checked_header_name(name);     // throws
  return http::HeaderName("x");  // not reached
}

// The value, checked as checked_header_value checks it (the same error) but not copied: the
// header list makes the one copy it keeps.
std::string_view valid_header_value(http::HeaderName name, std::string_view value) {
  if (!http::is_valid_header_value(value)) checked_header_value(name, value);  // throws
  return value;
}

// The header appended, each string copied once into the list.
void append_header(http::Headers& headers, http::HeaderName name, std::string_view value) {
  headers.append(name, value);  // built in place
}
void append_header(http::HeaderOverlay& headers, http::HeaderName name, std::string_view value) {
  headers.add(std::string(name.view()), std::string(value));
}

// set_header (`replace`) and add_header of both header lists, the value checked as the wire
// table checks it (the name is checked already).
template <class HeaderList>
void write_header(HeaderList& headers, http::HeaderName name, std::string_view value, bool replace) {
  value = valid_header_value(name, value);
  if (replace) headers.remove(name);
  append_header(headers, name, value);
}

// The response's header list, with room for the few headers plugins set (growing it one by one
// moved every header at each step).
http::Headers& response_headers(core::RequestContext& ctx) {
  auto& headers = ctx.response.headers;
  if (headers.entries().capacity() == 0) headers.reserve(8);
  return headers;
}
}  // namespace

// ---- kong.request ----

const http::RequestHead& KongRequest::head() const {
  if (!ctx_.request) throw PdkError("no client request in this context");
  return *ctx_.request;
}

std::string_view KongRequest::get_method() const {
  return head().method;
}
std::string KongRequest::get_host() const {
  return request_host(ctx_);
}
std::string KongRequest::get_path() const {
  return router::normalize_path(head().path());
}
std::string_view KongRequest::get_raw_path() const {
  return head().path();
}
std::string_view KongRequest::get_raw_query() const {
  return head().query();
}

nlohmann::json KongRequest::get_query_arg(std::string_view name) const {
  nlohmann::json args = parse_query(head().query(), 100);
  auto it = args.find(name);
  if (it == args.end()) return nullptr;
  return it->is_array() ? it->front() : *it;
}

nlohmann::json KongRequest::get_query(size_t max_args) const {
  return parse_query(head().query(), max_args);
}

std::optional<std::string_view> KongRequest::get_header(std::string_view name) const {
  if (name.find('_') == std::string_view::npos) return head().headers.get(name);
  std::string dashed(name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  return head().headers.get(dashed);
}

const http::Headers& KongRequest::get_headers() const {
  return head().headers;
}

boost::asio::awaitable<std::optional<std::string_view>> KongRequest::get_raw_body() const {
  const std::string* body = co_await request_body(ctx_);
  if (!body) co_return std::nullopt;
  co_return std::string_view(*body);
}

// ---- kong.client ----

void KongClient::authenticate(nlohmann::json consumer, nlohmann::json credential) {
  if (consumer.is_null() && credential.is_null())
    throw PdkError("either credential or consumer must be provided");
  if (!consumer.is_null() && !consumer.is_object()) throw PdkError("consumer must be a table");
  if (!credential.is_null() && !credential.is_object()) throw PdkError("credential must be a table");
  set_authenticated(ctx_, core::make_entity_table(std::move(consumer)),
                    core::make_entity_table(std::move(credential)));
}

void KongClient::authenticate(const conf::Consumer* consumer, core::EntityTable credential) {
  if (!consumer && !credential) throw PdkError("either credential or consumer must be provided");
  set_authenticated(ctx_, consumer ? shared_table(*consumer, consumer_entity) : nullptr,
                    std::move(credential));
}

// ---- kong.service.request ----

void KongServiceRequest::set_header(std::string_view name, std::string_view value) {
  set_header(valid_header_name(name), value);
}
void KongServiceRequest::add_header(std::string_view name, std::string_view value) {
  add_header(valid_header_name(name), value);
}
void KongServiceRequest::clear_header(std::string_view name) {
  clear_header(valid_header_name(name));
}
void KongServiceRequest::set_header(http::HeaderName name, std::string_view value) {
  write_header(ctx_.upstream.headers, name, value, true);
}
void KongServiceRequest::add_header(http::HeaderName name, std::string_view value) {
  write_header(ctx_.upstream.headers, name, value, false);
}
void KongServiceRequest::clear_header(http::HeaderName name) {
  ctx_.upstream.headers.remove(name);
}
void KongServiceRequest::set_raw_query(std::string query) {
  set_upstream_raw_query(ctx_, std::move(query));
}
void KongServiceRequest::set_query(const nlohmann::json& args) {
  ctx_.upstream.query = encode_query(args);
}
void KongServiceRequest::set_raw_body(std::string body) {
  ctx_.upstream.body = std::move(body);
}
void KongServiceRequest::set_method(std::string method) {
  set_upstream_method(ctx_, std::move(method));
}
void KongServiceRequest::set_path(std::string path) {
  set_upstream_path(ctx_, std::move(path));
}

// ---- kong.response ----

void KongResponse::apply(const HeaderList& headers) {
  // Checked first: a refused header must not leave half the list applied.
  HeaderList checked;
  for (const auto& [name, value] : headers) {
    auto n = checked_header_name(name);
    auto v = checked_header_value(n, value);
    checked.emplace_back(std::move(n), std::move(v));
  }
  for (const auto& h : checked) ctx_.response.headers.remove(h.first);
  for (auto& [name, value] : checked) ctx_.response.headers.add(std::move(name), std::move(value));
}

void KongResponse::exit(int status, std::optional<std::string> body, const HeaderList& headers) {
  if (status < 0 || status > 599) throw PdkError("code must be a number between 0 and 599");
  apply(headers);
  exit_response(ctx_, status, std::move(body));
  exited_ = true;
}

void KongResponse::exit_json(int status, const nlohmann::json& body, const HeaderList& headers) {
  const bool typed = std::any_of(headers.begin(), headers.end(),
                                 [](const auto& h) { return iequals(h.first, "content-type"); });
  if (!typed && !ctx_.response.headers.has("content-type"))
    ctx_.response.headers.set("Content-Type", std::string(kJsonContentType));
  exit(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), headers);
}

void KongResponse::set_header(std::string_view name, std::string_view value) {
  set_header(valid_header_name(name), value);
}
void KongResponse::add_header(std::string_view name, std::string_view value) {
  add_header(valid_header_name(name), value);
}
void KongResponse::clear_header(std::string_view name) {
  clear_header(valid_header_name(name));
}
void KongResponse::set_header(http::HeaderName name, std::string_view value) {
  write_header(response_headers(ctx_), name, value, true);
}
void KongResponse::add_header(http::HeaderName name, std::string_view value) {
  write_header(response_headers(ctx_), name, value, false);
}
void KongResponse::clear_header(http::HeaderName name) {
  ctx_.response.headers.remove(name);
}
std::optional<std::string_view> KongResponse::get_header(std::string_view name) const {
  return ctx_.response.headers.get(name);
}

// ---- kong.log ----

void KongLog::debug(std::string_view message) const {
  spdlog::debug("[{}] {}", plugin_.name, message);
}
void KongLog::info(std::string_view message) const {
  spdlog::info("[{}] {}", plugin_.name, message);
}
void KongLog::notice(std::string_view message) const {
  log::notice("[{}] {}", plugin_.name, message);
}
void KongLog::warn(std::string_view message) const {
  spdlog::warn("[{}] {}", plugin_.name, message);
}
void KongLog::err(std::string_view message) const {
  spdlog::error("[{}] {}", plugin_.name, message);
}

// ---- kong ----

Kong::Kong(core::RequestContext& request_ctx, const PluginCall& plugin)
    : request(request_ctx),
      client(request_ctx),
      service_request(request_ctx),
      response(request_ctx),
      log(plugin),
      ctx(request_ctx, plugin.name),
      ctx_(request_ctx),
      plugin_(plugin) {}

KongCtx::KongCtx(core::RequestContext& request_ctx, std::string_view plugin_name)
    : shared(request_ctx.ctx_shared), request_ctx_(request_ctx), plugin_name_(plugin_name) {}

nlohmann::json& KongCtx::plugin() {
  auto& table = request_ctx_.plugin_ctx[std::string(plugin_name_)];
  // Kong's kong.ctx.plugin is a table even in a phase where nothing was stored yet (a log phase
  // after the gateway answered before access): reads on it must work, not throw on null.
  if (table.is_null()) table = nlohmann::json::object();
  return table;
}

const conf::Route* Kong::route() const {
  return ctx_.match ? ctx_.match->route : nullptr;
}
const conf::Service* Kong::service() const {
  return ctx_.match ? ctx_.match->service : nullptr;
}

const std::vector<conf::Consumer>& Kong::consumers() const {
  static const std::vector<conf::Consumer> kNone;
  return ctx_.snapshot ? ctx_.snapshot->config.consumers : kNone;
}

const conf::Consumer* Kong::consumer() const {
  const auto id = authenticated_consumer_id(ctx_);
  if (id.empty()) return nullptr;
  for (const auto& c : consumers())
    if (c.id == id) return &c;
  return nullptr;
}

}  // namespace gh::pdk
