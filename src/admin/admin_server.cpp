#include "admin/admin_server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "common/log.h"
#include "common/version.h"
#include "http/kong_responses.h"
#include "http/parser.h"
#include "net/buffer.h"
#include "net/listener.h"
#include "tls/handshake.h"
#include "tls/self_signed.h"

namespace gh::admin {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kHandshakeTimeout{60};  // as the proxy listeners
constexpr std::chrono::seconds kLingeringTime{2};
constexpr size_t kLingeringBytes = 1 << 20;

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

template <typename T, typename F>
nlohmann::json list_of(const std::vector<T>& items, F&& render) {
  nlohmann::json data = nlohmann::json::array();
  for (const auto& item : items) data.push_back(render(item));
  return {{"data", data}, {"next", nullptr}};
}

}  // namespace

AdminServer::AdminServer(proxy::Gateway& gateway, asio::io_context& io) : gateway_(gateway), io_(io) {}

void AdminServer::listen(const std::vector<conf::ListenAddress>& addresses) {
  for (const auto& warning : conf::admin_listen_warnings(addresses)) spdlog::warn("{}", warning);
  for (const auto& address : addresses) {
    if (address.ssl) server_tls();  // a bad certificate stops the start, not the first client
    net::ListenOptions options{address.host, address.port, address.backlog, false};
    listeners_.push_back(
        {std::make_unique<tcp::acceptor>(net::open_listener(io_.get_executor(), options)), address.ssl});
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
      asio::co_spawn(io_, serve_tls(std::move(socket)), asio::detached);
    else
      asio::co_spawn(io_, serve(net::ByteStream(std::move(socket))), asio::detached);
  }
}

asio::awaitable<void> AdminServer::serve_tls(tcp::socket socket) {
  auto stream = tls::ServerTls::stream(std::move(socket), server_tls());
  tls::HandshakeState state;
  net::Deadline deadline(io_.get_executor());
  auto ec = co_await tls::accept_handshake(stream, state, deadline, kHandshakeTimeout);
  deadline.stop();
  if (ec) {
    spdlog::debug("admin TLS handshake failed: {}", deadline.expired() ? "timed out" : ec.message());
    co_return;
  }
  co_await serve(std::move(stream));
}

std::pair<int, nlohmann::json> AdminServer::route(const std::string& method, std::string_view path) const {
  if (method != "GET" && method != "HEAD") return {405, {{"message", "Method not allowed"}}};
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto snap = gateway_.snapshot();
  const auto& config = snap->config;
  if (path == "/") {
    nlohmann::json enabled = nlohmann::json::array();
    for (const auto& p : snap->properties.plugins) enabled.push_back(p);
    return {200,
            {{"version", kVersion},
             {"tagline", "Welcome to gatehouse"},
             {"hostname", hostname()},
             {"pid", ::getpid()},
             {"configuration", {{"prefix", snap->properties.prefix}, {"generation", snap->generation}}},
             {"plugins", {{"enabled_in_cluster", enabled}}}}};
  }
  if (path == "/status") {
    int connections = 0, requests = 0;
    for (const auto& w : gateway_.workers()) {
      connections += w->active_connections.load();
      requests += w->active_requests.load();
    }
    return {200,
            {{"server", {{"connections_active", connections}, {"requests_active", requests}}},
             {"configuration_generation", snap->generation},
             {"draining", gateway_.draining()}}};
  }
  if (path == "/services")
    return {200, list_of(config.services, [](const conf::Service& s) {
              return nlohmann::json{{"id", s.id},          {"name", s.name}, {"protocol", s.protocol},
                                    {"host", s.host},      {"port", s.port}, {"path", s.path},
                                    {"retries", s.retries}};
            })};
  if (path == "/routes")
    return {200, list_of(config.routes, [](const conf::Route& r) {
              return nlohmann::json{{"id", r.id},
                                    {"name", r.name},
                                    {"hosts", r.hosts},
                                    {"paths", r.paths},
                                    {"methods", r.methods},
                                    {"service", {{"id", r.service_id}}},
                                    {"strip_path", r.strip_path},
                                    {"preserve_host", r.preserve_host}};
            })};
  if (path == "/consumers")
    return {200, list_of(config.consumers, [](const conf::Consumer& c) {
              return nlohmann::json{{"id", c.id}, {"username", c.username}, {"custom_id", c.custom_id}};
            })};
  if (path == "/plugins")
    return {
        200, list_of(config.plugins, [](const conf::Plugin& p) {
          return nlohmann::json{{"id", p.id}, {"name", p.name}, {"enabled", p.enabled}, {"config", p.config}};
        })};
  if (path == "/upstreams")
    return {200, list_of(config.upstreams, [](const conf::Upstream& u) {
              nlohmann::json targets = nlohmann::json::array();
              for (const auto& t : u.targets) targets.push_back({{"target", t.target}, {"weight", t.weight}});
              return nlohmann::json{{"id", u.id}, {"name", u.name}, {"targets", targets}};
            })};
  if (path.starts_with("/upstreams/") && path.ends_with("/health")) {  // Kong's target health
    const auto name_or_id = path.substr(11, path.size() - 11 - 7);
    if (auto health = gateway_.upstreams().health(std::string(name_or_id))) return {200, *health};
  }
  if (auto it = endpoints_.find(path); it != endpoints_.end()) return {200, it->second()};
  return {404, {{"message", "Not found"}}};
}

