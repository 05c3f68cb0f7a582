#include "net/upstream_pool.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "net/idle_socket.h"

namespace gh::net {

namespace {

// One syscall per reuse, whatever the idle time (nginx watches its idle upstream connections for
// the same reason and pays a getsockopt per reuse instead).
bool looks_alive(boost::asio::ip::tcp::socket& socket) {
  return idle_socket_alive(socket.native_handle());
}

// TLS reads take whole socket reads into the TLS layer, one record at a time out of it: a record
// that came in the same read as the response's last one is no longer on the socket but waits in
// OpenSSL (a record being processed, or bytes in its read BIO, which Asio fills).
bool tls_holds_input(ByteStream& stream) {
  auto* tls = stream.tls_stream();
  if (!tls) return false;
  SSL* ssl = tls->native_handle();
  return SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

}  // namespace

size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  const auto& a = e.address();
  size_t h = a.is_v4() ? std::hash<uint32_t>()(a.to_v4().to_uint())
                       : std::hash<std::string_view>()(std::string_view(
                             reinterpret_cast<const char*>(a.to_v6().to_bytes().data()), 16));
  return h * 31 + e.port();
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take(const Endpoint& key, std::string_view tls_key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  const auto now = std::chrono::steady_clock::now();
  // Most recently used first: most likely alive. Connections set up for other TLS parameters stay.
  for (size_t i = list.size(); i-- > 0;) {
    if (list[i]->tls_key != tls_key) continue;
    auto conn = std::move(list[i]);
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
    if (now - conn->idle_since >= limits_.idle_timeout) continue;
    if (!tls_holds_input(conn->stream) && looks_alive(conn->socket)) return conn;
  }
  return nullptr;
}

void UpstreamPool::give_back(std::unique_ptr<UpstreamConnection> conn) {
  if (conn->requests >= limits_.max_requests) return;
  auto& list = idle_[conn->key];
  if (list.size() >= limits_.max_idle_per_key) return;
  conn->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(conn));
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace gh::net
