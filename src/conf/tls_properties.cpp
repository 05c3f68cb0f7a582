#include "conf/tls_properties.h"

#include <openssl/ssl.h>

#include <charconv>
#include <map>
#include <memory>
#include <utility>

#include "common/files.h"
#include "common/strings.h"
#include "conf/error.h"
#include "conf/pem.h"

namespace gh::conf {

namespace {

// Kong's ssl_cipher_suite presets (kong/tools/ciphers.lua, i.e. Mozilla's server-side TLS
// recommendations): the TLS <= 1.2 cipher list, and whether the server's order wins.
struct CipherSuite {
  const char* ciphers;
  bool prefer_server_ciphers;
  const char* min_version;  // a floor the suite imposes on ssl_protocols ("" = none)
};

const std::map<std::string, CipherSuite>& cipher_suites() {
  static const std::map<std::string, CipherSuite> suites = {
      {"modern", {"", false, "TLSv1.3"}},
      {"intermediate",
       {"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305",
        false, ""}},
      {"old",
       {"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305:"
        "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
        "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
        "DHE-RSA-AES128-SHA256:DHE-RSA-AES256-SHA256:AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:"
        "AES256-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA",
        true, ""}},
  };
  return suites;
}

// Protocol names in version order, as nginx's ssl_protocols spells them.
const std::vector<std::string>& protocol_order() {
  static const std::vector<std::string> order = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
  return order;
}

int protocol_rank(const std::string& name) {
  const auto& order = protocol_order();
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] == name) return static_cast<int>(i);
  return -1;
}

// A certificate chain or CA bundle is kilobytes (Debian's whole CA bundle: ~220 KB); a path to
// something larger (/dev/zero, a growing log) is refused rather than read into memory.
constexpr size_t kMaxPemFileBytes = 1 << 20;

// An ssl_cert entry is a path, or the PEM text itself (Kong accepts both).
std::string read_pem(const std::string& entry, const std::string& key, const std::string& where,
                     const std::function<std::string(const std::string&, const std::string&)>& resolve) {
  if (entry.find("-----BEGIN") != std::string::npos) return entry;
  std::string path = resolve(key, entry);
  FileText file = read_file_at_most(path, kMaxPemFileBytes);
  if (file.status == FileText::Status::cannot_open) throw ConfigError(where + ": cannot read '" + path + "'");
  if (file.status == FileText::Status::too_large)
    throw ConfigError(where + ": '" + path + "' is larger than the " + std::to_string(kMaxPemFileBytes) +
                      " bytes gatehouse reads for a PEM file");
  return std::move(file.text);
}

// The PEM text entries of a comma-separated ssl_cert / ssl_cert_key list.
std::vector<std::string> read_pem_list(
    const std::string& raw, const std::string& key, const std::string& where,
    const std::function<std::string(const std::string&, const std::string&)>& resolve) {
  std::vector<std::string> out;
  if (trim(raw).empty() || iequals(trim(raw), "none")) return out;
  // Inline PEM contains no commas; paths are split on them.
  if (raw.find("-----BEGIN") != std::string::npos) return {raw};
  for (const auto& entry : split_list(raw)) out.push_back(read_pem(entry, key, where, resolve));
  return out;
}

// One certificate property pair (ssl_cert/ssl_cert_key or admin_ssl_cert/admin_ssl_cert_key):
// the PEM texts, one key per certificate, each key checked against its certificate.
void read_certificate_pairs(
    const std::string& cert_key, const std::string& key_key, std::vector<std::string>& certs,
    std::vector<std::string>& keys, const std::function<std::string(const std::string&)>& raw,
    const std::function<std::string(const std::string&)>& where,
    const std::function<std::string(const std::string&, const std::string&)>& resolve) {
  certs = read_pem_list(raw(cert_key), cert_key, where(cert_key), resolve);
  keys = read_pem_list(raw(key_key), key_key, where(key_key), resolve);
  if (certs.size() != keys.size())
    throw ConfigError(where(key_key) + ": " + std::to_string(keys.size()) + " key(s) for " +
                      std::to_string(certs.size()) + " certificate(s) in " + cert_key +
                      " (one key per certificate)");
  for (size_t i = 0; i < certs.size(); ++i) {
    std::string which = certs.size() > 1 ? " (entry " + std::to_string(i + 1) + ")" : "";
    if (auto e = check_certificates(certs[i]); !e.empty())
      throw ConfigError(where(cert_key) + which + ": " + e);
    if (auto e = check_private_key(keys[i]); !e.empty()) throw ConfigError(where(key_key) + which + ": " + e);
    if (auto e = check_key_matches(certs[i], keys[i]); !e.empty())
      throw ConfigError(where(key_key) + which + ": " + e);
  }
}

