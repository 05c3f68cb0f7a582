#include "proxy/snapshot.h"

#include <algorithm>

#include "conf/declarative.h"
#include "plugins/runtime.h"

namespace gh::proxy {

namespace {

bool has_header_token(const std::vector<std::string>& headers, std::string_view token) {
  return std::find(headers.begin(), headers.end(), token) != headers.end();
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties, uint64_t generation) {
  auto snapshot = std::make_shared<Snapshot>();
  if (!properties.declarative_config.empty())
    snapshot->config = conf::load_declarative(properties.declarative_config);
  snapshot->plugins = plugins::load_plugins(properties, snapshot->config);
  snapshot->properties = std::move(properties);
  snapshot->router = std::make_unique<router::Router>(snapshot->config);
  snapshot->generation = generation;
  const auto& headers = snapshot->properties.headers;
  snapshot->server_tokens = has_header_token(headers, "server_tokens") || has_header_token(headers, "via");
  snapshot->latency_tokens = has_header_token(headers, "latency_tokens");
  snapshot->response_latency =
      snapshot->latency_tokens || has_header_token(headers, "x-kong-response-latency");
  snapshot->request_id_header = has_header_token(headers, "x-kong-request-id");
  return snapshot;
}

}  // namespace gh::proxy
