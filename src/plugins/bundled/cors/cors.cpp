// cors (Kong's kong/plugins/cors): answers preflight requests itself (200, no body) and adds the
// Access-Control-* headers to other responses, for literal, regex and '*' origins.
//
// Kong adds those headers in header_filter. Here they are set in the access phase, as response
// headers set before the upstream answers: they replace the upstream's of the same name, as
// Kong's set_header does, and they are on every answer, the gateway's own too (a later plugin's
// 401, request-termination), as Kong's header_filter puts them there; and no response phase means
// the upstream's response is streamed, not buffered. docs/plugins-bundled.md says what differs.
#include "plugins/native.h"
#include "pluginserver/schema.h"
#include "traffic/cors_policy.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

traffic::CorsRequest cors_request(const pdk::Kong& kong) {
  auto origin = kong.request.get_header("Origin");
  if (origin && origin->empty()) origin.reset();  // Kong 3.11: an empty Origin is no Origin
  traffic::CorsRequest request;
  request.method = kong.request.get_method();
  request.origin = origin;
  // The Access-Control-Request-* headers are a preflight's (an OPTIONS request's) only.
  if (request.method == "OPTIONS") {
    request.request_method = kong.request.get_header("Access-Control-Request-Method");
    request.request_headers = kong.request.get_header("Access-Control-Request-Headers");
    request.request_private_network = kong.request.get_header("Access-Control-Request-Private-Network");
  }
  return request;
}

void apply_edits(const traffic::HeaderEdits& edits, pdk::KongResponse& response) {
  for (const auto& e : edits) {
    switch (e.op) {
      case traffic::HeaderEdit::Op::set:
        response.set_header(e.name, e.value);
        break;
      case traffic::HeaderEdit::Op::add:
        response.add_header(e.name, e.value);
        break;
      case traffic::HeaderEdit::Op::clear:
        response.clear_header(e.name);
        break;
    }
  }
}

class Cors final : public NativeHandler {
 public:
  explicit Cors(const json& config) : policy_(check(config)) {}

  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    auto request = cors_request(kong);
    if (auto preflight = policy_.preflight(request)) {
      apply_edits(*preflight, kong.response);
      kong.response.exit(200);
      return true;
    }
    apply_edits(policy_.response_headers(request, false), kong.response);
    return true;
  }

 private:
  static const json& check(const json& config) {
    if (auto it = config.find("origins"); it != config.end() && it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i) {
        const json& origin = (*it)[i];
        if (!origin.is_string()) continue;
        if (auto error = traffic::CorsPolicy::validate_origin(origin.get<std::string>()))
          throw std::invalid_argument("config.origins[" + std::to_string(i + 1) + "]: " + *error);
      }
    }
    return config;
  }

  traffic::CorsPolicy policy_;
};

NativePluginSpec spec() {
  json methods =
      json::array({"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"});
  json strings = {{"type", "array"}, {"elements", {{"type", "string"}}}};
  auto flag = [](bool value) { return json{{"type", "boolean"}, {"required", true}, {"default", value}}; };
  return {
      "cors",
      "3.9.0",
      2000,
      core::bit(core::Phase::access),
      {{"name", "cors"},
       {"fields",
        {pluginserver::no_consumer_field(),
         {{"config",
           {{"type", "record"},
            {"fields",
             {{{"origins", strings}},
              {{"headers", strings}},
              {{"exposed_headers", strings}},
              {{"methods",
                {{"type", "array"},
                 {"default", methods},
                 {"elements", {{"type", "string"}, {"one_of", methods}}}}}},
              {{"max_age", {{"type", "number"}}}},
              {{"credentials", flag(false)}},
              {{"private_network", flag(false)}},
              {{"preflight_continue", flag(false)}},
              {{"allow_origin_absent", flag(true)}}}}}}}}}},
      [](const json& config, SharedMemory&) { return std::make_unique<Cors>(config); },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
