// gatehouse as a TLS client of upstreams: a real handshake against a gatehouse TLS server
// (ServerTls), with the service's trust, verification and client certificate.
#include "tls/upstream_tls.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "tls/handshake.h"
#include "tls/self_signed.h"

namespace gh::tls {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr const char* kCaId = "9a1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10";
constexpr const char* kClientId = "4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10";

struct Result {
  boost::system::error_code client_error;
  std::string verify_error;
  bool server_saw_client_certificate = false;
};

class UpstreamTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend = generate_self_signed("backend.test", KeyType::ecdsa_p256);
    auto client = generate_self_signed("gatehouse-client", KeyType::ecdsa_p256);
    config.ca_certificates.push_back({kCaId, backend.cert, {}});
    config.certificates.push_back({kClientId, client.cert, client.key, "", "", {}, {}});
    server = std::make_shared<const ServerTls>(conf::TlsSettings{}, std::vector<conf::Certificate>{},
                                               std::vector<PemPair>{backend}, nullptr);
    // Ask for (but do not require) a client certificate, to see whether one was sent.
    SSL_CTX_set_verify(server->context().native_handle(), SSL_VERIFY_PEER,
                       [](int, X509_STORE_CTX*) { return 1; });
  }

  conf::Service& add_service(const std::string& id, bool verify) {
    conf::Service s;
    s.id = id;
    s.protocol = "https";
    s.host = "backend.test";
    s.tls_verify = verify;
    config.services.push_back(s);
    return config.services.back();
  }

  Result connect(const std::string& service_id, const std::string& host, bool verify) {
    UpstreamTls upstream_tls(config);
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    Result result;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto socket = co_await acceptor.async_accept(asio::use_awaitable);
          auto stream = ServerTls::stream(std::move(socket), server);
          HandshakeState state;
          net::Deadline deadline(io.get_executor());
          auto ec = co_await accept_handshake(stream, state, deadline, 5s);
          if (!ec) {
            X509* peer = SSL_get1_peer_certificate(stream.tls_stream()->native_handle());
            result.server_saw_client_certificate = peer != nullptr;
            X509_free(peer);
          }
          deadline.stop();
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          tcp::socket socket(io);
          co_await socket.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
          net::ByteStream stream(std::move(socket), *upstream_tls.context(service_id), nullptr);
          UpstreamTls::prepare(stream.tls_stream()->native_handle(), host, verify);
          auto [ec] = co_await stream.tls_stream()->async_handshake(asio::ssl::stream_base::client,
                                                                    asio::as_tuple(asio::use_awaitable));
          result.client_error = ec;
          result.verify_error = UpstreamTls::verify_error(stream.tls_stream()->native_handle());
        },
        asio::detached);
    io.run_for(10s);
    return result;
  }

  PemPair backend;
  conf::Declarative config;
  std::shared_ptr<const ServerTls> server;
};

TEST_F(UpstreamTlsTest, VerifiesAgainstTheServicesCaCertificates) {
  add_service("trusting", true).ca_certificate_ids = {kCaId};
  auto ok = connect("trusting", "backend.test", true);
  EXPECT_FALSE(ok.client_error) << ok.client_error.message();
  EXPECT_EQ(ok.verify_error, "");

  auto wrong_name = connect("trusting", "other.test", true);
  EXPECT_TRUE(wrong_name.client_error);
  EXPECT_EQ(wrong_name.verify_error, "62:hostname mismatch");
}

TEST_F(UpstreamTlsTest, SystemTrustRefusesAnUnknownIssuerUnlessVerificationIsOff) {
  add_service("system", true);
  auto refused = connect("system", "backend.test", true);
  EXPECT_TRUE(refused.client_error);
  EXPECT_EQ(refused.verify_error, "18:self-signed certificate");
  // kong.service.set_tls_verify(false) for this request: the same context, no verification.
  auto unverified = connect("system", "backend.test", false);
  EXPECT_FALSE(unverified.client_error) << unverified.client_error.message();
}

TEST_F(UpstreamTlsTest, PresentsTheClientCertificate) {
  add_service("mtls", false).client_certificate_id = kClientId;
  add_service("anonymous", false);
  EXPECT_TRUE(connect("mtls", "backend.test", false).server_saw_client_certificate);
  EXPECT_FALSE(connect("anonymous", "backend.test", false).server_saw_client_certificate);
}

TEST_F(UpstreamTlsTest, OnlyTlsServicesGetAContext) {
  add_service("secure", false);
  conf::Service plain;
  plain.id = "plain";
  config.services.push_back(plain);
  UpstreamTls upstream_tls(config);
  EXPECT_NE(upstream_tls.context("secure"), nullptr);
  EXPECT_EQ(upstream_tls.context("plain"), nullptr);
}

}  // namespace
}  // namespace gh::tls
