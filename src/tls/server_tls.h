// The TLS server side of `proxy_listen ... ssl`: one OpenSSL context per configuration
// generation, shared by every worker (so session tickets and the session cache work whichever
// worker a client lands on), choosing each connection's certificate by SNI during the
// handshake (docs/tls.md).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "conf/entities.h"
#include "conf/properties.h"
#include "net/byte_stream.h"
#include "tls/certificate_store.h"
#include "tls/self_signed.h"

namespace gh::tls {

// One connection's handshake, as the certificate callback sees and records it.
struct HandshakeState {
  std::string server_name;     // the SNI the client sent ("" when none)
  std::string certificate_id;  // the certificate served: a kong.yml id, or "default"
  // Set before the handshake when a `certificate` phase must run first: the handshake pauses
  // at the certificate callback (paused = true) until the phase is over.
  bool run_certificate_phase = false;
  bool paused = false;
  bool refused = false;   // set by the phase: the handshake ends without a certificate
  bool offer_h2 = false;  // the listener has `http2`: ALPN may pick "h2" (docs/http2.md)
  SSL* ssl = nullptr;     // the connection being handshaken (kong.client.tls.* in the phase)
};

class ServerTls {
 public:
  // `defaults` are the pairs served when no SNI matches: ssl_cert/ssl_cert_key, or the
  // generated ones. `previous` (may be null) hands over its session ticket keys, so a reload
  // does not force every client into a full handshake. Throws std::runtime_error.
  ServerTls(const conf::TlsSettings& settings, const std::vector<conf::Certificate>& certificates,
            const std::vector<PemPair>& defaults, const ServerTls* previous);
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // Asio's stream wants a non-const context; the context is not changed after construction.
  boost::asio::ssl::context& context() const { return context_; }
  const CertificateStore& store() const { return store_; }

  // Makes `state` reachable from the callbacks of `ssl` for the handshake (null detaches).
  static void attach(SSL* ssl, HandshakeState* state);

  // A TLS server stream on `socket` using this context (kept alive by the stream).
  static net::ByteStream stream(boost::asio::ip::tcp::socket socket, std::shared_ptr<const ServerTls> tls) {
    auto& context = tls->context();
    return net::ByteStream(std::move(socket), context, std::move(tls));
  }

 private:
  void configure(const conf::TlsSettings& settings, const ServerTls* previous);
  static int on_certificate(SSL* ssl, void* self);

  mutable boost::asio::ssl::context context_;
  CertificateStore store_;
};

// The ServerTls of the configuration generation in use, built once per generation and shared.
class ServerTlsCache {
 public:
  // Generates the default certificate in the prefix on first use when ssl_cert is not set.
  // Throws std::runtime_error.
  std::shared_ptr<const ServerTls> get(uint64_t generation, const conf::Properties& properties,
                                       const conf::Declarative& config);

 private:
  std::mutex mutex_;
  std::shared_ptr<const ServerTls> current_;
  uint64_t generation_ = 0;
  std::vector<PemPair> generated_defaults_;
};

}  // namespace gh::tls
