// The SNI peek against ClientHellos that OpenSSL itself writes.
#include "tls/client_hello.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>

namespace gh::tls {
namespace {

// The bytes an OpenSSL client sends first, with `sni` (none when empty).
std::string client_hello(const std::string& sni) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl.get(), sni.c_str());
  SSL_connect(ssl.get());  // wants to read the ServerHello: the ClientHello is in `out`
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<size_t>(n));
}

TEST(ClientHello, FindsTheServerName) {
  auto peek = peek_client_hello(client_hello("pass.example.test"));
  EXPECT_EQ(peek.status, ClientHelloPeek::Status::ok);
  EXPECT_EQ(peek.server_name, "pass.example.test");
}

TEST(ClientHello, NoSniIsOkAndEmpty) {
  auto peek = peek_client_hello(client_hello(""));
  EXPECT_EQ(peek.status, ClientHelloPeek::Status::ok);
  EXPECT_EQ(peek.server_name, "");
}

TEST(ClientHello, NeedsTheWholeFirstRecord) {
  auto hello = client_hello("a.test");
  for (size_t cut : {size_t{0}, size_t{3}, size_t{5}, hello.size() / 2, hello.size() - 1})
    EXPECT_EQ(peek_client_hello(hello.substr(0, cut)).status, ClientHelloPeek::Status::need_more) << cut;
}

TEST(ClientHello, PlainTextAndGarbageAreNotTls) {
  EXPECT_EQ(peek_client_hello("GET / HTTP/1.1\r\n").status, ClientHelloPeek::Status::not_tls);
  EXPECT_EQ(peek_client_hello(std::string("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", 10)).status,
            ClientHelloPeek::Status::not_tls);
  // A truncated hello inside a complete record: never reads out of bounds.
  auto hello = client_hello("a.test");
  std::string broken = hello.substr(0, 60);
  broken[3] = 0;
  broken[4] = 55;
  EXPECT_EQ(peek_client_hello(broken).status, ClientHelloPeek::Status::not_tls);
}

}  // namespace
}  // namespace gh::tls
