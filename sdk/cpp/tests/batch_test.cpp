// The embedded server over Gatehouse:1 (docs/protocol.md), with the test playing the gateway: the
// hello switches a connection, prefetched reads are answered locally, writes come back batched in
// order with the end of the event, a read after a write of the same data goes to the gateway (after
// the writes), the reads that missed are reported once, and kong.response.exit ends the handler's
// calls without closing the connection. Declared reads (pdk::Reads): the `gatehouse.declare` frames
// before StartInstance's RpcReturn carry exactly the bytes the real calls send.
#include <gatehouse/pdk/reads.h>
#include <gatehouse/pdk/server.h>
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "proto/gatehouse.pb.h"
#include "proto/pluginsocket.pb.h"
#include "support.h"

namespace {

using namespace pdk_test;
using namespace std::chrono_literals;
namespace pb = kong_plugin_protocol;
namespace gp = gatehouse_protocol;
namespace pdk = gatehouse::pdk;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string string_msg(const std::string& v) {
  pb::String s;
  s.set_v(v);
  return s.SerializeAsString();
}

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<Process>(std::vector<std::string>{TEST_PLUGIN, "-kong-prefix", prefix},
                                       (dir.path() / "stderr.log").string());
    ASSERT_TRUE(wait_for_socket(socket));
    conn = std::make_unique<GatewayConn>(socket);
    conn->write_frame("Gatehouse:1");
  }

  int start_instance(const std::string& config, GatewayConn* on = nullptr) {
    return start_declaring(config, on).first;
  }

  // StartInstance, and the declaration that came before its RpcReturn (if any).
  std::pair<int, std::optional<gp::Declaration>> start_declaring(const std::string& config,
                                                                 GatewayConn* on = nullptr) {
    GatewayConn& c = on ? *on : *conn;
    pb::RpcCall call;
    call.set_sequence(2);
    call.mutable_cmd_start_instance()->set_name("pdk_test_plugin");
    call.mutable_cmd_start_instance()->set_config(config);
    c.write_frame(call.SerializeAsString());
    std::optional<gp::Declaration> declaration;
    auto frame = c.read_frame();
    if (frame == "gatehouse.declare") {
      auto args = c.read_frame();
      declaration.emplace();
      EXPECT_TRUE(args && declaration->ParseFromString(*args));
      frame = c.read_frame();
    }
    pb::RpcReturn ret;
    EXPECT_TRUE(frame && ret.ParseFromString(*frame));
    return {ret.instance_status().instance_id(), declaration};
  }

  void send_event(std::int64_t seq, int instance, const gp::Reads& prefetched) {
    pb::RpcCall call;
    call.set_sequence(seq);
    call.mutable_cmd_handle_event()->set_instance_id(instance);
    call.mutable_cmd_handle_event()->set_event_name("access");
    conn->write_frame(call.SerializeAsString());
    conn->write_frame(prefetched.SerializeAsString());
  }

  // The next call the plugin sends: (method, args).
  std::pair<std::string, std::string> next_call() {
    auto method = conn->read_frame();
    auto args = method && !method->empty() ? conn->read_frame() : std::optional<std::string>("");
    EXPECT_TRUE(method && args);
    return {method.value_or(""), args.value_or("")};
  }

  void expect_end(std::int64_t seq) {
    EXPECT_EQ(conn->read_frame(), "");
    pb::RpcReturn ret;
    auto frame = conn->read_frame();
    ASSERT_TRUE(frame && ret.ParseFromString(*frame));
    EXPECT_EQ(ret.sequence(), seq);
  }

  TempDir dir;
  std::string prefix = dir.path().string();
  std::string socket = prefix + "/pdk_test_plugin.socket";
  std::unique_ptr<Process> server;
  std::unique_ptr<GatewayConn> conn;
};

gp::Reads header_a_prefetched(const std::string& value) {
  gp::Reads reads;
  auto* read = reads.add_reads();
  read->set_method("kong.request.get_header");
  read->set_args(string_msg("x-a"));
  read->set_reply(string_msg(value));
  // what the ctx.shared.get would have answered before the plugin's own write: must not be used
  read = reads.add_reads();
  read->set_method("kong.ctx.shared.get");
  read->set_args(string_msg("k"));
  google::protobuf::Value stale;
  stale.set_string_value("stale");
  read->set_reply(stale.SerializeAsString());
  return reads;
}

