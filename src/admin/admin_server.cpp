#include "admin/admin_server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <limits>

#include "common/log.h"
#include "common/strings.h"
#include "common/version.h"
#include "conf/error.h"
#include "http/kong_responses.h"
#include "http/parser.h"
#include "net/buffer.h"
#include "net/listener.h"
#include "tls/client_certificate.h"
#include "tls/handshake.h"
#include "tls/self_signed.h"

namespace gh::admin {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// nginx's answers under ssl_verify_client: "" when the connection may use the API.
std::string client_refusal(const conf::AdminClientVerify& verify, SSL* ssl) {
  if (verify.mode == conf::AdminClientVerify::Mode::off) return "";
  auto presented = tls::client_certificate(ssl);
  if (!presented)
    return verify.mode == conf::AdminClientVerify::Mode::on ? "No required SSL certificate was sent" : "";
  if (presented->verify != "SUCCESS") {
    spdlog::info("admin client certificate refused ({}): {}", presented->subject, presented->verify);
    return "The SSL certificate error";
  }
  return "";
}
constexpr std::chrono::seconds kHandshakeTimeout{60};  // as the proxy listeners
constexpr std::chrono::seconds kLingeringTime{2};
constexpr size_t kLingeringBytes = 1 << 20;

}  // namespace

AdminServer::AdminServer(proxy::Gateway& gateway, asio::io_context& io)
    : gateway_(gateway), io_(io), api_(gateway) {
  const auto& props = gateway_.snapshot()->properties;
  if (auto size = props.get("nginx_admin_client_max_body_size")) {
    auto parsed = conf::parse_size(*size);
    if (!parsed)
      throw conf::ConfigError("nginx_admin_client_max_body_size: invalid size '" + *size +
                              "' (expected e.g. 10m)");
    max_body_ = *parsed == 0 ? std::numeric_limits<size_t>::max() : *parsed;
  }
}

void AdminServer::listen(const std::vector<conf::ListenAddress>& addresses) {
  for (const auto& warning : conf::admin_listen_warnings(addresses)) spdlog::warn("{}", warning);
  bind(addresses, false);
}

void AdminServer::listen_status(const std::vector<conf::ListenAddress>& addresses) {
  bind(addresses, true);
}

void AdminServer::bind(const std::vector<conf::ListenAddress>& addresses, bool status_only) {
  for (const auto& address : addresses) {
    if (address.ssl) server_tls();  // a bad certificate stops the start, not the first client
    net::ListenOptions options{address.host, address.port, address.backlog, false};
    listeners_.push_back({std::make_unique<tcp::acceptor>(net::open_listener(io_.get_executor(), options)),
                          address.ssl, status_only});
  }
}

// Kong's admin server block: admin_ssl_cert (else a generated admin-only pair), the ssl_*
// protocols and ciphers, no kong.yml certificates and no certificate phase.
std::shared_ptr<const tls::ServerTls> AdminServer::server_tls() {
  if (tls_) return tls_;
  const auto& properties = gateway_.snapshot()->properties;
  std::vector<tls::PemPair> pairs;
  for (size_t i = 0; i < properties.admin_ssl_certs.size(); ++i)
    pairs.push_back({properties.admin_ssl_certs[i], properties.admin_ssl_keys[i]});
  if (pairs.empty()) pairs = tls::default_certificates(properties.prefix, "admin-gatehouse-default");
  tls_ = std::make_shared<const tls::ServerTls>(properties.ssl, std::vector<conf::Certificate>{}, pairs,
                                                nullptr);
  return tls_;
}

void AdminServer::start() {
  for (auto& listener : listeners_) asio::co_spawn(io_, accept_loop(listener), asio::detached);
}

void AdminServer::stop() {
  asio::post(io_, [this] {
    for (auto& listener : listeners_) {
      boost::system::error_code ec;
      listener.acceptor->close(ec);
    }
  });
}

