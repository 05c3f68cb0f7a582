// Real handshakes over loopback sockets: the server side is gatehouse's ServerTls and
// accept_handshake, the client is a plain Asio/OpenSSL client sending an SNI.
#include "tls/handshake.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>

#include "conf/pem.h"
#include "tls/client_certificate.h"
#include "tls/self_signed.h"

namespace gh::tls {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

conf::Certificate certificate(const std::string& id, const std::string& common_name,
                              std::vector<std::string> snis) {
  auto pem = generate_self_signed(common_name, KeyType::ecdsa_p256);
  conf::Certificate c;
  c.id = id;
  c.cert = pem.cert;
  c.key = pem.key;
  c.snis = std::move(snis);
  return c;
}

std::string common_name_of(X509* cert) {
  char name[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  return name;
}

struct Outcome {
  boost::system::error_code server_error, client_error;
  HandshakeState state;
  std::string client_saw;  // CN of the certificate the client received
  std::string protocol;
  std::shared_ptr<const ClientCertificate> client_certificate;  // what the server got from the client
};

// One connection: gatehouse's handshake on the accepted socket, a client sending `sni`.
// `client_pair`: a certificate the client presents when asked.
Outcome handshake(std::shared_ptr<const ServerTls> server, const std::string& sni,
                  const CertificatePhase& phase = nullptr, const KeyPair* client_pair = nullptr) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Outcome out;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto socket = co_await acceptor.async_accept(asio::use_awaitable);
        auto stream = ServerTls::stream(std::move(socket), server);
        net::Deadline deadline(io.get_executor());
        out.server_error = co_await accept_handshake(stream, out.state, deadline, 5s, phase);
        if (!out.server_error) {
          out.protocol = protocol_name(stream);
          out.client_certificate = client_certificate(stream.tls_stream()->native_handle());
        }
        deadline.stop();
      },
      asio::detached);
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  asio::ssl::stream<tcp::socket> client(io, client_ctx);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await client.next_layer().async_connect(acceptor.local_endpoint(), asio::use_awaitable);
        if (!sni.empty()) SSL_set_tlsext_host_name(client.native_handle(), sni.c_str());
        if (client_pair)
          SSL_use_cert_and_key(client.native_handle(), client_pair->leaf.get(), client_pair->key.get(),
                               client_pair->chain.get(), 1);
        auto [ec] = co_await client.async_handshake(asio::ssl::stream_base::client,
                                                    asio::as_tuple(asio::use_awaitable));
        out.client_error = ec;
        if (!ec) {
          X509* peer = SSL_get1_peer_certificate(client.native_handle());
          out.client_saw = common_name_of(peer);
          X509_free(peer);
        }
      },
      asio::detached);
  io.run_for(10s);
  return out;
}

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    defaults = {generate_self_signed("default.test", KeyType::ecdsa_p256)};
    certificates = {
        certificate("11111111-1111-4111-8111-111111111111", "api.example.com", {"api.example.com"}),
        certificate("22222222-2222-4222-8222-222222222222", "wild.example.com", {"*.example.com"})};
    server = std::make_shared<const ServerTls>(settings, certificates, defaults, nullptr);
  }
  conf::TlsSettings settings;
  std::vector<PemPair> defaults;
  std::vector<conf::Certificate> certificates;
  std::shared_ptr<const ServerTls> server;
};

TEST_F(HandshakeTest, ServesTheCertificateOfTheSniExactThenWildcard) {
  auto exact = handshake(server, "api.example.com");
  ASSERT_FALSE(exact.server_error) << exact.server_error.message();
  EXPECT_EQ(exact.client_saw, "api.example.com");
  EXPECT_EQ(exact.state.server_name, "api.example.com");
  EXPECT_EQ(exact.state.certificate_id, "11111111-1111-4111-8111-111111111111");
  EXPECT_EQ(exact.protocol, "TLSv1.3");

  auto wild = handshake(server, "shop.example.com");
  ASSERT_FALSE(wild.server_error) << wild.server_error.message();
  EXPECT_EQ(wild.client_saw, "wild.example.com");
}

TEST_F(HandshakeTest, UnknownOrMissingSniGetsTheDefaultCertificate) {
  auto unknown = handshake(server, "other.test");
  ASSERT_FALSE(unknown.client_error) << unknown.client_error.message();
  EXPECT_EQ(unknown.client_saw, "default.test");
  EXPECT_EQ(unknown.state.certificate_id, "default");
  auto none = handshake(server, "");
  ASSERT_FALSE(none.client_error) << none.client_error.message();
  EXPECT_EQ(none.client_saw, "default.test");
  EXPECT_EQ(none.state.server_name, "");
}