TEST_F(BatchTest, PrefetchedReadsAreLocalWritesAreBatchedAndAReadAfterAWriteAsksTheGateway) {
  int id = start_instance(R"({"mode":"batch","__seq__":3})");
  send_event(3, id, header_a_prefetched("A"));
  // nothing was sent for the two prefetched reads: the first frames are the queued writes, then the
  // read that follows a write of its data
  auto [m1, a1] = next_call();
  EXPECT_EQ(m1, "kong.response.set_header");
  pb::KV got;
  ASSERT_TRUE(got.ParseFromString(a1));
  EXPECT_EQ(got.k(), "x-got");
  EXPECT_EQ(got.v().string_value(), "A,A");
  EXPECT_EQ(next_call().first, "kong.ctx.shared.set");
  auto [m3, a3] = next_call();
  EXPECT_EQ(m3, "kong.ctx.shared.get");
  EXPECT_EQ(a3, string_msg("k"));
  google::protobuf::Value fresh;
  fresh.set_string_value("written");
  conn->write_frame(fresh.SerializeAsString());
  auto [m4, a4] = next_call();
  EXPECT_EQ(m4, "kong.response.set_header");
  pb::KV shared;
  ASSERT_TRUE(shared.ParseFromString(a4));
  EXPECT_EQ(shared.v().string_value(), "written");
  // the read that missed is reported (the prefetched ones are not)
  auto [m5, a5] = next_call();
  EXPECT_EQ(m5, "gatehouse.learn");
  gp::Reads report;
  ASSERT_TRUE(report.ParseFromString(a5));
  ASSERT_EQ(report.reads_size(), 1);
  EXPECT_EQ(report.reads(0).method(), "kong.ctx.shared.get");
  EXPECT_EQ(report.reads(0).args(), string_msg("k"));
  expect_end(3);
}

TEST_F(BatchTest, MissedReadsAreAskedForAndReportedOncePerInstance) {
  int id = start_instance(R"({"mode":"batch","__seq__":4})");
  for (int seq : {3, 4}) {
    send_event(seq, id, gp::Reads());
    for (int i = 0; i < 2; ++i) {  // both get_header calls go out: nothing was prefetched
      EXPECT_EQ(next_call(), std::make_pair(std::string("kong.request.get_header"), string_msg("x-a")));
      conn->write_frame(string_msg("B"));
    }
    EXPECT_EQ(next_call().first, "kong.response.set_header");
    EXPECT_EQ(next_call().first, "kong.ctx.shared.set");
    EXPECT_EQ(next_call().first, "kong.ctx.shared.get");
    google::protobuf::Value value;
    value.set_string_value("written");
    conn->write_frame(value.SerializeAsString());
    EXPECT_EQ(next_call().first, "kong.response.set_header");
    if (seq == 3) {
      auto [method, args] = next_call();
      EXPECT_EQ(method, "gatehouse.learn");
      gp::Reads report;
      ASSERT_TRUE(report.ParseFromString(args));
      EXPECT_EQ(report.reads_size(), 2);  // get_header x-a (once) and ctx.shared.get k
    }
    expect_end(seq);
  }
}

TEST_F(BatchTest, ExitEndsTheHandlersCallsButNotTheConnection) {
  int id = start_instance(R"({"mode":"exit","__seq__":5})");
  for (int seq : {3, 4}) {
    send_event(seq, id, gp::Reads());
    EXPECT_EQ(next_call().first, "kong.response.set_header");
    auto [method, args] = next_call();
    EXPECT_EQ(method, "kong.response.exit");
    pb::ExitArgs exit;
    ASSERT_TRUE(exit.ParseFromString(args));
    EXPECT_EQ(exit.status(), 403);
    expect_end(seq);  // x-after and the log line threw locally: nothing else was sent
  }
}

TEST_F(BatchTest, AConnectionWithoutTheHelloIsPlainProtoBuf) {
  int id = start_instance(R"({"mode":"exit","__seq__":6})");
  GatewayConn classic(socket);
  pb::RpcCall call;
  call.set_sequence(3);
  call.mutable_cmd_handle_event()->set_instance_id(id);
  call.mutable_cmd_handle_event()->set_event_name("access");
  classic.write_frame(call.SerializeAsString());
  EXPECT_EQ(classic.read_frame(), "kong.response.set_header");  // no Reads frame expected, sent at once
  classic.read_frame();
  classic.write_frame("");
  EXPECT_EQ(classic.read_frame(), "kong.response.exit");
}

namespace declared {

struct None {
  void access(pdk::Kong&) {}
};
struct Static {
  static pdk::Reads reads(std::string_view) { return {}; }
};
struct Const {
  pdk::Reads reads(std::string_view) const { return {}; }
};
struct Mutable {
  pdk::Reads reads(std::string_view) { return {}; }
};
struct WrongType {
  std::vector<std::string> reads(std::string_view) const { return {}; }
};
static_assert(!pdk::detail::DeclaresReads<None>);
static_assert(pdk::detail::DeclaresReads<Static>);
static_assert(pdk::detail::DeclaresReads<Const>);
static_assert(pdk::detail::DeclaresReads<Mutable>);
static_assert(!pdk::detail::DeclaresReads<WrongType>);

}  // namespace declared

