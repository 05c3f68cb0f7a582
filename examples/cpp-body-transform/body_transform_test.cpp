#include "body_transform.h"

#include <gatehouse/pdk/testkit.h>
#include <gtest/gtest.h>

namespace pdk = gatehouse::pdk;

TEST(CppBodyTransform, RewritesJsonBodies) {
  cpp_body_transform::Plugin plugin(pdk::testing::config<cpp_body_transform::Config>(
      {{"replace", {{"widget", "gadget"}, {"\"qty\"", "\"quantity\""}}}, {"prefix", "["}, {"suffix", "]"}}));
  pdk::testing::Gateway gw;
  gw.service_response.status = 201;
  gw.service_response.headers = {{"content-type", {"application/json"}}};
  gw.service_response.body = R"({"item":"widget","qty":2,"alt":"widget"})";
  gw.run_request(plugin);
  EXPECT_EQ(gw.response.status, 201);
  EXPECT_EQ(gw.response.body, R"([{"item":"gadget","quantity":2,"alt":"gadget"}])");
  EXPECT_EQ(gw.response.header("content-type"), "application/json");
  EXPECT_EQ(gw.response.header("x-body-transformed"), "cpp-body-transform");
}

TEST(CppBodyTransform, LeavesOtherContentTypesAlone) {
  cpp_body_transform::Plugin plugin(
      pdk::testing::config<cpp_body_transform::Config>({{"replace", {{"a", "b"}}}}));
  pdk::testing::Gateway gw;
  gw.service_response.headers = {{"content-type", {"image/png"}}};
  gw.service_response.body = "aaa";
  gw.run_request(plugin);
  EXPECT_EQ(gw.response.body, "aaa");
  EXPECT_FALSE(gw.response.exited);
  EXPECT_EQ(gw.calls, std::vector<std::string>{"kong.service.response.get_header"});
}

TEST(CppBodyTransform, ReplacementsDoNotRecurse) {
  EXPECT_EQ(cpp_body_transform::replace_all("aa", "a", "aa"), "aaaa");
  EXPECT_EQ(cpp_body_transform::replace_all("abc", "", "x"), "abc");
}
