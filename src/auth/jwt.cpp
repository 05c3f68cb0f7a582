#include "auth/jwt.h"

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>

#include "auth/base64.h"

namespace gh::auth {

namespace {

using json = nlohmann::json;

// Tokens and bodies are bounded in size, yet JSON nests without bound: deeper than this is not
// a token anyone signed or a body key-auth should walk.
constexpr int kMaxJsonDepth = 32;

std::optional<json> decode_json_segment(std::string_view segment) {
  auto text = base64_decode(segment);
  if (!text) return std::nullopt;
  return parse_bounded_json(*text);
}

const EVP_MD* digest_of(std::string_view alg) {
  std::string_view bits = alg.substr(2);
  if (bits == "256") return EVP_sha256();
  if (bits == "384") return EVP_sha384();
  if (bits == "512") return EVP_sha512();
  return nullptr;
}

bool is_verified_alg(std::string_view alg) {
  if (alg == "EdDSA") return true;
  return alg.size() == 5 &&
         (alg.starts_with("HS") || alg.starts_with("RS") || alg.starts_with("ES") || alg.starts_with("PS")) &&
         digest_of(alg) != nullptr;
}

bool verify_hmac(const Jwt& jwt, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!HMAC(digest_of(jwt.alg), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(jwt.signing_input.data()), jwt.signing_input.size(), mac,
            &size))
    return false;
  return jwt.signature.size() == size && CRYPTO_memcmp(mac, jwt.signature.data(), size) == 0;
}

enum class Padding { none, pss };

// `md` null for EdDSA, which hashes inside the algorithm. PSS as RFC 7518 3.5 says: MGF1 with the
// same hash, a salt as long as the hash; a key that is not RSA makes the padding call fail.
bool verify_with_key(const EVP_MD* md, const evp_pkey_st* key, std::string_view signing_input,
                     const std::string& signature, Padding padding = Padding::none) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* key_ctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &key_ctx, md, nullptr, const_cast<EVP_PKEY*>(key)) != 1)
    return false;
  if (padding == Padding::pss && (EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                  EVP_PKEY_CTX_set_rsa_pss_saltlen(key_ctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                                  EVP_PKEY_CTX_set_rsa_mgf1_md(key_ctx, md) != 1))
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

// JOSE signs ES* as r||s, each the curve's size; OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(std::string_view alg, const std::string& raw) {
  size_t half = alg == "ES256" ? 32 : alg == "ES384" ? 48 : 66;
  if (raw.size() != 2 * half) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + half, static_cast<int>(half), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r), BN_free(s), ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int size = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (size <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(size));
  OPENSSL_free(der);
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

}  // namespace

std::optional<json> parse_bounded_json(std::string_view text) {
  bool too_deep = false;
  json::parser_callback_t limit_depth = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  json value = json::parse(text, limit_depth, false);
  if (too_deep || value.is_discarded()) return std::nullopt;
  return value;
}

JwtDecode decode_jwt(std::string_view token) {
  // Kong splits into at most three parts: the signature keeps any further dots.
  size_t first = token.find('.');
  size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos) return {std::nullopt, "invalid JSON"};
  auto header = decode_json_segment(token.substr(0, first));
  auto claims = decode_json_segment(token.substr(first + 1, second - first - 1));
  if (!header || !claims) return {std::nullopt, "invalid JSON"};
  if (!header->is_object() || !header->contains("alg") || !(*header)["alg"].is_string() ||
      !is_verified_alg((*header)["alg"].get<std::string>()))
    return {std::nullopt, "invalid alg"};
  if (!claims->is_object()) return {std::nullopt, "invalid claims"};
  auto signature = base64_decode(token.substr(second + 1));
  if (!signature) return {std::nullopt, "invalid signature"};
  Jwt jwt;
  jwt.signing_input = std::string(token.substr(0, second));
  jwt.alg = (*header)["alg"].get<std::string>();
  jwt.header = std::move(*header);
  jwt.claims = std::move(*claims);
  jwt.signature = std::move(*signature);
  return {std::move(jwt), ""};
}

bool verify_jwt_signature(const Jwt& jwt, std::string_view secret, const evp_pkey_st* public_key) {
  if (jwt.alg.starts_with("HS")) return verify_hmac(jwt, secret);
  if (!public_key) return false;
  if (jwt.alg.starts_with("RS"))
    return verify_with_key(digest_of(jwt.alg), public_key, jwt.signing_input, jwt.signature);
  if (jwt.alg.starts_with("PS"))
    return EVP_PKEY_is_a(public_key, "RSA") &&
           verify_with_key(digest_of(jwt.alg), public_key, jwt.signing_input, jwt.signature, Padding::pss);
  if (jwt.alg == "EdDSA")
    return (EVP_PKEY_is_a(public_key, "ED25519") || EVP_PKEY_is_a(public_key, "ED448")) &&
           verify_with_key(nullptr, public_key, jwt.signing_input, jwt.signature);
  auto der = ecdsa_der(jwt.alg, jwt.signature);
  return der && verify_with_key(digest_of(jwt.alg), public_key, jwt.signing_input, *der);
}

json verify_registered_claims(const Jwt& jwt, const std::vector<std::string>& claims_to_verify, int64_t now) {
  json errors = json::object();
  for (const auto& name : claims_to_verify) {
    auto it = jwt.claims.find(name);
    if (it == jwt.claims.end() || !it->is_number()) {
      errors[name] = "must be a number";
      continue;
    }
    double value = it->get<double>();
    if (name == "nbf" && value > static_cast<double>(now)) errors[name] = "token not valid yet";
    if (name == "exp" && value <= static_cast<double>(now)) errors[name] = "token expired";
  }
  return errors;
}

json check_maximum_expiration(const Jwt& jwt, double maximum_expiration, int64_t now) {
  if (maximum_expiration <= 0) return json::object();
  auto exp = jwt.claims.find("exp");
  if (exp == jwt.claims.end() || !exp->is_number() ||
      exp->get<double>() - static_cast<double>(now) > maximum_expiration)
    return {{"exp", "exceeds maximum allowed expiration"}};
  return json::object();
}

std::optional<std::string> bearer_token(std::string_view value) {
  for (size_t at = 0; at + 7 <= value.size(); ++at) {
    if ((value[at] != 'B' && value[at] != 'b') || value.substr(at + 1, 5) != "earer" ||
        !is_space(value[at + 6]))
      continue;
    std::string_view rest = value.substr(at + 7);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    rest = rest.substr(0, rest.find('\n'));
    if (!rest.empty()) return std::string(rest);
  }
  return std::nullopt;
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
    while (!pair.empty() && is_space(pair.front())) pair.remove_prefix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    std::string_view v = pair.substr(eq + 1);
    while (!v.empty() && is_space(v.back())) v.remove_suffix(1);
    return v;
  }
  return std::nullopt;
}

TokenSearch choose_token(const std::vector<std::string>& candidates) {
  TokenSearch search;
  for (const auto& candidate : candidates) {
    if (candidate.empty() || (search.outcome == TokenSearch::one && candidate == search.token)) continue;
    if (search.outcome == TokenSearch::one) return {TokenSearch::many, {}};
    search = {TokenSearch::one, candidate};
  }
  return search;
}

}  // namespace gh::auth