asio::awaitable<void> AdminServer::accept_loop(Listener& listener) {
  auto& acceptor = *listener.acceptor;
  net::AcceptFailures failures(io_.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      co_await failures.handle(ec, "the admin listener");  // pauses when out of descriptors
      continue;
    }
    if (listener.tls)
      asio::co_spawn(io_, serve_tls(std::move(socket), listener.status_only), asio::detached);
    else
      asio::co_spawn(io_, serve(net::ByteStream(std::move(socket)), listener.status_only), asio::detached);
  }
}

asio::awaitable<void> AdminServer::serve_tls(tcp::socket socket, bool status_only) {
  auto stream = tls::ServerTls::stream(std::move(socket), server_tls());
  const auto verify =
      status_only ? conf::AdminClientVerify{} : gateway_.snapshot()->properties.admin_client_verify;
  if (verify.mode != conf::AdminClientVerify::Mode::off)
    tls::request_client_certificate(stream.tls_stream()->native_handle(), verify.ca_pem);  // checked at load
  tls::HandshakeState state;
  net::Deadline deadline(io_.get_executor());
  auto ec = co_await tls::accept_handshake(stream, state, deadline, kHandshakeTimeout);
  deadline.stop();
  if (ec) {
    spdlog::debug("admin TLS handshake failed: {}", deadline.expired() ? "timed out" : ec.message());
    co_return;
  }
  std::string refused = client_refusal(verify, stream.tls_stream()->native_handle());
  co_await serve(std::move(stream), status_only, std::move(refused));
}

ApiRequest AdminServer::api_request(http::RequestHead& head, std::string body) const {
  ApiRequest request;
  request.method = head.method;
  request.path = percent_decode(head.path());
  if (request.path.size() > 1 && request.path.back() == '/') request.path.pop_back();  // as Kong
  request.query = parse_query(head.query());
  request.content_type = to_lower(head.headers.get("content-type").value_or(""));
  request.body = std::move(body);
  return request;
}

// The proxy's connection rules apply here too: the parser's head limits (431/414/400), the
// client_header / client_body / keepalive / send timeouts (nginx_admin_* in kong.conf), and a
// bounded request body.
asio::awaitable<void> AdminServer::serve(net::ByteStream stream, bool status_only,
                                         std::string client_refused) {
  const conf::AdminTimeouts timeouts = gateway_.snapshot()->properties.admin_timeouts;
  http::Parser parser(http::Parser::Kind::request);
  net::Buffer in;
  net::Deadline deadline(io_.get_executor());
  bool first = true;
  while (true) {
    parser.reset();
    deadline.arm(std::chrono::seconds(first ? timeouts.client_header : timeouts.keepalive), stream);
    first = false;
    std::string body;
    auto read = co_await read_request(stream, parser, in, deadline, body);
    if (read == Read::gone) break;
    auto& req = parser.request();
    ApiResponse response;
    bool keep_alive = read == Read::complete && req.keep_alive;
    if (read == Read::complete && !client_refused.empty()) {
      response = {400, {{"message", client_refused}}};
      keep_alive = false;
    } else if (read == Read::complete) {
      auto request = api_request(req, std::move(body));
      response = status_only ? api_.handle_status(request) : api_.handle(request);
    } else {
      response = refusal(read, parser);
    }
    // Never throws: a string that is not UTF-8 (kong.yml is checked, a header is not) is replaced.
    const bool json_body = response.content_type.empty() && !response.body.is_null();
    std::string text = !response.content_type.empty() ? std::move(response.text)
                       : json_body
                           ? response.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                           : std::string();
    const std::string content_type = !response.content_type.empty() ? response.content_type
                                     : json_body                    ? "application/json; charset=utf-8"
                                                                    : "";
    std::string head_text = fmt::format("HTTP/1.1 {} {}\r\n{}{}{}Content-Length: {}\r\nServer: {}\r\n{}\r\n",
                                        response.status, http::reason_phrase(response.status),
                                        content_type.empty() ? "" : "Content-Type: ", content_type,
                                        content_type.empty() ? "" : "\r\n", text.size(), kServerToken,
                                        keep_alive ? "" : "Connection: close\r\n");
    if (response.status == 304 || response.status == 204)  // no body, so no Content-Length either
      head_text = fmt::format("HTTP/1.1 {} {}\r\nServer: {}\r\n{}\r\n", response.status,
                              http::reason_phrase(response.status), kServerToken,
                              keep_alive ? "" : "Connection: close\r\n");
    const bool send_body = read != Read::complete || req.method != "HEAD";
    std::array<asio::const_buffer, 2> out{
        asio::buffer(head_text), asio::buffer(send_body ? std::string_view(text) : std::string_view())};
    deadline.arm(std::chrono::seconds(timeouts.send), stream);
    auto [ec, n] = co_await stream.write(out);
    deadline.disarm();
    if (ec) break;
    if (!keep_alive) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_await linger(stream, deadline);
      break;
    }
  }
  deadline.stop();
  boost::system::error_code ignored;
  stream.socket().close(ignored);
}

