// PdkCodec: argument frames recorded from the real go-pdk (conformance transcripts) decoded into
// Lua-call arguments (§6.6), and PDK results encoded the way Kong encodes them (§6.7).
#include <gtest/gtest.h>

#include "pluginserver/protobuf/convert.h"
#include "pluginserver/protobuf/errors.h"
#include "pluginserver/protobuf/pdk_codec.h"
#include "support.h"

namespace gh::pluginserver::protobuf {
namespace {

using nlohmann::json;

json bin(std::string_view s) {
  return json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
}

// The args frame of the `nth` (0-based) call of `method` in a transcript.
std::string recorded_args(const std::string& file, const std::string& method, int nth = 0) {
  const auto lines = test::load_transcript(file);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i)
    if (lines[i].note.kind == test::Note::Kind::method && lines[i].note.text == method && nth-- == 0)
      return test::payload_of(lines[i + 1]);
  ADD_FAILURE() << method << " not found in " << file;
  return {};
}

json decode(const std::string& method, const std::string& payload) {
  PdkCodec codec;
  return codec.decode_args(*find_pdk_method(method), payload);
}

// The reply payload (without length prefix) for `result`.
std::string encode(const std::string& method, const PdkResult& result) {
  PdkCodec codec;
  std::string out;
  codec.encode_result(*find_pdk_method(method), result, out);
  return out.substr(4);
}

TEST(CodecArgs, ScalarsAndEmpty) {
  EXPECT_EQ(decode("kong.request.get_header", recorded_args("go-pb-access.jsonl", "kong.request.get_header")),
            json::array({"host"}));
  EXPECT_EQ(
      decode("kong.request.get_headers", recorded_args("go-pb-access.jsonl", "kong.request.get_headers")),
      json::array({100}));
  EXPECT_EQ(decode("kong.client.get_ip", ""), json::array());
}

TEST(CodecArgs, KeyValueUnwrapsTheValue) {
  EXPECT_EQ(decode("kong.ctx.shared.set", recorded_args("go-pb-access.jsonl", "kong.ctx.shared.set", 1)),
            json::array({"conform.score", 7.5}));
  EXPECT_EQ(decode("kong.service.request.set_header",
                   recorded_args("go-pb-access.jsonl", "kong.service.request.set_header")),
            json::array({"x-conform-consumer", "alice"}));
}

TEST(CodecArgs, ListValueBecomesVarargs) {
  const auto args = decode("kong.log.info", recorded_args("go-pb-log.jsonl", "kong.log.info"));
  ASSERT_TRUE(args.is_array());
  ASSERT_GE(args.size(), 4u);
  EXPECT_EQ(args[0], "log ");
  EXPECT_EQ(args[1], 201);  // number_value 201 → a Lua (integral) number
  EXPECT_TRUE(args[1].is_number_integer());
}

TEST(CodecArgs, StructIsOneTableOfLists) {
  const auto args = decode("kong.service.request.set_query",
                           recorded_args("go-pb-access.jsonl", "kong.service.request.set_query"));
  ASSERT_EQ(args.size(), 1u);
  EXPECT_EQ(args[0]["color"], json::array({"red"}));
}

TEST(CodecArgs, BytesAreBinary) {
  EXPECT_EQ(decode("kong.service.request.set_raw_body",
                   recorded_args("go-pb-access.jsonl", "kong.service.request.set_raw_body")),
            json::array({bin(R"({"ITEM":"WIDGET","QTY":2})")}));
}

TEST(CodecArgs, ExitArgsAreStatusBodyHeaders) {
  const auto args = decode("kong.response.exit", recorded_args("go-pb-exit.jsonl", "kong.response.exit"));
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[0], 401);
  EXPECT_EQ(args[1], bin(R"({"message":"go-conform: credentials required"})"));
  EXPECT_EQ(args[2]["Content-Type"], json::array({"application/json"}));
}

TEST(CodecArgs, ExitWithoutBodyOrHeaders) {
  kong_plugin_protocol::ExitArgs exit;
  exit.set_status(204);
  EXPECT_EQ(decode("kong.response.exit", exit.SerializeAsString()), json::array({204, bin(""), nullptr}));
}

TEST(CodecArgs, AuthenticateArgsAreConsumerAndCredentialTables) {
  const auto args =
      decode("kong.client.authenticate", recorded_args("go-pb-access.jsonl", "kong.client.authenticate"));
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0]["username"], "alice");
  EXPECT_EQ(args[0]["id"], "8e1c4b0a-3f5d-4a6e-9b7c-1d2e3f405162");
  EXPECT_EQ(args[0]["created_at"], 1700000000);
  EXPECT_TRUE(args[0]["tags"].is_array());
  EXPECT_TRUE(args[1].is_object());
}

TEST(CodecArgs, TargetAndConsumerSpec) {
  kong_plugin_protocol::Target target;
  target.set_host("10.0.0.1");
  target.set_port(8080);
  EXPECT_EQ(decode("kong.service.set_target", target.SerializeAsString()), json::array({"10.0.0.1", 8080}));
  kong_plugin_protocol::ConsumerSpec spec;
  spec.set_id("bob");
  spec.set_by_username(true);
  EXPECT_EQ(decode("kong.client.load_consumer", spec.SerializeAsString()), json::array({"bob", true}));
}

