// http-log (Kong's kong/plugins/http-log): sends Kong's log entries to `http_endpoint` with
// `method` (POST, PUT, PATCH), through Kong's queue (logsink::Queue with the `queue` record):
// with queue.max_batch_size 1 the body is the entry (one JSON object), otherwise a JSON array of
// the batch's entries (even a batch of one). Headers: Content-Type (`content_type`),
// Content-Length, Authorization: Basic from the endpoint's userinfo, then `headers` (which may not
// name Host, Content-Length nor Content-Type). A status below 300 is a delivery; anything else,
// or no answer within `timeout` ms, fails the batch and the queue retries it with backoff. The
// connection is kept alive `keepalive` ms. HTTPS is not verified, as Kong (ssl_verify = false).
#include <openssl/evp.h>

#include <boost/asio/this_coro.hpp>
#include <stdexcept>

#include "common/log.h"
#include "common/strings.h"
#include "http/parser.h"
#include "logsink/log_server.h"
#include "plugins/bundled/log_plugins.h"

namespace gh::plugins {
namespace {

using nlohmann::json;
namespace asio = boost::asio;

constexpr size_t kKeptResponseBody = 1024;  // of a refusal, for the error message

struct Endpoint {
  std::string scheme, userinfo, host, target;  // target: path[?query]
  uint16_t port = 0;
  std::string host_header;  // host[:port] (the port when not the scheme's)
};

// scheme://[userinfo@]host[:port][/path][?query]; throws std::invalid_argument.
Endpoint parse_endpoint(const std::string& url) {
  Endpoint e;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    throw std::invalid_argument("config.http_endpoint: missing scheme in url");
  e.scheme = to_lower(url.substr(0, scheme_end));
  if (e.scheme != "http" && e.scheme != "https")
    throw std::invalid_argument("config.http_endpoint: unsupported scheme '" + e.scheme +
                                "' (http or https)");
  std::string rest = url.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, authority_end);
  e.target = authority_end == std::string::npos ? "/" : rest.substr(authority_end);
  if (auto hash = e.target.find('#'); hash != std::string::npos) e.target.erase(hash);
  if (e.target.empty() || e.target[0] == '?') e.target.insert(0, "/");
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    e.userinfo = authority.substr(0, at);
    authority.erase(0, at + 1);
  }
  std::string port;
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]
    const auto close = authority.find(']');
    if (close == std::string::npos) throw std::invalid_argument("config.http_endpoint: invalid host in url");
    e.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    e.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (e.host.empty()) throw std::invalid_argument("config.http_endpoint: missing host in url");
  const uint16_t default_port = e.scheme == "https" ? 443 : 80;
  e.port = default_port;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) > 65535)
      throw std::invalid_argument("config.http_endpoint: invalid port in url");
    e.port = static_cast<uint16_t>(std::stoi(port));
  }
  const std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
  e.host_header = e.port == default_port ? host : host + ":" + std::to_string(e.port);
  for (char c : e.host_header + e.target)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      throw std::invalid_argument("config.http_endpoint: invalid character in url");
  return e;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Everything a delivery needs, made once from the config; used on the log shipping thread.
struct HttpLogTarget {
  Endpoint endpoint;
  std::string method;
  std::string head_fields;  // the header lines after Content-Length
  bool single_entry_body = true;
  std::unique_ptr<logsink::LogServer> server;

  std::string body(const logsink::Batch& batch) const {
    if (single_entry_body) return batch.front();
    std::string array = "[";
    for (const auto& entry : batch) {
      if (array.size() > 1) array += ',';
      array += entry;
    }
    return array + "]";
  }

  std::string where() const { return endpoint.host + ":" + std::to_string(endpoint.port); }
};

struct Exchange {
  static Exchange failed(std::string why) {
    Exchange e;
    e.error = std::move(why);
    return e;
  }
  std::string error;      // no answer: why
  bool answered = false;  // a byte of the response came
  int status = 0;
  std::string body;  // the first kKeptResponseBody bytes
};

