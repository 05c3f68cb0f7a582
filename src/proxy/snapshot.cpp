#include "proxy/snapshot.h"

#include <openssl/evp.h>

#include <algorithm>

#include "conf/declarative.h"
#include "plugins/runtime.h"

namespace gh::proxy {

namespace {

bool has_header_token(const std::vector<std::string>& headers, std::string_view token) {
  return std::find(headers.begin(), headers.end(), token) != headers.end();
}

}  // namespace

std::string config_hash(const conf::DeclarativeSource& source) {
  if (source.name.empty()) return std::string(32, '0');
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(source.text.data(), source.text.size(), digest, &length, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties, uint64_t generation) {
  auto source = conf::declarative_source(properties);
  return build_snapshot(std::move(properties), source, generation);
}

std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties,
                                               const conf::DeclarativeSource& source, uint64_t generation) {
  auto snapshot = std::make_shared<Snapshot>();
  if (!source.name.empty()) snapshot->config = conf::parse_declarative(source.text, source.name);
  snapshot->config_hash = config_hash(source);
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
