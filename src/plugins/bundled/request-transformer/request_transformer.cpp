// request-transformer (Kong's kong/plugins/request-transformer): edits the request before it goes
// upstream (traffic/request_transform.h says what and in which order; templates are evaluated
// natively, gatehouse runs no Lua).
#include "plugins/native.h"
#include "traffic/config_checks.h"
#include "traffic/request_transform.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

class RequestTransformer final : public NativeHandler {
 public:
  explicit RequestTransformer(const json& config) : transform_(check(config)) {}

  // Without a body to transform: a plain call.
  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    auto content_type = kong.request.get_header("Content-Type");
    if (transform_.needs_body(content_type)) return false;
    transform(kong, content_type, std::nullopt);
    return true;
  }

  // The body is read first.
  boost::asio::awaitable<void> access(pdk::Kong& kong) override {
    auto content_type = kong.request.get_header("Content-Type");
    std::optional<std::string_view> body = co_await kong.request.get_raw_body();
    transform(kong, content_type, body);
  }

 private:
  void transform(pdk::Kong& kong, std::optional<std::string_view> content_type,
                 std::optional<std::string_view> body) const {
    auto& ctx = kong.context();
    json query = transform_.reads_query() ? kong.request.get_query() : json();
    const auto* match = ctx.match ? &*ctx.match : nullptr;
    traffic::TemplateEnv env{&kong.request.get_headers(), &query, match ? &match->captures_unnamed : nullptr,
                             match ? &match->captures_named : nullptr, &kong.ctx.shared};

    traffic::TransformedRequest req;
    req.method = ctx.upstream.method;
    req.query = ctx.upstream.query;
    // The upstream header list (edits over the forwarded list) is edited in place: rendered values
    // are checked by the transform and names by the schema, as the PDK would.
    std::swap(req.headers, ctx.upstream.headers);
    transform_.apply(req, content_type, body, env);
    std::swap(req.headers, ctx.upstream.headers);

    if (req.method != ctx.upstream.method) kong.service_request.set_method(req.method);
    if (req.path) kong.service_request.set_path(*req.path);
    if (req.body) kong.service_request.set_raw_body(std::move(*req.body));
    if (req.query != ctx.upstream.query) kong.service_request.set_raw_query(std::move(req.query));
  }

  static const json& check(const json& config) {
    traffic::refuse_if_any(traffic::RequestTransform::validate(config));
    return config;
  }

  traffic::RequestTransform transform_;
};

json section(bool with_uri) {
  json fields = json::array({{{"body", traffic::required_string_array()}},
                             {{"headers", traffic::required_string_array()}},
                             {{"querystring", traffic::required_string_array()}}});
  if (with_uri) fields.push_back({{"uri", {{"type", "string"}}}});
  return {{"type", "record"}, {"required", true}, {"fields", fields}};
}

NativePluginSpec spec() {
  return {
      "request-transformer",
      "3.9.0",
      801,
      core::bit(core::Phase::access),
      {{"name", "request-transformer"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"http_method", {{"type", "string"}, {"match", "^%u+$"}}}},
              {{"remove", section(false)}},
              {{"rename", section(false)}},
              {{"replace", section(true)}},
              {{"add", section(false)}},
              {{"append", section(false)}}}}}}}}}},
      [](const json& config, SharedMemory&) { return std::make_unique<RequestTransformer>(config); },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