// Reads one response under `deadline` (armed by the caller for the whole response).
asio::awaitable<Exchange> read_response(net::UpstreamConnection& connection, net::Deadline& deadline,
                                        bool& reusable) {
  Exchange out;
  http::Parser parser(http::Parser::Kind::response);
  char buffer[16384];
  for (;;) {
    auto [ec, n] = co_await connection.stream.read_some(asio::buffer(buffer));
    if (n == 0 && ec) {
      if (ec == asio::error::eof && parser.in_message() &&
          parser.finish() == http::Parser::Status::message_complete) {
        out.status = parser.response().status;
        co_return out;  // a body delimited by the close
      }
      out.error = logsink::describe(ec, deadline);
      co_return out;
    }
    out.answered = true;
    std::string_view data(buffer, n);
    while (!data.empty()) {
      size_t consumed = 0;
      const auto status = parser.feed(data, consumed);
      data.remove_prefix(consumed);
      for (auto piece : parser.body())
        out.body.append(piece.substr(0, kKeptResponseBody - std::min(out.body.size(), kKeptResponseBody)));
      if (status == http::Parser::Status::error) {
        out.error = "invalid response: " + parser.error_reason();
        co_return out;
      }
      if (status == http::Parser::Status::message_complete) {
        if (parser.response().status < 200) {  // 100 Continue and the like: the answer follows
          parser.reset();
          continue;
        }
        out.status = parser.response().status;
        reusable = parser.response().keep_alive && data.empty();
        co_return out;
      }
      if (status == http::Parser::Status::need_more) break;
    }
  }
}

// One attempt on one connection; `fresh` says whether it was just opened.
asio::awaitable<Exchange> exchange(HttpLogTarget& target, const std::string& request, bool& fresh) {
  const auto& address = target.server->address();
  net::Deadline deadline(co_await asio::this_coro::executor);
  auto opened = co_await target.server->open(deadline);
  fresh = opened.fresh;
  if (!opened.connection) co_return Exchange::failed(opened.error);
  auto& connection = *opened.connection;
  deadline.arm(address.timeout, connection.stream);
  auto [ec, written] = co_await connection.stream.write(asio::buffer(request));
  if (ec) co_return Exchange::failed(logsink::describe(ec, deadline));
  deadline.arm(address.timeout, connection.stream);
  bool reusable = false;
  Exchange result = co_await read_response(connection, deadline, reusable);
  deadline.stop();
  if (result.error.empty() && reusable) target.server->keep(std::move(opened.connection));
  co_return result;
}

asio::awaitable<std::string> send(HttpLogTarget& target, const logsink::Batch& batch) {
  const std::string body = target.body(batch);
  std::string request =
      target.method + " " + target.endpoint.target + " HTTP/1.1\r\nHost: " + target.endpoint.host_header +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + target.head_fields + "\r\n" + body;
  bool fresh = true;
  Exchange result = co_await exchange(target, request, fresh);
  // A kept connection the server closed meanwhile: once more on a new one (nothing was answered).
  if (!result.error.empty() && !result.answered && !fresh) result = co_await exchange(target, request, fresh);
  if (!result.error.empty()) co_return "failed request to " + target.where() + ": " + result.error;
  if (result.status >= 300)
    co_return "request to " + target.where() + " returned status code " + std::to_string(result.status) +
        " and body " + result.body;
  co_return "";
}

// Kong's http-log schema checks that its schema language says with custom validators.
void check_headers(const json& config, const Endpoint& endpoint) {
  auto headers = config.find("headers");
  if (headers == config.end() || !headers->is_object()) return;
  for (const auto& [name, value] : headers->items()) {
    const std::string lower = to_lower(name);
    for (const char* reserved : {"host", "content-length", "content-type"})
      if (lower == reserved)
        throw std::invalid_argument(std::string("config.headers: cannot contain '") +
                                    (lower == "host"             ? "Host"
                                     : lower == "content-length" ? "Content-Length"
                                                                 : "Content-Type") +
                                    "' header");
    if (lower == "authorization" && !endpoint.userinfo.empty())
      throw std::invalid_argument(
          "config: specifying both an 'Authorization' header and user info in 'http_endpoint' is not "
          "allowed");
    if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos)
      throw std::invalid_argument("config.headers: bad header name '" + name + "'");
    const auto& text = value.get_ref<const std::string&>();
    if (text.find_first_of("\r\n") != std::string::npos)
      throw std::invalid_argument("config.headers." + name + ": invalid header value");
  }
}

