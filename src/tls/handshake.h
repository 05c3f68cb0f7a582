// The server side of a TLS handshake, with the optional pause for the `certificate` phase.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>

#include "net/byte_stream.h"
#include "net/deadline.h"
#include "tls/server_tls.h"

namespace gh::tls {

// Runs while the handshake is paused after the ClientHello (state.server_name is known), before
// a certificate is chosen. Must not throw.
using CertificatePhase = std::function<boost::asio::awaitable<void>(HandshakeState&)>;

// Completes the handshake on `stream` (a TLS net::ByteStream) within `timeout`. With `phase`, it runs
// between the ClientHello and the choice of certificate; the handshake waits for it without
// blocking the thread. Returns the error that ended the handshake, or success.
boost::asio::awaitable<boost::system::error_code> accept_handshake(net::ByteStream& stream,
                                                                   HandshakeState& state,
                                                                   net::Deadline& deadline,
                                                                   std::chrono::milliseconds timeout,
                                                                   const CertificatePhase& phase = nullptr);

// "TLSv1.3", "TLSv1.2", ... for a connected TLS stream.
std::string protocol_name(net::ByteStream& stream);
// Whether ALPN picked "h2" in the handshake.
bool negotiated_h2(net::ByteStream& stream);

}  // namespace gh::tls