// The proxy's connection rules apply here too: the parser's head limits (431/414/400), the
// client_header / keepalive / send timeouts (nginx_admin_* in kong.conf), and no request body
// (the API is read-only: a request with one is answered and the connection closed unread).
asio::awaitable<void> AdminServer::serve(net::ByteStream stream) {
  const conf::AdminTimeouts timeouts = gateway_.snapshot()->properties.admin_timeouts;
  http::Parser parser(http::Parser::Kind::request);
  net::Buffer in;
  net::Deadline deadline(io_.get_executor());
  bool first = true;
  while (true) {
    parser.reset();
    deadline.arm(std::chrono::seconds(first ? timeouts.client_header : timeouts.keepalive), stream);
    first = false;
    auto head = co_await read_head(stream, parser, in, deadline);
    if (head == Head::gone) break;
    auto& req = parser.request();
    int status = 0;
    nlohmann::json body;
    bool keep_alive = head == Head::complete && req.keep_alive;
    if (head == Head::complete || head == Head::with_body)
      std::tie(status, body) = route(req.method, req.path());
    else
      std::tie(status, body) = refusal(head, parser);
    // Never throws: a string that is not UTF-8 (kong.yml is checked, a header is not) is replaced.
    std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string head_text = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n"
        "Server: {}\r\n{}\r\n",
        status, http::reason_phrase(status), text.size(), kServerToken,
        keep_alive ? "" : "Connection: close\r\n");
    const bool send_body = !(head == Head::complete || head == Head::with_body) || req.method != "HEAD";
    std::array<asio::const_buffer, 2> out{
        asio::buffer(head_text), asio::buffer(send_body ? std::string_view(text) : std::string_view())};
    deadline.arm(std::chrono::seconds(timeouts.send), stream);
    auto [ec, n] = co_await stream.write(out);
    deadline.disarm();
    if (ec) break;
    if (!keep_alive) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      if (head != Head::gone) co_await linger(stream, deadline);
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

// Reads one request head (and, for a body-less request, completes the message) under the
// deadline armed by the caller.
asio::awaitable<AdminServer::Head> AdminServer::read_head(net::ByteStream& stream, http::Parser& parser,
                                                          net::Buffer& in, net::Deadline& deadline) {
  while (true) {
    // Feed even when nothing is buffered: a body-less request completes on an empty feed.
    size_t consumed = 0;
    auto status = parser.feed(in.readable(), consumed);
    in.consume(consumed);
    if (status == http::Parser::Status::error) co_return Head::malformed;
    if (status == http::Parser::Status::message_complete) break;
    if (status == http::Parser::Status::headers_complete) {
      if (parser.request().has_body()) break;
      continue;
    }
    size_t available = 0;
    char* space = in.prepare(4096, available);
    auto [ec, n] = co_await stream.read_some(asio::buffer(space, available));
    if (ec) co_return parser.in_message() && deadline.expired() ? Head::timed_out : Head::gone;
    in.commit(n);
  }
  deadline.disarm();
  co_return parser.request().has_body() ? Head::with_body : Head::complete;
}

std::pair<int, nlohmann::json> AdminServer::refusal(Head head, const http::Parser& parser) {
  if (head == Head::timed_out) return {408, {{"message", "Request timeout"}}};
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
