// The test kit: run a plugin's handlers in a unit test against a simulated gateway, then assert on
// what it did to the response, the upstream request and the logs. No gateway, no socket: PDK calls
// are still encoded and decoded exactly as on the wire, then served from the state below.
//
//   gatehouse::pdk::testing::Gateway gw;
//   gw.request.headers["host"] = {"example.com"};
//   MyPlugin plugin(gatehouse::pdk::testing::config<MyConfig>({{"message", "hi"}}));
//   gw.run_request(plugin);
//   EXPECT_EQ(gw.response.header("x-hello"), "...");
//
// Link with gatehouse::pdk_testkit.
#pragma once

#include <gatehouse/pdk/kong.h>
#include <gatehouse/pdk/schema.h>
#include <gatehouse/pdk/server.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::pdk::testing {

struct LogEntry {
  std::string level;    // "alert", "crit", "err", "warn", "notice", "info", "debug"
  std::string message;  // the arguments concatenated, as Kong writes them
};

// A header/query multimap with case-insensitive lookups (names are stored lower-case).
struct HeaderMap : Headers {
  using Headers::Headers;
  // The first value of `name`, or "" when absent.
  std::string header(std::string_view name) const;
  bool has(std::string_view name) const;
};

class Gateway final : public detail::Channel {
 public:
  Gateway();
  ~Gateway() override;

  // ---- the state a plugin reads ---------------------------------------------------------------
  struct Request {  // the client's request (kong.request.*)
    std::string scheme = "http";
    std::string host = "localhost";
    int port = 8000;
    std::string method = "GET";
    std::string path = "/";
    std::string raw_query;  // without '?'; kong.request.get_query parses it
    HeaderMap headers;      // lower-case names
    std::string body;
    std::optional<std::string> body_error;  // makes kong.request.get_raw_body fail
    double http_version = 1.1;
    std::string forwarded_scheme, forwarded_host;  // default to scheme/host
    int forwarded_port = 0;                        // default to port
    UriCaptures uri_captures;
  } request;

  struct Client {  // kong.client.*, kong.ip.is_trusted
    std::string ip = "127.0.0.1";
    std::string forwarded_ip;  // defaults to ip
    int port = 40000;
    int forwarded_port = 0;  // defaults to port
    std::string protocol = "http";
    std::vector<std::string> trusted_ips;
  } client;

  std::vector<Consumer> consumers;  // what kong.client.load_consumer finds (by id or username)
  std::optional<Route> route;
  std::optional<Service> service;
  std::vector<std::string> upstreams;  // names kong.service.set_upstream accepts
  std::map<std::string, std::string> nginx_vars;
  std::string node_id = "00000000-0000-4000-8000-000000000001";
  MemoryStats memory_stats;
  std::string subsystem = "http";
  std::string tls1_version;
  double start_time = 1700000000.0;
  std::string serialized_log = "{}";  // kong.log.serialize (set_serialize_value adds keys to it)

  // ---- the state a plugin writes (and can read back) -----------------------------------------
  struct Upstream {  // the request sent to the service (kong.service.request.*); starts as the request
    std::string scheme, host, method, path, raw_query, upstream_name;
    int port = 0;
    HeaderMap headers;
    std::string body;
  } upstream;

  struct ServiceResponse {  // what the service answered (kong.service.response.*)
    int status = 200;
    HeaderMap headers;
    std::string body;
  } service_response;

  struct Response {  // the response to the client (kong.response.*)
    int status = 200;
    HeaderMap headers;
    std::string body;
    std::string source = "service";  // "exit" after kong.response.exit
    bool exited = false;
    std::string header(std::string_view name) const { return headers.header(name); }
  } response;

  std::optional<Consumer> consumer;  // set by kong.client.authenticate
  std::optional<Credential> credential;
  std::map<std::string, Value> ctx_shared;
  std::map<std::string, Value> nginx_ctx;
  std::vector<LogEntry> logs;
  std::vector<std::string> calls;   // every PDK method called, in order
  std::vector<std::string> writes;  // those Kong& made as writes (batched under Gatehouse:1)

  // ---- running a plugin ------------------------------------------------------------------------
  Kong& kong() { return kong_; }

  // One phase, if the plugin defines it (returns false otherwise). Handler exceptions propagate.
  template <class Plugin>
  bool run(Plugin& plugin, std::string_view phase) {
    begin_phase(phase);
    return run_phase(plugin, phase, kong_);
  }

  // A whole request the way the gateway runs it: rewrite, access; then, unless a handler called
  // kong.response.exit, the service answers (service_response) and response runs; log always.
  template <class Plugin>
  void run_request(Plugin& plugin) {
    for (std::string_view phase : {"rewrite", "access"})
      if (!response.exited) run(plugin, phase);
    if (!response.exited) {
      proxy();
      run(plugin, "response");
    }
    run(plugin, "log");
  }

  // The log lines of one level, in order.
  std::vector<std::string> log_messages(std::string_view level) const;

  // detail::Channel
  std::string_view call(std::string_view method, std::string_view args) override;
  void write(std::string_view method, std::string_view args) override;
  void exit(std::string_view method, std::string_view args) override;

 private:
  void begin_phase(std::string_view phase);
  void proxy();  // copies the service's response into the client response

  Kong kong_;
  std::string reply_;
  bool upstream_prepared_ = false;
  bool exit_in_phase_ = false;
};

// Decodes a config the way the embedded server does (with the fields' defaults and checks).
template <Record Config>
Config config(const Value& json = Value::object()) {
  return decode_config<Config>(json);
}

}  // namespace gatehouse::pdk::testing
