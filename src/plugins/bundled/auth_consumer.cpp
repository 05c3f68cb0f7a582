#include "plugins/bundled/auth_consumer.h"

#include "core/snapshot.h"
#include "pdk/shapes.h"

namespace gh::plugins::bundled {

const conf::Declarative& declarative(pdk::Kong& kong) {
  return kong.context().snapshot->config;
}

void set_consumer(pdk::Kong& kong, const conf::Consumer* consumer, core::EntityTable credential,
                  std::string_view credential_identifier) {
  static constexpr http::HeaderName kId("X-Consumer-ID"), kCustomId("X-Consumer-Custom-ID"),
      kUsername("X-Consumer-Username"), kCredential("X-Credential-Identifier"),
      kAnonymous("X-Anonymous-Consumer");
  bool has_credential = credential != nullptr;
  kong.client.authenticate(consumer, std::move(credential));
  auto& upstream = kong.service_request;
  auto set_or_clear = [&](http::HeaderName name, std::string_view value) {
    if (value.empty())
      upstream.clear_header(name);
    else
      upstream.set_header(name, value);
  };
  set_or_clear(kId, consumer ? std::string_view(consumer->id) : "");
  set_or_clear(kCustomId, consumer ? std::string_view(consumer->custom_id) : "");
  set_or_clear(kUsername, consumer ? std::string_view(consumer->username) : "");
  set_or_clear(kCredential, has_credential ? credential_identifier : "");
  set_or_clear(kAnonymous, has_credential ? "" : "true");
}

AuthFailure unauthorized(std::string message, std::string www_authenticate) {
  return {401, {{"message", std::move(message)}}, {{"WWW-Authenticate", std::move(www_authenticate)}}};
}

AuthFailure unexpected_error() {
  return {500, {{"message", "An unexpected error occurred"}}, {}};
}

void answer(pdk::Kong& kong, const AuthFailure& failure) {
  kong.response.exit_json(failure.status, failure.body, failure.headers);
}

bool set_anonymous_consumer(pdk::Kong& kong, const std::string& anonymous) {
  const auto& config = declarative(kong);
  const conf::Consumer* consumer = config.find_consumer(anonymous);
  if (!consumer) consumer = config.find_consumer_by_username(anonymous);
  if (!consumer) return false;
  set_consumer(kong, consumer, nullptr, "");
  return true;
}

bool authenticated_earlier(pdk::Kong& kong, const std::optional<std::string>& anonymous) {
  return anonymous && !kong.client.get_credential().is_null();
}

bool skip_preflight(pdk::Kong& kong, bool run_on_preflight) {
  return !run_on_preflight && kong.request.get_method() == "OPTIONS";
}

std::string remove_query_arg(std::string_view query, std::string_view name) {
  std::string out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pdk::url_decode(pair.substr(0, pair.find('='))) == name) continue;
    if (!out.empty()) out += '&';
    out += pair;
  }
  return out;
}

std::optional<std::string> optional_string(const nlohmann::json& config, const char* field) {
  auto it = config.find(field);
  if (it == config.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::vector<std::string> string_list(const nlohmann::json& config, const char* field) {
  std::vector<std::string> out;
  auto it = config.find(field);
  if (it == config.end() || !it->is_array()) return out;
  for (const auto& value : *it)
    if (value.is_string()) out.push_back(value.get<std::string>());
  return out;
}

}  // namespace gh::plugins::bundled
