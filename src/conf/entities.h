// Typed entities of Kong's declarative configuration (kong.yml), after loading and
// validation. Everything downstream (router, proxy, plugin iterator) reads these; nothing
// downstream parses YAML. Field names follow Kong's schema so docs and errors line up.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/credentials.h"
#include "conf/properties.h"

namespace gh::conf {

struct Service {
  std::string id;                 // Kong-style UUID; generated deterministically from the name when absent
  std::string name;               // may be empty for anonymous services
  std::string protocol = "http";  // http | https | tcp | tls | grpc ...
  std::string host;               // a hostname, an IP, or the name of an Upstream entity
  uint16_t port = 80;
  std::string path;  // empty = no path prefix
  int retries = 5;
  int connect_timeout_ms = 60000;
  int write_timeout_ms = 60000;
  int read_timeout_ms = 60000;
  bool enabled = true;
  bool tls_verify = false;                      // protocol https: verify the upstream's certificate and name
  int tls_verify_depth = -1;                    // -1: OpenSSL's default
  std::string client_certificate_id;            // a `certificates` entity presented to the upstream
  std::vector<std::string> ca_certificate_ids;  // `ca_certificates` trusted instead of the system's
  std::vector<std::string> tags;
};

// One entry of a stream route's `sources` or `destinations`.
struct StreamEndpoint {
  std::optional<Cidr> ip;  // unset: any address
  uint16_t port = 0;       // 0: any port
};

struct Route {
  std::string id;
  std::string name;
  std::string service_id;  // empty: a route without a service (e.g. for plugins that always exit)
  std::vector<std::string> protocols{"http", "https"};
  std::vector<std::string> methods;  // upper-case
  std::vector<std::string> hosts;    // lower-case; may contain one leading or trailing '*'
  std::vector<std::string> paths;    // prefix paths, or regex paths starting with '~'
  std::map<std::string, std::vector<std::string>> headers;  // lower-case name → accepted values
  std::vector<std::string> snis;
  std::vector<StreamEndpoint> sources;       // stream routes (tcp, tls, tls_passthrough)
  std::vector<StreamEndpoint> destinations;  // the client's and the listener's address/port
  bool strip_path = true;
  bool preserve_host = false;
  int regex_priority = 0;
  std::string path_handling = "v0";  // v0 | v1
  int https_redirect_status_code = 426;
  bool request_buffering = true;
  bool response_buffering = true;
  std::vector<std::string> tags;
  uint64_t created_order = 0;  // position in the file, the last tie-breaker
};

struct Consumer {
  std::string id;
  std::string username;
  std::string custom_id;
  std::vector<std::string> tags;
};

// A plugin configuration entity. Scope ids are empty when not scoped.
struct Plugin {
  std::string id;
  std::string name;
  nlohmann::json config = nlohmann::json::object();
  bool enabled = true;
  std::string service_id;
  std::string route_id;
  std::string consumer_id;
  std::vector<std::string> protocols{"grpc", "grpcs", "http", "https"};
  std::vector<std::string> tags;
  bool is_global() const { return service_id.empty() && route_id.empty() && consumer_id.empty(); }
};

struct Target {
  std::string target;  // host:port (port defaults to 8000 in Kong)
  int weight = 100;
  std::vector<std::string> tags;
};

// Kong's `healthchecks.{active,passive}.healthy` and `.unhealthy` records (counts: 0 = off).
struct HealthyRule {
  double interval = 0;  // seconds between active probes of healthy targets (0: none)
  std::vector<int> http_statuses;
  int successes = 0;
  bool operator==(const HealthyRule&) const = default;
};
struct UnhealthyRule {
  double interval = 0;  // seconds between active probes of unhealthy targets (0: none)
  std::vector<int> http_statuses;
  int tcp_failures = 0;
  int timeouts = 0;
  int http_failures = 0;
  bool operator==(const UnhealthyRule&) const = default;
};
struct ActiveHealthcheck {
  std::string type = "http";  // tcp | http | https
  double timeout = 1;         // seconds
  int concurrency = 10;
  std::string http_path = "/";
  std::string https_sni;  // empty: the target's host
  bool https_verify_certificate = true;
  std::vector<std::pair<std::string, std::vector<std::string>>> headers;
  HealthyRule healthy{0, {200, 302}, 0};
  UnhealthyRule unhealthy{0, {429, 404, 500, 501, 502, 503, 504, 505}, 0, 0, 0};
  bool operator==(const ActiveHealthcheck&) const = default;
};
struct PassiveHealthcheck {
  std::string type = "http";
  HealthyRule healthy{
      0, {200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308}, 0};
  UnhealthyRule unhealthy{0, {429, 500, 503}, 0, 0, 0};
  bool operator==(const PassiveHealthcheck&) const = default;
};
struct Healthchecks {
  ActiveHealthcheck active;
  PassiveHealthcheck passive;
  double threshold = 0;  // % of the total weight that must be healthy, else the upstream is down
  bool operator==(const Healthchecks&) const = default;
};

// Where consistent hashing takes its key from (Kong's hash_on / hash_fallback).
struct HashSource {
  std::string kind = "none";  // none | consumer | ip | header | cookie | path | query_arg | uri_capture
  std::string name;           // the header, cookie, query argument or capture group
};

struct Upstream {
  std::string id;
  std::string name;                       // services reference an upstream by using its name as `host`
  std::string algorithm = "round-robin";  // round-robin | consistent-hashing | least-connections | latency
  HashSource hash_on;
  HashSource hash_fallback;
  std::string hash_on_cookie_path = "/";
  int slots = 10000;
  Healthchecks healthchecks;
  std::vector<Target> targets;
  std::vector<std::string> tags;
};

struct Certificate {
  std::string id;
  std::string cert;      // PEM
  std::string key;       // PEM
  std::string cert_alt;  // optional second pair (e.g. ECDSA next to RSA); OpenSSL picks per client
  std::string key_alt;
  std::vector<std::string> snis;  // lower-case; may hold one leading or trailing '*', or "*" alone
  std::vector<std::string> tags;
};

// A trusted CA for verifying upstreams (kong.yml `ca_certificates`).
struct CaCertificate {
  std::string id;
  std::string cert;  // PEM
  std::vector<std::string> tags;
};

// Everything from one kong.yml, cross-references resolved (route.service_id and plugin scope
// ids always point at existing entities).
struct Declarative {
  std::string format_version;
  std::vector<Service> services;
  std::vector<Route> routes;
  std::vector<Consumer> consumers;
  std::vector<Plugin> plugins;
  std::vector<Upstream> upstreams;
  std::vector<Certificate> certificates;
  std::vector<CaCertificate> ca_certificates;
  Credentials credentials;  // every consumer's, with their lookup indexes
  // Kong's created_at / updated_at: Kong stamps every entity as it loads a declarative
  // configuration (updated_at = load time; created_at = the kong.yml's value, else load time).
  double loaded_at = 0;                                // unix time of the load, milliseconds in the fraction
  std::unordered_map<std::string, double> created_at;  // entity id (targets: target_id) → kong.yml's value

  const Certificate* find_certificate(std::string_view id) const;
  const CaCertificate* find_ca_certificate(std::string_view id) const;
  const Service* find_service(std::string_view id) const;
  const Route* find_route(std::string_view id) const;
  const Upstream* find_upstream_by_name(std::string_view name) const;
  const Consumer* find_consumer(std::string_view id) const;
  const Consumer* find_consumer_by_username(std::string_view username) const;
  // Makes the consumer lookups above one hash lookup each (linear scans until then); the loader
  // calls it once every consumer is known. Adding consumers afterwards needs another call.
  void index_consumers();

 private:
  StringIndex consumer_by_id_, consumer_by_username_;
  bool indexed_ = false;
};

}  // namespace gh::conf
