// What key-auth, basic-auth and jwt share (Kong repeats it in each handler): telling the
// upstream who authenticated, the anonymous fallback, and Kong's failure answers.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/entities.h"
#include "pdk/kong.h"

namespace gh::plugins::bundled {

// The configuration the request runs with (consumers and credentials).
const conf::Declarative& declarative(pdk::Kong& kong);

// Kong's set_consumer: kong.client.authenticate(consumer, credential), then X-Consumer-ID,
// X-Consumer-Custom-ID, X-Consumer-Username and X-Credential-Identifier set from them or cleared
// (a client cannot pass its own), X-Anonymous-Consumer: true only without a credential.
// `credential` is the snapshot's table (kong.client.shared_table), shared, not copied.
void set_consumer(pdk::Kong& kong, const conf::Consumer* consumer, core::EntityTable credential,
                  std::string_view credential_identifier);

// A failed authentication, as Kong's handlers return it: answered as is without `anonymous`.
struct AuthFailure {
  int status = 401;
  nlohmann::json body;  // {"message": ...}, or jwt's claim errors
  pdk::HeaderList headers;
};
AuthFailure unauthorized(std::string message, std::string www_authenticate);
AuthFailure unexpected_error();  // 500 {"message":"An unexpected error occurred"}

// Kong's logical OR / AND of authentication plugins. With `anonymous` set: an earlier plugin's
// credential stands (nothing runs), and a failure becomes the anonymous consumer (looked up by id,
// then username; one that does not exist answers 500). Without: a failure is answered.
// `authenticate(kong)` gives std::optional<AuthFailure> (none: it set the consumer).
template <typename Authenticate>
void run_authentication(pdk::Kong& kong, const std::optional<std::string>& anonymous,
                        Authenticate authenticate);

// Kong's logical OR: with `anonymous` set, a credential an earlier plugin authenticated stands.
bool authenticated_earlier(pdk::Kong& kong, const std::optional<std::string>& anonymous);

void answer(pdk::Kong& kong, const AuthFailure& failure);
bool set_anonymous_consumer(pdk::Kong& kong, const std::string& anonymous);

template <typename Authenticate>
void run_authentication(pdk::Kong& kong, const std::optional<std::string>& anonymous,
                        Authenticate authenticate) {
  if (authenticated_earlier(kong, anonymous)) return;
  std::optional<AuthFailure> failure = authenticate(kong);
  if (!failure) return;
  if (!anonymous) {
    answer(kong, *failure);
  } else if (!set_anonymous_consumer(kong, *anonymous)) {
    kong.log.err("anonymous consumer '" + *anonymous + "' is configured but doesn't exist");
    answer(kong, unexpected_error());
  }
}

// Kong's run_on_preflight: an OPTIONS request passes untouched when it is off.
bool skip_preflight(pdk::Kong& kong, bool run_on_preflight);

// The raw query string without the arguments named `name` (Kong's clear_query_arg); the others
// keep their order and encoding.
std::string remove_query_arg(std::string_view query, std::string_view name);

// Reads an optional string field of a validated config (absent or null: nullopt).
std::optional<std::string> optional_string(const nlohmann::json& config, const char* field);
std::vector<std::string> string_list(const nlohmann::json& config, const char* field);

}  // namespace gh::plugins::bundled
