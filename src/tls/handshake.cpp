#include "tls/handshake.h"

#include <openssl/err.h>

#include "tls/client_certificate.h"

namespace gh::tls {

namespace asio = boost::asio;

asio::awaitable<boost::system::error_code> accept_handshake(net::ByteStream& stream, HandshakeState& state,
                                                            net::Deadline& deadline,
                                                            std::chrono::milliseconds timeout,
                                                            const CertificatePhase& phase) {
  auto& tls = *stream.tls_stream();
  ServerTls::attach(tls.native_handle(), &state);
  state.ssl = tls.native_handle();
  state.run_certificate_phase = static_cast<bool>(phase);
  deadline.arm(timeout, stream);
  boost::system::error_code result;
  while (true) {
    auto [ec] =
        co_await tls.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    // The certificate callback paused the handshake: Asio reports the unexpected
    // SSL_ERROR_WANT_X509_LOOKUP as an error, and calling the handshake again resumes it
    // where it stopped (the ClientHello is already inside OpenSSL).
    if (ec && state.paused && !deadline.expired()) {
      state.paused = false;
      ERR_clear_error();
      co_await phase(state);
      if (state.refused) {
        result = asio::error::connection_refused;
        break;
      }
      continue;
    }
    result = ec;
    break;
  }
  deadline.disarm();
  ServerTls::attach(tls.native_handle(), nullptr);
  if (!result) forget_session_if_disabled(tls.native_handle());
  co_return result;
}

bool negotiated_h2(net::ByteStream& stream) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(stream.tls_stream()->native_handle(), &protocol, &length);
  return length == 2 && protocol[0] == 'h' && protocol[1] == '2';
}

std::string protocol_name(net::ByteStream& stream) {
  auto* tls = stream.tls_stream();
  return tls ? SSL_get_version(tls->native_handle()) : "";
}

}  // namespace gh::tls
