// The authentication plugins' pure parts against Kong's behaviour (spec/03-plugins/09-key-auth,
// 10-basic-auth, 16-jwt, 18-acl): tokens are signed here with OpenSSL, keys made per run.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>

#include "auth/acl.h"
#include "auth/base64.h"
#include "auth/basic.h"
#include "auth/entities.h"
#include "auth/jwt.h"
#include "auth/key.h"
#include "conf/credentials.h"
#include "conf/pem.h"

namespace gh::auth {
namespace {

using json = nlohmann::json;
using KeyPtr = std::shared_ptr<EVP_PKEY>;
constexpr int64_t kNow = 1'700'000'000;

KeyPtr make_key(const char* type, const char* curve_or_bits) {
  std::string kind = type;
  EVP_PKEY* key = kind == "RSA"  ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                  : kind == "EC" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_or_bits)
                                 : EVP_PKEY_Q_keygen(nullptr, nullptr, type);  // ED25519, ED448
  return KeyPtr(key, EVP_PKEY_free);
}

std::string public_pem(const KeyPtr& key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key.get());
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

// `pss_salt`: the salt length for PS* (RFC 7518 wants the hash's size; other sizes test refusal).
std::string sign_with_key(const std::string& alg, const KeyPtr& key, const std::string& input,
                          int pss_salt = RSA_PSS_SALTLEN_DIGEST) {
  const EVP_MD* md = alg == "EdDSA"         ? nullptr
                     : alg.ends_with("256") ? EVP_sha256()
                     : alg.ends_with("384") ? EVP_sha384()
                                            : EVP_sha512();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* key_ctx = nullptr;
  size_t size = 0;
  EVP_DigestSignInit(ctx, &key_ctx, md, nullptr, key.get());
  if (alg.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(key_ctx, pss_salt);
  }
  EVP_DigestSign(ctx, nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(size, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &size,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(size);
  if (!alg.starts_with("ES")) return sig;
  size_t half = alg == "ES256" ? 32 : alg == "ES384" ? 48 : 66;  // DER → JOSE's r||s
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
  std::string raw(2 * half, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + half,
               static_cast<int>(half));
  ECDSA_SIG_free(ecdsa);
  return raw;
}

std::string make_token(const json& header, const json& claims, const std::string& secret,
                       const KeyPtr& key = nullptr) {
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  std::string alg =
      header.contains("alg") && header["alg"].is_string() ? header["alg"].get<std::string>() : "";
  std::string sig;
  if (alg.starts_with("HS")) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    const EVP_MD* md = alg == "HS256" ? EVP_sha256() : alg == "HS384" ? EVP_sha384() : EVP_sha512();
    HMAC(md, secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
    sig.assign(reinterpret_cast<char*>(mac), size);
  } else if (key) {
    sig = sign_with_key(alg, key, input);
  }
  return input + "." + base64url_encode(sig);
}

Jwt decoded(const std::string& token) {
  auto result = decode_jwt(token);
  EXPECT_TRUE(result.jwt.has_value()) << result.error;
  return result.jwt.value_or(Jwt{});
}

TEST(Base64, BothAlphabetsWithOrWithoutPadding) {
  EXPECT_EQ(base64_decode("Ym9iOmtvbmc="), "bob:kong");
  EXPECT_EQ(base64_decode("Ym9iOmtvbmc"), "bob:kong");
  EXPECT_EQ(base64_decode("-_8"), std::string("\xfb\xff", 2));
  EXPECT_EQ(base64_decode("+/8="), std::string("\xfb\xff", 2));
  EXPECT_EQ(base64_decode("Ym9i!"), std::nullopt);
  EXPECT_EQ(base64_decode("Y"), std::nullopt);
  for (std::string text : {"", "a", "ab", "abc", "abcd", "\xff\x00\x10 binary"})
    EXPECT_EQ(base64_decode(base64url_encode(text)), text);
}

TEST(BasicAuth, ParsesAsKongDoes) {
  auto bob = parse_basic_authorization("Basic Ym9iOmtvbmc=");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->username, "bob");
  EXPECT_EQ(bob->password, "kong");
  auto colon = parse_basic_authorization("basic   dXNlcjMyMTpwYXNzd29yZDoxMjM=");  // user321:password:123
  ASSERT_TRUE(colon);
  EXPECT_EQ(colon->username, "user321");
  EXPECT_EQ(colon->password, "password:123");
  EXPECT_FALSE(parse_basic_authorization("foobar"));
  EXPECT_FALSE(parse_basic_authorization("Basic a29uZw=="));  // "kong": no ':'
  EXPECT_FALSE(parse_basic_authorization("Basic Ym9i"));      // "bob"
  EXPECT_FALSE(parse_basic_authorization("Basic !!!"));
  EXPECT_FALSE(parse_basic_authorization("Basic "));
  EXPECT_FALSE(parse_basic_authorization("Bearer Ym9iOmtvbmc="));
  auto empty_password = parse_basic_authorization("Basic " + base64url_encode("u:"));
  ASSERT_TRUE(empty_password);
  EXPECT_EQ(empty_password->password, "");
}

TEST(BasicAuth, PasswordCheckUsesKongsHash) {
  auto stored = conf::basic_auth_password_hash("consumer-1", "OpenSesame");
  EXPECT_TRUE(basic_password_matches("consumer-1", "OpenSesame", stored));
  EXPECT_FALSE(basic_password_matches("consumer-1", "opensesame", stored));
  EXPECT_FALSE(basic_password_matches("consumer-2", "OpenSesame", stored));
  EXPECT_FALSE(basic_password_matches("consumer-1", "OpenSesame", ""));
}

KeySource table(std::map<std::string, Lookup> values) {
  return [values](std::string_view name) {
    auto it = values.find(std::string(name));
    return it == values.end() ? Lookup{} : it->second;
  };
}

TEST(KeyAuth, HeaderThenQueryThenBodyPerName) {
  KeySources sources{table({{"apikey", {Lookup::one, "from-header"}}}),
                     table({{"apikey", {Lookup::one, "from-query"}}, {"other", {Lookup::one, "q2"}}}),
                     table({{"other", {Lookup::one, "from-body"}}})};
  auto found = find_api_key({"apikey"}, sources);
  EXPECT_EQ(found.outcome, KeySearch::found);
  EXPECT_EQ(found.key, "from-header");
  EXPECT_EQ(find_api_key({"other"}, sources).key, "q2");
  sources.query = nullptr;  // key_in_query: false
  EXPECT_EQ(find_api_key({"other"}, sources).key, "from-body");
  sources.body = nullptr;
  EXPECT_EQ(find_api_key({"other"}, sources).outcome, KeySearch::missing);
}

TEST(KeyAuth, RepeatsAreDuplicatesAndOtherValuesAreSkipped) {
  KeySources sources{nullptr, table({{"a", {Lookup::other, ""}}, {"b", {Lookup::many, ""}}}), nullptr};
  EXPECT_EQ(find_api_key({"a"}, sources).outcome, KeySearch::missing);
  EXPECT_EQ(find_api_key({"a", "b"}, sources).outcome, KeySearch::duplicate);
  EXPECT_EQ(key_header_name("Api_Key"), "api-key");
}

TEST(Acl, AllowAndDenyAsKong) {
  auto admitted = decide_acl({"admin", "dev"}, {}, {"dev", "ops"});
  EXPECT_FALSE(admitted.blocked);
  EXPECT_EQ(admitted.groups_header, "dev, ops");
  EXPECT_TRUE(decide_acl({"admin"}, {}, {"dev"}).blocked);
  EXPECT_TRUE(decide_acl({"admin"}, {}, {}).blocked);
  EXPECT_TRUE(decide_acl({}, {"banned"}, {"ok", "banned"}).blocked);
  auto no_groups = decide_acl({}, {"banned"}, {});
  EXPECT_FALSE(no_groups.blocked);
  EXPECT_EQ(no_groups.groups_header, "");
}

TEST(Jwt, Hs256VerifiesAndAForgedSignatureDoesNot) {
  for (std::string alg : {"HS256", "HS384", "HS512"}) {
    auto token = make_token({{"alg", alg}, {"typ", "JWT"}}, {{"iss", "k"}}, "secret");
    auto jwt = decoded(token);
    EXPECT_EQ(jwt.alg, alg);
    EXPECT_EQ(jwt.claims["iss"], "k");
    EXPECT_TRUE(verify_jwt_signature(jwt, "secret", nullptr)) << alg;
    EXPECT_FALSE(verify_jwt_signature(jwt, "other", nullptr)) << alg;
  }
  auto forged = make_token({{"alg", "HS256"}}, {{"iss", "k"}, {"admin", true}}, "guess");
  EXPECT_FALSE(verify_jwt_signature(decoded(forged), "secret", nullptr));
}

TEST(Jwt, AlgNoneAndUnknownAlgorithmsAreRefused) {
  auto none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(R"({"iss":"k"})") + ".";
  EXPECT_EQ(decode_jwt(none).error, "invalid alg");
  EXPECT_EQ(decode_jwt(make_token({{"alg", "PS128"}}, {{"iss", "k"}}, "")).error, "invalid alg");
  EXPECT_EQ(decode_jwt(make_token({{"alg", "EDDSA"}}, {{"iss", "k"}}, "")).error, "invalid alg");
  EXPECT_EQ(decode_jwt(make_token({{"alg", "Ed25519"}}, {{"iss", "k"}}, "")).error, "invalid alg");
  EXPECT_EQ(decode_jwt(make_token({{"typ", "JWT"}}, {{"iss", "k"}}, "")).error, "invalid alg");
  EXPECT_EQ(decode_jwt(make_token({{"alg", 256}}, {{"iss", "k"}}, "")).error, "invalid alg");
}

TEST(Jwt, MalformedTokensSayWhy) {
  EXPECT_EQ(decode_jwt("").error, "invalid JSON");
  EXPECT_EQ(decode_jwt("a.b").error, "invalid JSON");
  EXPECT_EQ(decode_jwt("!!.??.x").error, "invalid JSON");
  auto header = base64url_encode(R"({"alg":"HS256"})");
  EXPECT_EQ(decode_jwt(header + "." + base64url_encode("[1]") + ".x").error, "invalid claims");
  EXPECT_EQ(decode_jwt(header + "." + base64url_encode("{}") + ".!!").error, "invalid signature");
  std::string deep(100, '[');
  EXPECT_EQ(decode_jwt(header + "." + base64url_encode("{\"a\":" + deep + "}") + ".x").error, "invalid JSON");
  auto extra_dots = decode_jwt(header + "." + base64url_encode("{}") + ".a.b");
  EXPECT_EQ(extra_dots.error, "invalid signature");  // the signature keeps the dot, as in Kong
}

TEST(Jwt, RsaAndEcdsaVerifyWithThePublicKeyParsedAtLoad) {
  struct Case {
    std::string alg;
    KeyPtr key;
  };
  auto rsa = make_key("RSA", nullptr);
  for (const auto& [alg, key] :
       {Case{"RS256", rsa}, Case{"RS384", rsa}, Case{"RS512", rsa}, Case{"PS256", rsa}, Case{"PS384", rsa},
        Case{"PS512", rsa}, Case{"ES256", make_key("EC", "P-256")}, Case{"ES384", make_key("EC", "P-384")},
        Case{"ES512", make_key("EC", "P-521")}, Case{"EdDSA", make_key("ED25519", nullptr)},
        Case{"EdDSA", make_key("ED448", nullptr)}}) {
    std::string error;
    auto loaded = conf::read_public_key(public_pem(key), error);
    ASSERT_TRUE(loaded) << error;
    EXPECT_EQ(conf::jwt_key_problem(alg, loaded.get()), "") << alg;
    auto jwt = decoded(make_token({{"alg", alg}}, {{"iss", "k"}}, "", key));
    EXPECT_TRUE(verify_jwt_signature(jwt, "", loaded.get())) << alg;
    jwt.signing_input += "x";
    EXPECT_FALSE(verify_jwt_signature(jwt, "", loaded.get())) << alg;
    EXPECT_FALSE(verify_jwt_signature(jwt, "", nullptr)) << alg;
  }
  auto ec = make_key("EC", "P-256");
  auto jwt = decoded(make_token({{"alg", "ES256"}}, {{"iss", "k"}}, "", ec));
  jwt.signature.pop_back();  // not 64 bytes
  EXPECT_FALSE(verify_jwt_signature(jwt, "", ec.get()));
  EXPECT_NE(conf::jwt_key_problem("ES384", ec.get()), "");
  EXPECT_NE(conf::jwt_key_problem("RS256", ec.get()), "");
}

TEST(Jwt, PssAndEddsaRefuseTheWrongPaddingKeyOrSalt) {
  auto rsa = make_key("RSA", nullptr);
  auto ed = make_key("ED25519", nullptr);
  auto input = base64url_encode(R"({"alg":"PS256"})") + "." + base64url_encode(R"({"iss":"k"})");
  auto pss = decoded(input + "." + base64url_encode(sign_with_key("PS256", rsa, input)));
  EXPECT_TRUE(verify_jwt_signature(pss, "", rsa.get()));
  // A PKCS#1 v1.5 signature under a PS256 header, or a PSS one with another salt size, fails.
  auto pkcs1 = decoded(input + "." + base64url_encode(sign_with_key("RS256", rsa, input)));
  EXPECT_FALSE(verify_jwt_signature(pkcs1, "", rsa.get()));
  auto short_salt = decoded(input + "." + base64url_encode(sign_with_key("PS256", rsa, input, 8)));
  EXPECT_FALSE(verify_jwt_signature(short_salt, "", rsa.get()));
  // The wrong kind of key fails quietly, whichever way round.
  EXPECT_FALSE(verify_jwt_signature(pss, "", ed.get()));
  auto eddsa = decoded(make_token({{"alg", "EdDSA"}}, {{"iss", "k"}}, "", ed));
  EXPECT_TRUE(verify_jwt_signature(eddsa, "", ed.get()));
  EXPECT_FALSE(verify_jwt_signature(eddsa, "", rsa.get()));
  EXPECT_FALSE(verify_jwt_signature(eddsa, "", make_key("EC", "P-256").get()));
  eddsa.signature[0] ^= 1;
  EXPECT_FALSE(verify_jwt_signature(eddsa, "", ed.get()));
  EXPECT_NE(conf::jwt_key_problem("PS256", ed.get()), "");
  EXPECT_NE(conf::jwt_key_problem("EdDSA", rsa.get()), "");
  EXPECT_EQ(conf::jwt_key_problem("EdDSA", ed.get()), "");
  EXPECT_TRUE(conf::is_jwt_algorithm("EdDSA"));
  EXPECT_FALSE(conf::is_jwt_algorithm("eddsa"));
}

TEST(Jwt, RegisteredClaimsAndMaximumExpiration) {
  auto jwt = decoded(make_token({{"alg", "HS256"}}, {{"exp", kNow + 60}, {"nbf", kNow - 60}}, "s"));
  EXPECT_EQ(verify_registered_claims(jwt, {"exp", "nbf"}, kNow), json::object());
  EXPECT_EQ(verify_registered_claims(jwt, {"exp"}, kNow + 60), (json{{"exp", "token expired"}}));
  EXPECT_EQ(verify_registered_claims(jwt, {"nbf"}, kNow - 61), (json{{"nbf", "token not valid yet"}}));
  EXPECT_EQ(check_maximum_expiration(jwt, 30, kNow), (json{{"exp", "exceeds maximum allowed expiration"}}));
  EXPECT_EQ(check_maximum_expiration(jwt, 60, kNow), json::object());
  EXPECT_EQ(check_maximum_expiration(jwt, 0, kNow), json::object());
  auto text = decoded(make_token({{"alg", "HS256"}}, {{"exp", "soon"}}, "s"));
  EXPECT_EQ(verify_registered_claims(text, {"exp", "nbf"}, kNow),
            (json{{"exp", "must be a number"}, {"nbf", "must be a number"}}));
}

TEST(Jwt, FindingTheToken) {
  EXPECT_EQ(bearer_token("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(bearer_token("  bearer   abc"), "abc");
  EXPECT_EQ(bearer_token("Bearerabc"), std::nullopt);
  EXPECT_EQ(bearer_token("Basic abc"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
  EXPECT_EQ(cookie_value("a=1; jwt=tok; jwt=second", "jwt"), "tok");
  EXPECT_EQ(cookie_value("a=1", "jwt"), std::nullopt);
  EXPECT_EQ(choose_token({}).outcome, TokenSearch::none);
  EXPECT_EQ(choose_token({"", ""}).outcome, TokenSearch::none);
  auto same = choose_token({"t", "", "t"});
  EXPECT_EQ(same.outcome, TokenSearch::one);
  EXPECT_EQ(same.token, "t");
  EXPECT_EQ(choose_token({"t", "u"}).outcome, TokenSearch::many);
}

TEST(Entities, KongsCredentialShapes) {
  conf::KeyAuthCredential key{"k-id", "c-id", "secret-key", 0, 0, {}};
  EXPECT_EQ(credential_entity(key),
            (json{{"id", "k-id"}, {"consumer", {{"id", "c-id"}}}, {"key", "secret-key"}}));
  conf::BasicAuthCredential basic{"b-id", "c-id", "user", "hash", {"t"}};
  EXPECT_EQ(credential_entity(basic), (json{{"id", "b-id"},
                                            {"consumer", {{"id", "c-id"}}},
                                            {"username", "user"},
                                            {"password", "hash"},
                                            {"tags", {"t"}}}));
  conf::JwtSecret jwt;
  jwt.id = "j-id", jwt.consumer_id = "c-id", jwt.key = "iss", jwt.secret = "s";
  EXPECT_EQ(credential_entity(jwt)["algorithm"], "HS256");
  EXPECT_FALSE(credential_entity(jwt).contains("rsa_public_key"));
}

}  // namespace
}  // namespace gh::auth
