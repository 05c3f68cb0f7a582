#include "tls/self_signed.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/log.h"
#include "tls/openssl.h"

namespace gh::tls {

namespace {

namespace fs = std::filesystem;
constexpr long kTenYears = 10L * 365 * 24 * 3600;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("generating the default certificate: " + what + ": " + last_error());
}

KeyPtr generate_key(KeyType type) {
  KeyPtr key(type == KeyType::rsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
  if (!key) fail("key generation");
  return key;
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext || X509_add_ext(cert, ext, -1) != 1) fail("certificate extension");
  X509_EXTENSION_free(ext);
}

std::string to_pem(const auto& write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) fail("PEM encoding");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Written to a temporary name and renamed, so a crash never leaves half a key behind.
void write_file(const fs::path& path, const std::string& text, mode_t mode) {
  fs::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), mode);
  fs::rename(tmp, path);
}

PemPair load_or_generate(const fs::path& dir, const std::string& name, KeyType type) {
  fs::path cert_path = dir / (name + ".crt");
  fs::path key_path = dir / (name + ".key");
  if (fs::exists(cert_path) && fs::exists(key_path)) return {read_file(cert_path), read_file(key_path)};
  spdlog::info("generating the default TLS certificate {}", cert_path.string());
  PemPair pair = generate_self_signed("localhost", type);
  write_file(key_path, pair.key, 0600);
  write_file(cert_path, pair.cert, 0644);
  return pair;
}

}  // namespace

PemPair generate_self_signed(const std::string& common_name, KeyType type) {
  KeyPtr key = generate_key(type);
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate clients with a slow clock
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kTenYears);
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto add_name = [&](const char* field, const std::string& value) {
    X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  };
  add_name("O", "gatehouse");
  add_name("CN", common_name);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  add_extension(cert.get(), NID_subject_alt_name, ("DNS:" + common_name).c_str());
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("signing");
  return {to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }), to_pem([&](BIO* b) {
            return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
          })};
}

std::vector<PemPair> default_certificates(const std::string& prefix, const std::string& name) {
  fs::path dir = fs::path(prefix) / "ssl";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  return {load_or_generate(dir, name, KeyType::rsa2048),
          load_or_generate(dir, name + "-ecdsa", KeyType::ecdsa_p256)};
}

}  // namespace gh::tls