TEST_F(HandshakeTest, ProtocolFloorIsEnforced) {
  settings.min_version = settings.max_version = "TLSv1.3";
  auto tls13_only = std::make_shared<const ServerTls>(settings, certificates, defaults, nullptr);
  EXPECT_EQ(handshake(tls13_only, "api.example.com").protocol, "TLSv1.3");
  settings.min_version = settings.max_version = "TLSv1.2";
  auto tls12_only = std::make_shared<const ServerTls>(settings, certificates, defaults, nullptr);
  EXPECT_EQ(handshake(tls12_only, "api.example.com").protocol, "TLSv1.2");
}

// The certificate phase: the handshake pauses after the ClientHello, an asynchronous job runs
// on the same thread (here a timer), and the handshake then completes.
TEST_F(HandshakeTest, PausesForTheCertificatePhaseWithoutBlocking) {
  std::string seen_by_phase;
  int phase_runs = 0;
  auto phase = [&](HandshakeState& state) -> asio::awaitable<void> {
    seen_by_phase = state.server_name;
    ++phase_runs;
    asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
    co_await timer.async_wait(asio::use_awaitable);
  };
  auto start = std::chrono::steady_clock::now();
  auto out = handshake(server, "api.example.com", phase);
  ASSERT_FALSE(out.server_error) << out.server_error.message();
  ASSERT_FALSE(out.client_error) << out.client_error.message();
  EXPECT_EQ(phase_runs, 1);
  EXPECT_EQ(seen_by_phase, "api.example.com");
  EXPECT_EQ(out.client_saw, "api.example.com");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

// kong.client.tls.request_client_certificate: asked during the certificate phase, the client's
// certificate arrives whatever its chain; verified against the CA the plugin gave, if any.
TEST_F(HandshakeTest, ClientCertificateRequestedInTheCertificatePhase) {
  auto client_pem = generate_self_signed("client.test", KeyType::ecdsa_p256);
  auto client_pair = KeyPair::from_pem(client_pem.cert, client_pem.key);
  std::string ca;  // none: nothing vouches for the client
  auto ask = [&](HandshakeState& state) -> asio::awaitable<void> {
    EXPECT_EQ(request_client_certificate(state.ssl, ca), "");
    co_return;
  };
  auto unverified = handshake(server, "api.example.com", ask, &client_pair);
  ASSERT_FALSE(unverified.server_error) << unverified.server_error.message();
  ASSERT_TRUE(unverified.client_certificate);
  EXPECT_EQ(unverified.client_certificate->subject, "CN=client.test,O=gatehouse");
  EXPECT_EQ(unverified.client_certificate->chain_pem, client_pem.cert);
  EXPECT_EQ(unverified.client_certificate->verify, "FAILED:self-signed certificate");

  ca = client_pem.cert;  // self-signed: its own CA
  auto verified = handshake(server, "api.example.com", ask, &client_pair);
  ASSERT_TRUE(verified.client_certificate);
  EXPECT_EQ(verified.client_certificate->verify, "SUCCESS");

  ca = "not a certificate";
  auto refused = handshake(server, "api.example.com", [&](HandshakeState& state) -> asio::awaitable<void> {
    EXPECT_EQ(request_client_certificate(state.ssl, ca), "ca_certs: no PEM certificate in it");
    co_return;
  });
  EXPECT_FALSE(refused.client_certificate);

  // Not asked: a client holding a certificate does not send it.
  EXPECT_FALSE(handshake(server, "api.example.com", nullptr, &client_pair).client_certificate);
}

TEST(SelfSigned, DefaultCertificatesAreGeneratedOnceAndReused) {
  std::string pattern = (std::filesystem::temp_directory_path() / "gh-tls-XXXXXX").string();
  std::filesystem::path prefix = ::mkdtemp(pattern.data());
  auto first = default_certificates(prefix.string());
  ASSERT_EQ(first.size(), 2u);  // RSA and ECDSA, as Kong
  for (const auto& pair : first) {
    EXPECT_EQ(conf::check_certificates(pair.cert), "");
    EXPECT_EQ(conf::check_key_matches(pair.cert, pair.key), "");
  }
  auto key_mode = std::filesystem::status(prefix / "ssl" / "gatehouse-default.key").permissions();
  EXPECT_EQ(key_mode & std::filesystem::perms::others_read, std::filesystem::perms::none);
  auto second = default_certificates(prefix.string());
  EXPECT_EQ(second[0].cert, first[0].cert);
  EXPECT_EQ(second[1].key, first[1].key);
  std::filesystem::remove_all(prefix);
}

}  // namespace
}  // namespace gh::tls