TEST(CodecArgs, GarbageIsAProtocolError) {
  try {
    decode("kong.request.get_header", std::string("\x0a\xff\xff\xff", 4));
    FAIL();
  } catch (const RpcError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::protocol);
  }
}

TEST(CodecResults, NilScalarsAndEmptyAreZeroLength) {
  EXPECT_EQ(encode("kong.request.get_query_arg", PdkResult::nil()), "");
  EXPECT_EQ(encode("kong.service.set_upstream", PdkResult::fail("could not find an Upstream")), "");
  EXPECT_EQ(encode("kong.response.set_header", PdkResult::ok(true)), "");
  EXPECT_EQ(encode("kong.client.get_consumer", PdkResult::nil()), "");
}

TEST(CodecResults, ScalarsAreWrappedInV) {
  EXPECT_EQ(encode("kong.request.get_host", PdkResult::ok("api.example.test")),
            std::string("\x0a\x10", 2) + "api.example.test");
  EXPECT_EQ(encode("kong.client.get_port", PdkResult::ok(53211)), std::string("\x08\xdb\x9f\x03", 4));
  EXPECT_EQ(encode("kong.ip.is_trusted", PdkResult::ok(true)), std::string("\x08\x01", 2));
  kong_plugin_protocol::Number number;
  ASSERT_TRUE(number.ParseFromString(encode("kong.request.get_http_version", PdkResult::ok(1.1))));
  EXPECT_DOUBLE_EQ(number.v(), 1.1);
}

TEST(CodecResults, NilValueIsNullValueOne) {
  EXPECT_EQ(encode("kong.ctx.shared.get", PdkResult::nil()), std::string("\x08\x01", 2));
  google::protobuf::Value value;
  ASSERT_TRUE(value.ParseFromString(encode("kong.ctx.shared.get", PdkResult::ok(3))));
  EXPECT_EQ(value.number_value(), 3);
}

TEST(CodecResults, HeaderMapsAreStructsOfStringsListsAndFlags) {
  google::protobuf::Struct map;
  ASSERT_TRUE(map.ParseFromString(encode(
      "kong.request.get_query", PdkResult::ok({{"tag", {"a", "b"}}, {"color", "blue"}, {"debug", true}}))));
  EXPECT_EQ(map.fields().at("color").string_value(), "blue");
  EXPECT_EQ(map.fields().at("tag").list_value().values(1).string_value(), "b");
  EXPECT_TRUE(map.fields().at("debug").bool_value());
}

TEST(CodecResults, RawBodyContentOrError) {
  kong_plugin_protocol::RawBodyResult raw;
  ASSERT_TRUE(raw.ParseFromString(encode("kong.request.get_raw_body", PdkResult::ok(bin("{\"a\":1}")))));
  EXPECT_EQ(raw.content(), "{\"a\":1}");
  ASSERT_TRUE(raw.ParseFromString(encode("kong.request.get_raw_body", PdkResult::fail("too big"))));
  EXPECT_EQ(raw.error(), "too big");
  ASSERT_TRUE(raw.ParseFromString(encode("kong.request.get_raw_body", PdkResult::nil())));
  EXPECT_EQ(raw.error(), "Can't read request body");
}

// A body over client_body_buffer_size is in a file: the PDK fails (MsgPack's StepError) and names
// the file, which ProtoBuf sends as body_filepath, as Kong does.
TEST(CodecResults, RawBodyInAFileIsItsPath) {
  PdkResult in_file = PdkResult::fail("request body did not fit into client body buffer");
  in_file.value = {{"body_filepath", "/prefix/client_body_temp/body.Ab12Cd"}};
  kong_plugin_protocol::RawBodyResult raw;
  ASSERT_TRUE(raw.ParseFromString(encode("kong.request.get_raw_body", in_file)));
  EXPECT_EQ(raw.kind_case(), kong_plugin_protocol::RawBodyResult::kBodyFilepath);
  EXPECT_EQ(raw.body_filepath(), "/prefix/client_body_temp/body.Ab12Cd");
}

TEST(CodecResults, EntitiesByFieldNameDroppingWhatDoesNotFit) {
  const json route = {{"id", "r1"},
                      {"name", "items"},
                      {"paths", {"/a", "/b"}},
                      {"headers", {{"x-a", {"1"}}}},  // a map in Kong: does not fit repeated string
                      {"strip_path", true},
                      {"service", {{"id", "s1"}}},
                      {"unknown_key", 5}};
  kong_plugin_protocol::Route decoded;
  ASSERT_TRUE(decoded.ParseFromString(encode("kong.router.get_route", PdkResult::ok(route))));
  EXPECT_EQ(decoded.id(), "r1");
  EXPECT_EQ(decoded.paths_size(), 2);
  EXPECT_EQ(decoded.headers_size(), 0);
  EXPECT_TRUE(decoded.strip_path());
  EXPECT_EQ(decoded.service().id(), "s1");
}

TEST(CodecResults, UriCapturesNamedMap) {
  kong_plugin_protocol::UriCapturesResult captures;
  ASSERT_TRUE(
      captures.ParseFromString(encode("kong.request.get_uri_captures",
                                      PdkResult::ok({{"unnamed", {"v1"}}, {"named", {{"version", "v1"}}}}))));
  ASSERT_EQ(captures.unnamed_size(), 1);
  EXPECT_EQ(captures.named().at("version"), "v1");
}

}  // namespace
}  // namespace gh::pluginserver::protobuf
