#include "hello.h"

#include <gatehouse/pdk/testkit.h>
#include <gtest/gtest.h>

namespace pdk = gatehouse::pdk;

TEST(CppHello, GreetsTheHostWithTheConfiguredMessage) {
  cpp_hello::Plugin plugin(pdk::testing::config<cpp_hello::Config>({{"message", "Kong!"}}));
  pdk::testing::Gateway gw;
  gw.request.headers["host"] = {"example.com"};
  gw.service_response.status = 200;
  gw.run_request(plugin);
  EXPECT_EQ(gw.response.status, 200);
  EXPECT_EQ(gw.response.header("x-hello-from-cpp"), "C++ says Kong! to example.com");
  EXPECT_EQ(gw.calls, (std::vector<std::string>{"kong.request.get_header", "kong.response.set_header"}));
}

TEST(CppHello, DefaultMessageAndSchema) {
  cpp_hello::Plugin plugin(pdk::testing::config<cpp_hello::Config>());
  pdk::testing::Gateway gw;
  gw.request.headers["host"] = {"a.test"};
  gw.run(plugin, "access");
  EXPECT_EQ(gw.response.header("x-hello-from-cpp"), "C++ says hello to a.test");
  EXPECT_EQ(pdk::config_schema<cpp_hello::Config>().dump(),
            R"({"type":"record","fields":[{"message":{"type":"string","default":"hello"}}]})");
  EXPECT_EQ(pdk::phases_of<cpp_hello::Plugin>(), std::vector<std::string>{"access"});
}

TEST(CppHello, DeclaresTheReadOfAccess) {
  // the declaration is the call access makes, byte for byte (pdk::Reads records the real encoding)
  cpp_hello::Plugin plugin(pdk::testing::config<cpp_hello::Config>());
  const auto access = plugin.reads("access").calls();
  ASSERT_EQ(access.size(), 1u);
  EXPECT_EQ(access[0].method, "kong.request.get_header");
  EXPECT_EQ(access[0].args, "\n\x04host");  // kong_plugin_protocol.String{v: "host"}
  EXPECT_TRUE(plugin.reads("log").empty());
}