// Kong's Queue.get_plugin_params: the 2.x parameters still count, with a deprecation warning.
logsink::QueueOptions queue_options(const json& config) {
  auto options = logsink::QueueOptions::from_json(config.value("queue", json::object()));
  auto legacy = [&](const char* name) {
    auto it = config.find(name);
    return it != config.end() && it->is_number() ? std::optional<double>(it->get<double>()) : std::nullopt;
  };
  if (legacy("retry_count"))
    spdlog::warn(
        "[http-log] the retry_count parameter no longer works, please update your configuration to use "
        "initial_retry_delay and max_retry_time instead");
  if (auto size = legacy("queue_size")) {
    spdlog::warn(
        "[http-log] the queue_size parameter is deprecated, please update your configuration to use "
        "queue.max_batch_size instead");
    if (*size != 1) options.max_batch_size = static_cast<size_t>(std::max(1.0, *size));
  }
  if (auto delay = legacy("flush_timeout")) {
    spdlog::warn(
        "[http-log] the flush_timeout parameter is deprecated, please update your configuration to use "
        "queue.max_coalescing_delay instead");
    if (*delay != 2) options.max_coalescing_delay = *delay;
  }
  return options;
}

std::unique_ptr<NativeHandler> make(const json& config, SharedMemory& memory) {
  bundled::refuse_custom_fields_by_lua(config);
  auto target = std::make_shared<HttpLogTarget>();
  target->endpoint = parse_endpoint(config.at("http_endpoint").get<std::string>());
  check_headers(config, target->endpoint);
  target->method = config.value("method", std::string("POST"));
  auto& fields = target->head_fields;
  fields = "Content-Type: " + config.value("content_type", std::string("application/json")) + "\r\n";
  if (!target->endpoint.userinfo.empty())
    fields += "Authorization: Basic " + base64(target->endpoint.userinfo) + "\r\n";
  if (auto headers = config.find("headers"); headers != config.end() && headers->is_object())
    for (const auto& [name, value] : headers->items())
      fields += name + ": " + value.get<std::string>() + "\r\n";
  const auto options = queue_options(config);
  target->single_entry_body = options.max_batch_size == 1;
  logsink::ServerAddress address;
  address.host = target->endpoint.host;
  address.port = target->endpoint.port;
  address.tls = target->endpoint.scheme == "https";
  address.sni = address.tls ? target->endpoint.host : "";
  address.timeout = bundled::milliseconds_of(config, "timeout", 10000);
  address.keepalive = bundled::milliseconds_of(config, "keepalive", 60000);
  target->server = std::make_unique<logsink::LogServer>(address);
  // Named without the userinfo: queue names appear in the error log.
  const std::string name =
      target->endpoint.scheme + "://" + target->endpoint.host_header + target->endpoint.target;
  auto sender = [target](const logsink::Batch& batch) { return send(*target, batch); };
  return std::make_unique<bundled::QueuedLogHandler>(
      memory.log_sinks.queue("http-log", name, config.dump(), options, sender));
}

json headers_field() {
  return {{"headers", {{"type", "map"}, {"keys", {{"type", "string"}}}, {"values", {{"type", "string"}}}}}};
}

NativePluginSpec spec() {
  return {
      "http-log",
      "3.9.0",
      12,
      core::bit(core::Phase::log),
      {{"name", "http-log"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"http_endpoint", {{"type", "string"}, {"required", true}}}},
              {{"method", {{"type", "string"}, {"default", "POST"}, {"one_of", {"POST", "PUT", "PATCH"}}}}},
              {{"content_type",
                {{"type", "string"},
                 {"default", "application/json"},
                 {"one_of", {"application/json", "application/json; charset=utf-8"}}}}},
              bundled::number_field("timeout", 10000),
              bundled::number_field("keepalive", 60000),
              {{"retry_count", {{"type", "integer"}}}},
              {{"queue_size", {{"type", "integer"}}}},
              {{"flush_timeout", {{"type", "number"}}}},
              headers_field(),
              logsink::queue_schema_field(),
              bundled::lua_code_field()}}}}}}}},
      make,
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
