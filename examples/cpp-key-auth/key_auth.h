// cpp-key-auth: API-key authentication against a consumer list from the plugin's config.
// The key is read from a header; a known key authenticates its consumer
// (kong.client.authenticate), so later plugins and the log see who called; an unknown or missing
// key ends the request with 401, as Kong's key-auth does.
#pragma once

#include <gatehouse/pdk/pdk.h>

#include <string>
#include <vector>

namespace cpp_key_auth {

namespace pdk = gatehouse::pdk;

struct ConsumerKey {
  std::string username;
  std::string id;  // the consumer's id; defaults to the username
  std::string key;

  static auto fields() {
    return pdk::schema_fields(pdk::field("username", &ConsumerKey::username).required(),
                              pdk::field("id", &ConsumerKey::id),
                              pdk::field("key", &ConsumerKey::key).required());
  }
};

struct Config {
  std::string key_name = "apikey";  // the request header carrying the key
  bool hide_credentials = true;     // strip the key before proxying
  std::vector<ConsumerKey> consumers;

  static auto fields() {
    return pdk::schema_fields(pdk::field("key_name", &Config::key_name).with_default(),
                              pdk::field("hide_credentials", &Config::hide_credentials).with_default(),
                              pdk::field("consumers", &Config::consumers).required());
  }
};

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  void access(pdk::Kong& kong) const {
    std::string key = kong.request.get_header(config_.key_name);
    if (key.empty()) return reject(kong, "No API key found in request");
    const ConsumerKey* match = find(key);
    if (!match) return reject(kong, "Invalid authentication credentials");

    std::string consumer_id = match->id.empty() ? match->username : match->id;
    pdk::Consumer consumer;
    consumer.id = consumer_id;
    consumer.username = match->username;
    kong.client.authenticate(consumer, pdk::Credential{"key:" + match->username, consumer_id});
    kong.service.request.set_header("x-consumer-id", consumer_id);
    kong.service.request.set_header("x-consumer-username", match->username);
    if (config_.hide_credentials) kong.service.request.clear_header(config_.key_name);
  }

 private:
  const ConsumerKey* find(const std::string& key) const {
    for (const auto& c : config_.consumers)
      if (c.key == key) return &c;
    return nullptr;
  }

  static void reject(pdk::Kong& kong, const std::string& message) {
    kong.response.exit(
        401, pdk::Value{{"message", message}}.dump(),
        {{"Content-Type", {"application/json"}}, {"WWW-Authenticate", {"Key realm=\"gatehouse\""}}});
  }

  Config config_;
};

}  // namespace cpp_key_auth
