// kong.conf-style properties: `key = value` lines, `#` comments, KONG_<KEY> environment
// overrides, built-in defaults for every key gatehouse understands. See docs/configuration.md.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::conf {

// One entry of proxy_listen / admin_listen / stream_listen, e.g.
// "0.0.0.0:8443 http2 ssl reuseport backlog=16384" or "[::1]:8000".
struct ListenAddress {
  std::string host;  // IPv6 without brackets
  uint16_t port = 0;
  bool ssl = false;
  bool http2 = false;
  bool reuseport = false;
  int backlog = 511;
  bool proxy_protocol = false;
  std::string to_string() const;                       // the property syntax again (IPv6 in brackets)
  bool loopback() const;                               // 127.0.0.0/8, ::1 or "localhost"
  static ListenAddress parse(std::string_view entry);  // throws ConfigError (message without location)
};

// One warning per admin_listen address that other hosts can reach without TLS (the admin API
// has no authentication); empty when every address is loopback or `ssl`.
std::vector<std::string> admin_listen_warnings(const std::vector<ListenAddress>& admin_listen);

// An IPv4 or IPv6 network; a bare address is a /32 or /128 network.
struct Cidr {
  boost::asio::ip::address network;
  unsigned prefix_length = 0;
  bool contains(const boost::asio::ip::address& address) const;
  static Cidr parse(std::string_view text);  // throws ConfigError (message without location)
};

// The TLS settings of `proxy_listen ... ssl` (docs/tls.md), from Kong's ssl_* properties.
struct TlsSettings {
  // The default certificate(s): the PEM text of each ssl_cert / ssl_cert_key pair (files are
  // read and checked at load). Several pairs, e.g. RSA and ECDSA, as Kong allows. Empty: a
  // self-signed pair generated in the prefix is used.
  std::vector<std::string> certs;
  std::vector<std::string> keys;
  std::string cipher_suite = "intermediate";  // modern | intermediate | old | custom
  std::string ciphers;                        // OpenSSL TLS <= 1.2 list (from the suite, or ssl_ciphers)
  std::string min_version = "TLSv1.2";        // from ssl_protocols (and TLSv1.3 for "modern")
  std::string max_version = "TLSv1.3";
  bool prefer_server_ciphers = false;
  bool session_tickets = true;
  long session_timeout_seconds = 86400;  // ssl_session_timeout (1d)
};

// A listener's client connection timeouts, in seconds: nginx's defaults, or Kong's injected
// directives. Admin: nginx_admin_client_header_timeout, nginx_admin_keepalive_timeout,
// nginx_admin_client_body_timeout, nginx_admin_send_timeout. Proxy: the same names under
// nginx_http_ (the whole http block) or nginx_proxy_ (the proxy server, which wins).
struct ClientTimeouts {
  long client_header = 60;
  long keepalive = 60;
  long client_body = 60;
  long send = 60;
};
using AdminTimeouts = ClientTimeouts;

// Client certificates on `admin_listen ... ssl` (mutual TLS), with Kong's injected nginx directives
// nginx_admin_ssl_verify_client (off | on | optional) and nginx_admin_ssl_client_certificate (the
// CA, a path or PEM). `on`: a request without a certificate the CA signed is answered 400.
struct AdminClientVerify {
  enum class Mode { off, on, optional };
  Mode mode = Mode::off;
  std::string ca_pem;
};

struct Properties {
  std::map<std::string, std::string>
      values;               // every key (lower-case) → final raw string (defaults < file < env)
  std::string source_file;  // "" when no file was given
  std::optional<std::string> get(std::string_view key) const;

  // Typed views, filled by load_properties.
  std::string prefix;  // absolute; default $HOME/.gatehouse (root: /usr/local/gatehouse)
  std::vector<ListenAddress> proxy_listen;
  std::vector<ListenAddress> admin_listen;
  // admin_ssl_cert / admin_ssl_cert_key: the PEM texts of the admin listener's certificate(s)
  // for `admin_listen ... ssl` (empty: a self-signed pair generated in the prefix, as Kong).
  // The protocols and ciphers are the ssl_* ones (`ssl`), as in Kong.
  std::vector<std::string> admin_ssl_certs;
  std::vector<std::string> admin_ssl_keys;
  AdminTimeouts admin_timeouts;
  ClientTimeouts proxy_timeouts;  // used by HTTP/2 connections (docs/http2.md)
  AdminClientVerify admin_client_verify;
  std::vector<ListenAddress> stream_listen;
  std::vector<ListenAddress> status_listen;  // /status and /status/ready only (Kong's status API)
  std::string declarative_config;            // absolute path or ""
  // Kong's declarative_config_string: the kong.yml itself (YAML or JSON); wins over declarative_config.
  std::string declarative_config_string;
  bool daemon = false;  // nginx_daemon: `gatehouse start` returns once the gateway serves
  std::vector<std::string> plugins;
  std::string log_level = "notice";
  // Resolved paths, or "off" / "stderr" / "stdout" (/dev/stderr and /dev/stdout are mapped).
  std::string proxy_access_log, proxy_error_log, admin_access_log, admin_error_log;
  // Stream connections' access log (Kong's `basic` stream format; docs/stream.md): path, or "off".
  std::string proxy_stream_access_log;
  std::string access_log_format =
      "combined";          // gatehouse extension: proxy_access_log_format = combined | json
  int worker_threads = 1;  // nginx_worker_processes; auto = hardware threads
  std::string real_ip_header = "X-Real-IP";
  bool real_ip_recursive = false;
  std::vector<Cidr> trusted_ips;
  size_t client_max_body_size = 0;  // bytes, 0 = unlimited
  size_t client_body_buffer_size = 8 * 1024;
  // gatehouse extension: the largest upstream response body buffered for `response`-phase
  // plugins (0 = unlimited, as Kong); a larger one is answered 502 (docs/configuration.md).
  size_t buffered_response_max_size = 64 * 1024 * 1024;
  std::vector<std::string> headers;  // lower-cased; empty when "off"
  int upstream_keepalive_pool_size = 512;
  int upstream_keepalive_max_requests = 10000;
  int upstream_keepalive_idle_timeout = 60;  // seconds
  TlsSettings ssl;
};

// Reads `path` ("" = defaults only), then applies KONG_* entries of `env`
// (KONG_PROXY_LISTEN → proxy_listen). Unknown file keys are warned about and kept.
// Throws ConfigError naming the file, the line and the key.
Properties load_properties(const std::string& path, const std::map<std::string, std::string>& env);

// The same for `text`, the content of a kong.conf at `path`, without reading the file: errors name
// `path`, and relative paths in it resolve against path's directory, as for the file.
Properties parse_properties(std::string_view text, const std::string& path,
                            const std::map<std::string, std::string>& env);

// The process environment (environ) as a map.
std::map<std::string, std::string> current_environment();

// Parses a boolean the way Kong does: on/off, true/false, yes/no, 1/0 (case-insensitive).
std::optional<bool> parse_bool(std::string_view text);

// Parses an nginx time in seconds: "3600", "3600s", "10m", "12h", "1d". Throws ConfigError
// "<where>: expected a duration ...".
long parse_seconds(std::string_view text, const std::string& where);

// Parses an nginx size: "0", "512", "8k", "10m", "1g" (case-insensitive) → bytes.
std::optional<size_t> parse_size(std::string_view text);

}  // namespace gh::conf