// nginx's lingering close: read and drop what the client still sends for a moment, so that
// closing with unread bytes (a body not read) does not reset the connection before the client
// has read the answer. Bounded in time and bytes.
asio::awaitable<void> AdminServer::linger(net::ByteStream& stream, net::Deadline& deadline) {
  deadline.arm(kLingeringTime, stream);
  std::array<char, 4096> sink;
  size_t total = 0;
  while (total < kLingeringBytes) {
    auto [ec, n] = co_await stream.read_some(asio::buffer(sink));
    if (ec) break;
    total += n;
  }
  deadline.disarm();
}

// Reads one request, head and body (at most max_body_ bytes, under the client_body timeout),
// under the deadline armed by the caller for the head.
asio::awaitable<AdminServer::Read> AdminServer::read_request(net::ByteStream& stream, http::Parser& parser,
                                                             net::Buffer& in, net::Deadline& deadline,
                                                             std::string& body) {
  const auto body_timeout = std::chrono::seconds(gateway_.snapshot()->properties.admin_timeouts.client_body);
  bool in_body = false;
  while (true) {
    // Feed even when nothing is buffered: a body-less request completes on an empty feed.
    size_t consumed = 0;
    auto status = parser.feed(in.readable(), consumed);
    for (auto piece : parser.body()) body.append(piece);
    in.consume(consumed);
    if (body.size() > max_body_) co_return Read::too_large;
    if (status == http::Parser::Status::error) co_return Read::malformed;
    if (status == http::Parser::Status::message_complete) break;
    if (status == http::Parser::Status::headers_complete) {
      const auto& head = parser.request();
      if (head.content_length && *head.content_length > max_body_) co_return Read::too_large;
      if (head.has_body() && !in_body) {
        in_body = true;
        deadline.arm(body_timeout, stream);
      }
      continue;
    }
    size_t available = 0;
    char* space = in.prepare(16384, available);
    auto [ec, n] = co_await stream.read_some(asio::buffer(space, available));
    if (ec) co_return parser.in_message() && deadline.expired() ? Read::timed_out : Read::gone;
    in.commit(n);
  }
  deadline.disarm();
  co_return Read::complete;
}

ApiResponse AdminServer::refusal(Read read, const http::Parser& parser) {
  if (read == Read::timed_out) return {408, {{"message", "Request timeout"}}};
  if (read == Read::too_large) return {413, {{"message", "Payload too large"}}};
  switch (parser.error()) {
    case http::ParseError::headers_too_large:
    case http::ParseError::too_many_headers:
      return {431, {{"message", "Request header fields too large"}}};
    case http::ParseError::target_too_long:
      return {414, {{"message", "URI too long"}}};
    default:
      return {400, {{"message", "Bad request"}}};
  }
}

}  // namespace gh::admin
