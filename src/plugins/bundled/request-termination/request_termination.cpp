// request-termination (Kong's kong/plugins/request-termination): answers every request itself,
// with status_code and a message, a configured body, or (echo) the request it received; with
// `trigger`, only requests carrying that header or query argument.
#include <unistd.h>

#include "pdk/shapes.h"
#include "plugins/native.h"
#include "traffic/termination.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

class RequestTermination final : public NativeHandler {
 public:
  explicit RequestTermination(const json& config)
      : config_(config), answer_(traffic::termination_response(config)) {
    if (auto error = traffic::validate_termination(config)) throw std::invalid_argument(*error);
    if (auto t = config.find("trigger"); t != config.end() && t->is_string())
      trigger_ = t->get<std::string>();
    echo_ = config.value("echo", false);
  }

  boost::asio::awaitable<void> access(pdk::Kong& kong) override {
    if (trigger_ && !kong.request.get_header(*trigger_) && kong.request.get_query_arg(*trigger_).is_null())
      co_return;  // the trigger is set but absent: the request goes on
    if (echo_) {
      json doc = co_await echo(kong);
      kong.response.exit_json(answer_.status, doc);
      co_return;
    }
    pdk::HeaderList headers;
    if (answer_.content_type) headers.emplace_back("Content-Type", *answer_.content_type);
    kong.response.exit(answer_.status, answer_.body, headers);
  }

 private:
  // Kong's echo document: the message, the node, the request as received, the matched entities.
  boost::asio::awaitable<json> echo(pdk::Kong& kong) const {
    json message = nullptr;
    if (auto m = config_.find("message"); m != config_.end() && m->is_string()) {
      message = *m;
    } else if (auto d = traffic::termination_default_message(answer_.status)) {
      message = std::string(*d);
    }
    auto raw_body = co_await kong.request.get_raw_body();
    json request = {{"scheme", kong.request.get_scheme()},
                    {"host", kong.request.get_host()},
                    {"port", kong.request.get_port()},
                    {"headers", pdk::headers_multimap(kong.request.get_headers(), 100)},
                    {"query", kong.request.get_query()},
                    {"raw_body", raw_body ? json(std::string(*raw_body)) : json()},
                    {"method", kong.request.get_method()},
                    {"path", kong.request.get_path()}};
    if (kong.context().match) {
      json captures = json::object();
      for (const auto& [name, value] : kong.context().match->captures_named) captures[name] = value;
      request["uri_captures"] = captures;
    }
    char hostname[256] = {};
    gethostname(hostname, sizeof hostname - 1);
    co_return json{{"message", message},
                   {"kong", {{"worker_pid", getpid()}, {"hostname", hostname}}},
                   {"request", request},
                   {"matched_route", kong.route() ? pdk::route_entity(*kong.route()) : json()},
                   {"matched_service", kong.service() ? pdk::service_entity(*kong.service()) : json()}};
  }

  json config_;
  traffic::Termination answer_;
  std::optional<std::string> trigger_;
  bool echo_ = false;
};

NativePluginSpec spec() {
  return {
      "request-termination",
      "3.9.0",
      2,
      core::bit(core::Phase::access),
      {{"name", "request-termination"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"status_code",
                {{"type", "integer"}, {"required", true}, {"default", 503}, {"between", {100, 599}}}}},
              {{"message", {{"type", "string"}}}},
              {{"content_type", {{"type", "string"}}}},
              {{"body", {{"type", "string"}}}},
              {{"echo", {{"type", "boolean"}, {"required", true}, {"default", false}}}},
              {{"trigger", {{"type", "string"}}}}}}}}}}}},
      [](const json& config, SharedMemory&) { return std::make_unique<RequestTermination>(config); },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
