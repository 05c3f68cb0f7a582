#include "key_auth.h"

#include <gatehouse/pdk/testkit.h>
#include <gtest/gtest.h>

namespace pdk = gatehouse::pdk;

namespace {

cpp_key_auth::Plugin make_plugin(pdk::Value extra = pdk::Value::object()) {
  pdk::Value config = {{"consumers",
                        {{{"username", "alice"}, {"id", "c-alice"}, {"key", "k-alice"}},
                         {{"username", "bob"}, {"key", "k-bob"}}}}};
  config.update(extra);
  return cpp_key_auth::Plugin(pdk::testing::config<cpp_key_auth::Config>(config));
}

}  // namespace

TEST(CppKeyAuth, AKnownKeyAuthenticatesItsConsumerAndIsHidden) {
  auto plugin = make_plugin();
  pdk::testing::Gateway gw;
  gw.request.headers["apikey"] = {"k-alice"};
  gw.service_response.status = 200;
  gw.run_request(plugin);
  EXPECT_EQ(gw.response.status, 200);
  ASSERT_TRUE(gw.consumer.has_value());
  EXPECT_EQ(gw.consumer->id, "c-alice");
  EXPECT_EQ(gw.consumer->username, "alice");
  EXPECT_EQ(gw.credential->consumer_id, "c-alice");
  EXPECT_EQ(gw.upstream.headers.header("x-consumer-username"), "alice");
  EXPECT_FALSE(gw.upstream.headers.has("apikey"));
}

TEST(CppKeyAuth, ConsumerIdDefaultsToUsernameAndKeyCanBeKept) {
  auto plugin = make_plugin({{"key_name", "x-api-key"}, {"hide_credentials", false}});
  pdk::testing::Gateway gw;
  gw.request.headers["x-api-key"] = {"k-bob"};
  gw.run_request(plugin);
  EXPECT_EQ(gw.consumer->id, "bob");
  EXPECT_EQ(gw.upstream.headers.header("x-consumer-id"), "bob");
  EXPECT_EQ(gw.upstream.headers.header("x-api-key"), "k-bob");
}

TEST(CppKeyAuth, MissingOrWrongKeyIs401) {
  auto plugin = make_plugin();
  for (std::string key : {"", "nope"}) {
    pdk::testing::Gateway gw;
    if (!key.empty()) gw.request.headers["apikey"] = {key};
    gw.run_request(plugin);
    EXPECT_EQ(gw.response.status, 401);
    EXPECT_TRUE(gw.response.exited);
    EXPECT_EQ(gw.response.header("www-authenticate"), "Key realm=\"gatehouse\"");
    EXPECT_EQ(pdk::Value::parse(gw.response.body)["message"],
              key.empty() ? "No API key found in request" : "Invalid authentication credentials");
    EXPECT_FALSE(gw.consumer.has_value());
  }
}

TEST(CppKeyAuth, ConfigIsValidated) {
  EXPECT_THROW(pdk::testing::config<cpp_key_auth::Config>(), pdk::ConfigError);  // consumers required
  EXPECT_THROW(pdk::testing::config<cpp_key_auth::Config>({{"consumers", {{{"username", "x"}}}}}),
               pdk::ConfigError);  // key required
  auto schema = pdk::config_schema<cpp_key_auth::Config>();
  EXPECT_EQ(schema["fields"][2]["consumers"]["elements"]["type"], "record");
  EXPECT_EQ(schema["fields"][0]["key_name"]["default"], "apikey");
}
