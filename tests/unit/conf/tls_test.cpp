// The TLS parts of the configuration: ssl_* properties and kong.yml certificates/SNIs, with
// errors that name the file, the entity and the field.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "conf/declarative.h"
#include "conf/error.h"
#include "conf/properties.h"
#include "test_support.h"

namespace gh::conf {
namespace {

using testing::fixture;
using testing::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string kCert = fixture("tls/api.example.com.crt");
const std::string kKey = fixture("tls/api.example.com.key");
const std::string kOtherKey = fixture("tls/other.key");

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string properties_error(const std::string& conf_text) {
  TempDir dir;
  auto path = dir.write("gatehouse.conf", conf_text);
  auto error = error_of([&] { load_properties(path, {}); });
  auto at = error.find(path);
  if (at != std::string::npos) error.replace(at, path.size(), "gatehouse.conf");
  return error;
}

// A kong.yml with one certificate whose cert/key are the given PEM texts, indented as YAML blocks.
std::string yaml_certificate(const std::string& cert, const std::string& key, const std::string& snis) {
  auto block = [](const std::string& pem) {
    std::string out = "|\n";
    std::istringstream lines(pem);
    for (std::string line; std::getline(lines, line);) out += "      " + line + "\n";
    return out;
  };
  return "_format_version: \"3.0\"\ncertificates:\n  - cert: " + block(cert) + "    key: " + block(key) +
         "    snis: " + snis + "\n";
}

TEST(TlsProperties, KongDefaults) {
  auto p = load_properties("", {});
  EXPECT_TRUE(p.ssl.certs.empty());  // → the generated self-signed certificate
  EXPECT_EQ(p.ssl.cipher_suite, "intermediate");
  EXPECT_NE(p.ssl.ciphers.find("ECDHE-RSA-AES128-GCM-SHA256"), std::string::npos);
  EXPECT_EQ(p.ssl.min_version, "TLSv1.2");
  EXPECT_EQ(p.ssl.max_version, "TLSv1.3");
  EXPECT_TRUE(p.ssl.session_tickets);
  EXPECT_EQ(p.ssl.session_timeout_seconds, 86400);
}

TEST(TlsProperties, CertificatesFromFilesRelativeToTheConfFileOrInline) {
  TempDir dir;
  dir.write("c.crt", read(kCert));
  dir.write("c.key", read(kKey));
  auto path =
      dir.write("gatehouse.conf", "ssl_cert = c.crt, " + kCert + "\nssl_cert_key = c.key, " + kKey + "\n");
  auto p = load_properties(path, {});
  ASSERT_EQ(p.ssl.certs.size(), 2u);
  EXPECT_EQ(p.ssl.certs[0], read(kCert));
  EXPECT_EQ(p.ssl.keys[1], read(kKey));

  auto inline_pem = load_properties("", {{"KONG_SSL_CERT", read(kCert)}, {"KONG_SSL_CERT_KEY", read(kKey)}});
  ASSERT_EQ(inline_pem.ssl.certs.size(), 1u);
}

TEST(TlsProperties, SuitesAndProtocols) {
  TempDir dir;
  auto modern = load_properties(dir.write("a.conf", "ssl_cipher_suite = modern\n"), {});
  EXPECT_EQ(modern.ssl.min_version, "TLSv1.3");
  auto custom = load_properties(
      dir.write("b.conf", "ssl_cipher_suite = custom\nssl_ciphers = ECDHE-RSA-AES256-GCM-SHA384\n"), {});
  EXPECT_EQ(custom.ssl.ciphers, "ECDHE-RSA-AES256-GCM-SHA384");
  auto only12 =
      load_properties(dir.write("c.conf", "ssl_protocols = TLSv1.2\nssl_session_timeout = 10m\n"), {});
  EXPECT_EQ(only12.ssl.max_version, "TLSv1.2");
  EXPECT_EQ(only12.ssl.session_timeout_seconds, 600);
}

TEST(TlsProperties, APemPathPastOneMebibyteIsRefusedWithoutBeingReadWhole) {
  // /dev/zero never ends: read whole, it would take all the memory the gateway can get.
  EXPECT_EQ(properties_error("ssl_cert = /dev/zero\nssl_cert_key = /dev/zero\n"),
            "gatehouse.conf:1: ssl_cert: '/dev/zero' is larger than the 1048576 bytes gatehouse reads for a "
            "PEM file");
  TempDir dir;
  const std::string big = dir.write("big.crt", std::string((1 << 20) + 1, 'x'));
  auto conf = dir.write("gatehouse.conf", "ssl_cert = big.crt\nssl_cert_key = big.crt\n");
  EXPECT_EQ(
      error_of([&] { load_properties(conf, {}); }),
      conf + ":1: ssl_cert: '" + big + "' is larger than the 1048576 bytes gatehouse reads for a PEM file");
  // A directory opens but does not read.
  auto dir_conf = dir.write("d.conf", "ssl_cert = " + dir.path() + "\nssl_cert_key = " + dir.path() + "\n");
  EXPECT_EQ(error_of([&] { load_properties(dir_conf, {}); }),
            dir_conf + ":1: ssl_cert: cannot read '" + dir.path() + "'");
  // At the limit it is read, and judged as PEM.
  dir.write("big.crt", std::string(1 << 20, 'x'));
  EXPECT_NE(error_of([&] { load_properties(conf, {}); }).find("no start line"), std::string::npos)
      << error_of([&] { load_properties(conf, {}); });
}

TEST(TlsProperties, ErrorsNameTheFileLineAndKey) {
  EXPECT_EQ(properties_error("ssl_cert = " + kCert + "\n"),
            "default ssl_cert_key: 0 key(s) for 1 certificate(s) in ssl_cert (one key per certificate)");
  EXPECT_EQ(properties_error("ssl_cert = " + kCert + "\nssl_cert_key = " + kOtherKey + "\n"),
            "gatehouse.conf:2: ssl_cert_key: the key does not belong to the certificate");
  EXPECT_EQ(properties_error("ssl_cert = " + kKey + "\nssl_cert_key = " + kKey + "\n"),
            "gatehouse.conf:1: ssl_cert: not a PEM X.509 certificate (no start line)");
  EXPECT_EQ(properties_error("ssl_cert = /nonexistent.crt\nssl_cert_key = /nonexistent.key\n"),
            "gatehouse.conf:1: ssl_cert: cannot read '/nonexistent.crt'");
  EXPECT_EQ(properties_error("ssl_protocols = TLSv1.2 SSLv3\n"),
            "gatehouse.conf:1: ssl_protocols: unknown protocol 'SSLv3' (expected TLSv1.2 and/or TLSv1.3)");
  EXPECT_EQ(properties_error("ssl_cipher_suite = fast\n"),
            "gatehouse.conf:1: ssl_cipher_suite: unknown suite 'fast' (expected modern, intermediate, old or "
            "custom)");
  EXPECT_EQ(properties_error("ssl_cipher_suite = custom\n"),
            "default ssl_ciphers: must be set when ssl_cipher_suite is 'custom'");
  EXPECT_EQ(properties_error("ssl_cipher_suite = custom\nssl_ciphers = NOT-A-CIPHER\n"),
            "gatehouse.conf:2: ssl_ciphers: OpenSSL accepts no cipher in 'NOT-A-CIPHER'");
  EXPECT_EQ(properties_error("ssl_cipher_suite = modern\nssl_protocols = TLSv1.2\n"),
            "gatehouse.conf:2: ssl_protocols: the 'modern' cipher suite needs TLSv1.3");
}

TEST(TlsDeclarative, CertificateWithAltPairAndWildcardSnis) {
  auto yaml = yaml_certificate(read(kCert), read(kKey), "[\"*.example.com\", \"api.example.*\", \"*\"]");
  auto d = parse_declarative(yaml, "kong.yml");
  ASSERT_EQ(d.certificates.size(), 1u);
  EXPECT_EQ(d.certificates[0].snis, (std::vector<std::string>{"*.example.com", "api.example.*", "*"}));
}

TEST(TlsDeclarative, BadPemAndMismatchedKeysNameTheField) {
  auto parse_error = [](const std::string& yaml) {
    return error_of([&] { parse_declarative(yaml, "kong.yml"); });
  };
  EXPECT_EQ(parse_error(yaml_certificate(read(kCert), read(kOtherKey), "[a.test]")),
            "kong.yml:15: certificates[0].key: the key does not belong to the certificate");
  EXPECT_EQ(parse_error(yaml_certificate("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                                         read(kKey), "[a.test]")),
            "kong.yml:3: certificates[0].cert: not a PEM X.509 certificate (ASN1 lib)");
  EXPECT_EQ(parse_error(yaml_certificate(
                read(kCert), "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----", "[a.test]")),
            "kong.yml:15: certificates[0].key: not a PEM private key, or an encrypted one (unsupported)");
}

TEST(TlsDeclarative, SniNamesFollowKongsWildcardRule) {
  auto sni_error = [](const std::string& name) {
    auto yaml = yaml_certificate(read(kCert), read(kKey), "[\"" + name + "\"]");
    auto error = error_of([&] { parse_declarative(yaml, "kong.yml"); });
    return error.substr(error.find(": ") + 2);
  };
  EXPECT_EQ(
      sni_error("a.*.com"),
      "certificates[0].snis[0]: invalid SNI 'a.*.com': the wildcard must be the leftmost or rightmost label");
  EXPECT_EQ(sni_error("*.*.com"),
            "certificates[0].snis[0]: invalid SNI '*.*.com': only one wildcard is allowed");
  EXPECT_EQ(
      sni_error("a.com:443"),
      "certificates[0].snis[0]: invalid SNI 'a.com:443': only letters, digits, '.', '-', '_' and one '*' "
      "are allowed (no port, no IPv6)");
}

TEST(TlsDeclarative, TopLevelSniEntitiesJoinTheirCertificate) {
  auto yaml = yaml_certificate(read(kCert), read(kKey), "[a.test]");
  yaml.insert(yaml.find("certificates:\n  - ") + 18, "id: 4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10\n    ");
  yaml += "snis:\n  - name: B.test\n    certificate: 4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10\n";
  auto d = parse_declarative(yaml, "kong.yml");
  EXPECT_EQ(d.certificates[0].snis, (std::vector<std::string>{"a.test", "b.test"}));
  yaml += "  - name: c.test\n    certificate: 00000000-0000-4000-8000-000000000000\n";
  EXPECT_NE(error_of([&] {
              parse_declarative(yaml, "kong.yml");
            }).find("snis[1] (name 'c.test').certificate: references unknown certificate"),
            std::string::npos);
}

}  // namespace
}  // namespace gh::conf

namespace gh::conf {
namespace {

TEST(TlsDeclarative, UpstreamTlsSettingsOfServices) {
  auto yaml = yaml_certificate(read(kCert), read(kKey), "[a.test]");
  yaml.insert(yaml.find("certificates:\n  - ") + 18, "id: 4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10\n    ");
  yaml += "ca_certificates:\n  - id: 9a1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10\n    cert: |\n";
  std::istringstream lines(read(kCert));
  for (std::string line; std::getline(lines, line);) yaml += "      " + line + "\n";
  yaml +=
      "services:\n  - name: secure\n    url: https://backend.test\n    tls_verify: true\n"
      "    tls_verify_depth: 2\n    client_certificate: {id: 4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10}\n"
      "    ca_certificates: [9a1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10]\n";
  auto d = parse_declarative(yaml, "kong.yml");
  ASSERT_EQ(d.services.size(), 1u);
  const auto& s = d.services[0];
  EXPECT_TRUE(s.tls_verify);
  EXPECT_EQ(s.tls_verify_depth, 2);
  EXPECT_EQ(s.client_certificate_id, "4f1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10");
  EXPECT_EQ(s.ca_certificate_ids, (std::vector<std::string>{"9a1b5f0e-2a5d-4c1e-9d1a-0e6a4f3c2b10"}));
  ASSERT_NE(d.find_ca_certificate(s.ca_certificate_ids[0]), nullptr);
  ASSERT_NE(d.find_certificate(s.client_certificate_id), nullptr);

  auto bad_ref = yaml;
  bad_ref.replace(bad_ref.find("[9a1b"), 5, "[0a1b");
  EXPECT_NE(error_of([&] {
              parse_declarative(bad_ref, "kong.yml");
            }).find("services[0] (name 'secure').ca_certificates[0]: references unknown CA certificate"),
            std::string::npos);
}

TEST(TlsDeclarative, CaCertificatesMustBeCertificates) {
  EXPECT_EQ(error_of([] {
              parse_declarative("_format_version: \"3.0\"\nca_certificates:\n  - cert: nope\n", "kong.yml");
            }),
            "kong.yml:3: ca_certificates[0].cert: not a PEM X.509 certificate (no start line)");
}

}  // namespace
}  // namespace gh::conf
