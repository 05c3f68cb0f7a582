// The jwt plugin's token handling (plugins/jwt/jwt_parser.lua and handler.lua): finding the token
// in a request, decoding it, verifying its signature with OpenSSL, and checking the registered
// claims. Every failure carries Kong's words, which reach the client in the 401 body.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace gh::auth {

// JSON from a request (a token's segments, a body): nullopt when it does not parse or nests deeper
// than anything legitimate does (bounded time and stack whatever the client sends).
std::optional<nlohmann::json> parse_bounded_json(std::string_view text);

struct Jwt {
  std::string signing_input;  // "<header>.<claims>" as received: what the signature covers
  nlohmann::json header;      // objects, both
  nlohmann::json claims;
  std::string signature;  // raw bytes
  std::string alg;        // header.alg, one gatehouse verifies
};

// Kong's decode_token. On failure `error` is Kong's reason, shown as "Bad token; <reason>":
// "invalid JSON" (a segment that is not base64 JSON), "invalid alg" (missing, "none", or one
// gatehouse does not verify), "invalid claims", "invalid signature" (not base64).
struct JwtDecode {
  std::optional<Jwt> jwt;
  std::string error;
};
JwtDecode decode_jwt(std::string_view token);

// Verifies with `secret` (HS*) or `public_key` (RS*, PS*, ES*, EdDSA: parsed at load). ES
// signatures are JOSE's fixed-size r||s; another size fails. EdDSA takes an Ed25519 or Ed448 key.
// Never throws.
bool verify_jwt_signature(const Jwt& jwt, std::string_view secret, const evp_pkey_st* public_key);

// Kong's verify_registered_claims: for each of `claims_to_verify` ("exp", "nbf") an error entry
// ({"exp": "token expired"}, {"nbf": "must be a number"}, ...). Empty object: all good.
nlohmann::json verify_registered_claims(const Jwt& jwt, const std::vector<std::string>& claims_to_verify,
                                        int64_t now);
// Kong's check_maximum_expiration: {"exp": "exceeds maximum allowed expiration"} when the token
// has no exp or one further than `maximum_expiration` seconds away; empty otherwise.
nlohmann::json check_maximum_expiration(const Jwt& jwt, double maximum_expiration, int64_t now);

// The token of an Authorization-style value: Kong's `\s*[Bb]earer\s+(.+)`, nullopt when none.
std::optional<std::string> bearer_token(std::string_view header_value);
// The value of cookie `name` in a Cookie header (nginx's $cookie_<name>: the first one).
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

// Kong's retrieve_tokens outcome over every candidate found (query, cookies, headers), empty
// candidates dropped and repeats merged: none, one token, or several different ones.
struct TokenSearch {
  enum Outcome { none, one, many } outcome = none;
  std::string token;
};
TokenSearch choose_token(const std::vector<std::string>& candidates);

}  // namespace gh::auth
