#include "proxy/snapshot.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <random>

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

const std::string& process_node_id() {
  static const std::string id = [] {
    std::random_device rd;
    std::array<uint8_t, 16> b{};
    for (auto& x : b) x = static_cast<uint8_t>(rd());
    b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    return fmt::format(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:"
        "02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  }();
  return id;
}

std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties, const SnapshotLineage& lineage) {
  auto source = conf::declarative_source(properties);
  return build_snapshot(std::move(properties), source, lineage);
}

std::shared_ptr<const Snapshot> build_snapshot(conf::Properties properties,
                                               const conf::DeclarativeSource& source,
                                               const SnapshotLineage& lineage) {
  auto snapshot = std::make_shared<Snapshot>();
  if (!source.name.empty()) snapshot->config = conf::parse_declarative(source.text, source.name);
  snapshot->config_hash = config_hash(source);
  snapshot->plugins = plugins::load_plugins(properties, snapshot->config, lineage.seqs, lineage.memory);
  snapshot->node_id = properties.get("node_id").value_or("");
  if (snapshot->node_id.empty()) snapshot->node_id = process_node_id();
  snapshot->properties = std::move(properties);
  snapshot->router = std::make_unique<router::Router>(snapshot->config);
  snapshot->generation = lineage.generation;
  const auto& headers = snapshot->properties.headers;
  snapshot->server_tokens = has_header_token(headers, "server_tokens") || has_header_token(headers, "via");
  snapshot->latency_tokens = has_header_token(headers, "latency_tokens");
  snapshot->response_latency =
      snapshot->latency_tokens || has_header_token(headers, "x-kong-response-latency");
  snapshot->request_id_header = has_header_token(headers, "x-kong-request-id");
  return snapshot;
}

}  // namespace gh::proxy