void read_protocols(TlsSettings& ssl, const std::string& text, const std::string& where) {
  int low = 99, high = -1;
  for (const auto& name : split_list(text, ' ')) {
    int rank = protocol_rank(name);
    if (rank < 0)
      throw ConfigError(where + ": unknown protocol '" + name + "' (expected TLSv1.2 and/or TLSv1.3)");
    low = std::min(low, rank);
    high = std::max(high, rank);
  }
  if (high < 0) throw ConfigError(where + ": no protocol listed");
  ssl.min_version = protocol_order()[static_cast<size_t>(low)];
  ssl.max_version = protocol_order()[static_cast<size_t>(high)];
}

// OpenSSL is the judge of a cipher list: one it cannot use is refused at load, not at start.
void check_cipher_list(const std::string& ciphers, const std::string& where) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (ctx && SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) == 1) return;
  throw ConfigError(where + ": OpenSSL accepts no cipher in '" + ciphers + "'");
}

bool parse_switch(const std::string& text, const std::string& where) {
  auto value = parse_bool(text);
  if (!value) throw ConfigError(where + ": expected on or off");
  return *value;
}

// nginx's ssl_verify_client / ssl_client_certificate for the admin server block.
AdminClientVerify read_admin_client_verify(
    const std::function<std::string(const std::string&)>& raw,
    const std::function<std::string(const std::string&)>& where,
    const std::function<std::string(const std::string&, const std::string&)>& resolve) {
  static const std::string kMode = "nginx_admin_ssl_verify_client",
                           kCa = "nginx_admin_ssl_client_certificate";
  AdminClientVerify out;
  if (!trim(raw("nginx_admin_ssl_verify_depth")).empty())
    throw ConfigError(where("nginx_admin_ssl_verify_depth") +
                      ": not supported (chains are checked to OpenSSL's depth)");
  const std::string mode = to_lower(trim(raw(kMode)));
  if (mode.empty() || mode == "off") return out;
  if (mode == "on")
    out.mode = AdminClientVerify::Mode::on;
  else if (mode == "optional")
    out.mode = AdminClientVerify::Mode::optional;
  else
    throw ConfigError(where(kMode) + ": expected on, off or optional");
  const std::string ca = std::string(trim(raw(kCa)));
  if (ca.empty()) throw ConfigError(where(kMode) + ": needs " + kCa + " (the CA that signs admin clients)");
  out.ca_pem = read_pem(ca, kCa, where(kCa), resolve);
  if (out.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    throw ConfigError(where(kCa) + ": no PEM certificate in it");
  return out;
}

}  // namespace

void fill_tls_settings(Properties& p, const std::function<std::string(const std::string&)>& raw,
                       const std::function<std::string(const std::string&)>& where,
                       const std::function<std::string(const std::string&, const std::string&)>& resolve) {
  auto& ssl = p.ssl;
  read_certificate_pairs("ssl_cert", "ssl_cert_key", ssl.certs, ssl.keys, raw, where, resolve);
  read_certificate_pairs("admin_ssl_cert", "admin_ssl_cert_key", p.admin_ssl_certs, p.admin_ssl_keys, raw,
                         where, resolve);
  p.admin_client_verify = read_admin_client_verify(raw, where, resolve);
  read_protocols(ssl, raw("ssl_protocols"), where("ssl_protocols"));
  ssl.cipher_suite = to_lower(trim(raw("ssl_cipher_suite")));
  ssl.prefer_server_ciphers =
      parse_switch(raw("ssl_prefer_server_ciphers"), where("ssl_prefer_server_ciphers"));
  if (ssl.cipher_suite == "custom") {
    ssl.ciphers = std::string(trim(raw("ssl_ciphers")));
    if (ssl.ciphers.empty() || iequals(ssl.ciphers, "none"))
      throw ConfigError(where("ssl_ciphers") + ": must be set when ssl_cipher_suite is 'custom'");
  } else {
    auto suite = cipher_suites().find(ssl.cipher_suite);
    if (suite == cipher_suites().end())
      throw ConfigError(where("ssl_cipher_suite") + ": unknown suite '" + ssl.cipher_suite +
                        "' (expected modern, intermediate, old or custom)");
    ssl.ciphers = suite->second.ciphers;
    ssl.prefer_server_ciphers = suite->second.prefer_server_ciphers;
    if (*suite->second.min_version &&
        protocol_rank(ssl.min_version) < protocol_rank(suite->second.min_version)) {
      ssl.min_version = suite->second.min_version;
      if (protocol_rank(ssl.max_version) < protocol_rank(ssl.min_version))
        throw ConfigError(where("ssl_protocols") + ": the 'modern' cipher suite needs TLSv1.3");
    }
  }
  if (!ssl.ciphers.empty()) check_cipher_list(ssl.ciphers, where("ssl_ciphers"));
  ssl.session_tickets = parse_switch(raw("ssl_session_tickets"), where("ssl_session_tickets"));
  ssl.session_timeout_seconds = parse_seconds(raw("ssl_session_timeout"), where("ssl_session_timeout"));
}

}  // namespace gh::conf