TEST(Reads, RecordsEachCallsWireNameAndArgumentsOnceAndAnswersZeroValues) {
  pdk::Reads reads;
  EXPECT_TRUE(reads.empty());
  auto& kong = reads.kong();
  EXPECT_EQ(kong.request.get_header("x-a"), "");
  EXPECT_EQ(kong.request.get_header("x-a"), "");
  EXPECT_EQ(kong.client.get_port(), 0);
  EXPECT_EQ(kong.client.get_consumer(), std::nullopt);
  EXPECT_TRUE(kong.ctx.shared.get("k").is_null());
  kong.response.set_header("x-w", "1");  // recorded: the gateway refuses it (and says so)
  pb::KV write;
  write.set_k("x-w");
  write.mutable_v()->set_string_value("1");
  const std::vector<pdk::Reads::Call> expected = {{"kong.request.get_header", string_msg("x-a")},
                                                  {"kong.client.get_port", ""},
                                                  {"kong.client.get_consumer", ""},
                                                  {"kong.ctx.shared.get", string_msg("k")},
                                                  {"kong.response.set_header", write.SerializeAsString()}};
  EXPECT_EQ(reads.calls(), expected);
  pdk::Reads moved = std::move(reads);
  EXPECT_EQ(moved.calls(), expected);
  EXPECT_TRUE(reads.empty());  // NOLINT(bugprone-use-after-move): a moved-from Reads is empty
}

TEST(Reads, TypedCtxSharedGettersDeclareTheGetTheyMake) {
  pdk::Reads reads;
  EXPECT_EQ(reads.kong().ctx.shared.get_string("s"), "");  // no "expected type" on the null
  EXPECT_EQ(reads.kong().ctx.shared.get_number("n"), 0);
  const std::vector<pdk::Reads::Call> expected = {{"kong.ctx.shared.get", string_msg("s")},
                                                  {"kong.ctx.shared.get", string_msg("n")}};
  EXPECT_EQ(reads.calls(), expected);
}

TEST_F(BatchTest, DeclaredReadsComeBeforeTheRpcReturnWithTheBytesTheRealCallsSend) {
  auto [id, declaration] = start_declaring(R"({"mode":"declare","__seq__":7})");
  ASSERT_TRUE(declaration.has_value()) << "no gatehouse.declare before the RpcReturn";
  ASSERT_EQ(declaration->phases().size(), 1u);  // only access declares
  const auto& access = declaration->phases().at("access");
  ASSERT_EQ(access.reads_size(), 2);
  // Nothing prefetched: the handler asks for each read; its frames must equal the declared ones.
  send_event(3, id, gp::Reads());
  EXPECT_EQ(next_call(), std::make_pair(access.reads(0).method(), access.reads(0).args()));
  conn->write_frame(string_msg("A"));
  EXPECT_EQ(next_call(), std::make_pair(access.reads(0).method(), access.reads(0).args()));
  conn->write_frame(string_msg("A"));
  EXPECT_EQ(next_call().first, "kong.response.set_header");
  EXPECT_EQ(next_call().first, "kong.ctx.shared.set");
  EXPECT_EQ(next_call(), std::make_pair(access.reads(1).method(), access.reads(1).args()));
  google::protobuf::Value fresh;
  fresh.set_string_value("written");
  conn->write_frame(fresh.SerializeAsString());
  EXPECT_EQ(next_call().first, "kong.response.set_header");
  EXPECT_EQ(next_call().first, "gatehouse.learn");
  expect_end(3);
}

TEST_F(BatchTest, DeclaredReadsAreAnsweredLocallyFromTheFirstEvent) {
  auto [id, declaration] = start_declaring(R"({"mode":"declare","__seq__":8})");
  ASSERT_TRUE(declaration.has_value());
  send_event(3, id, header_a_prefetched("A"));  // what a gateway sends for the declared get_header
  auto [method, args] = next_call();
  EXPECT_EQ(method, "kong.response.set_header");  // both get_header calls were answered locally
  pb::KV got;
  ASSERT_TRUE(got.ParseFromString(args));
  EXPECT_EQ(got.v().string_value(), "A,A");
}

TEST_F(BatchTest, NoDeclarationWithoutTheHelloOrWhenNothingOrSomethingBrokenIsDeclared) {
  GatewayConn classic(socket);  // ProtoBuf:1: Kong would not know the pseudo-call
  EXPECT_FALSE(start_declaring(R"({"mode":"declare","__seq__":9})", &classic).second.has_value());
  EXPECT_FALSE(start_declaring(R"({"mode":"batch","__seq__":10})").second.has_value());
  // reads() throwing: logged, the instance starts anyway, without a declaration
  auto [id, declaration] = start_declaring(R"({"mode":"declare-throw","__seq__":11})");
  EXPECT_FALSE(declaration.has_value());
  EXPECT_EQ(id, 11);
  EXPECT_NE(
      read_file(dir.path() / "stderr.log").find("the reads of access are not declared: no declaration today"),
      std::string::npos);
}

}  // namespace
