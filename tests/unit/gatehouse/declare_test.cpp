// Declared reads (docs/protocol.md "Declaring reads"): the `gatehouse.declare` pseudo-call a plugin
// server sends before the RpcReturn of cmd_start_instance seeds what the instance's events prefetch,
// from the very first one and for every worker's client; a write, an unknown method, a read with
// effects or an undecodable declaration is refused without failing the start.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "../protobuf/support.h"
#include "pluginserver/gatehouse/client.h"
#include "pluginserver/protobuf/methods.h"
#include "proto/gatehouse.pb.h"
#include "proto/pluginsocket.pb.h"

namespace gh::pluginserver::gatehouse {
namespace {

namespace asio = boost::asio;
namespace kp = kong_plugin_protocol;
namespace gp = gatehouse_protocol;
namespace test = protobuf::test;
using namespace std::chrono_literals;
using nlohmann::json;

using test::string_message;

std::string declare_frames(const std::string& declaration) {
  return test::frame("gatehouse.declare") + test::frame(declaration);
}

std::string declaration(const std::string& phase,
                        const std::vector<std::pair<std::string, std::string>>& reads) {
  gp::Declaration declared;
  auto& out = (*declared.mutable_phases())[phase];
  for (const auto& [method, args] : reads) {
    auto* read = out.add_reads();
    read->set_method(method);
    read->set_args(args);
  }
  return declared.SerializeAsString();
}

// The plugin side of cmd_start_instance: `before` (the declaration, or nothing), then the RpcReturn.
void answer_start(test::ScriptServer& s, int fd, std::int32_t id, const std::string& before) {
  kp::RpcCall call;
  auto frame = s.read_frame(fd);
  if (!frame || !call.ParseFromString(*frame) || !call.has_cmd_start_instance())
    return s.fail("expected a start");
  kp::RpcReturn ret;
  ret.set_sequence(call.sequence());
  ret.mutable_instance_status()->set_name(call.cmd_start_instance().name());
  ret.mutable_instance_status()->set_instance_id(id);
  s.write_all(fd, before + test::frame(ret));
}

// One event: the Reads frame the gateway sent with it, and the plugin's end of the handler.
gp::Reads answer_event(test::ScriptServer& s, int fd) {
  kp::RpcCall call;
  gp::Reads prefetched;
  auto frame = s.read_frame(fd);
  if (!frame || !call.ParseFromString(*frame) || !call.has_cmd_handle_event()) s.fail("expected an event");
  auto reads = s.read_frame(fd);
  if (!reads || !prefetched.ParseFromString(*reads)) s.fail("expected the Reads frame");
  kp::RpcReturn ret;
  ret.set_sequence(call.sequence());
  s.write_all(fd, test::frame(std::string()) + test::frame(ret));
  return prefetched;
}

struct HeaderPdk : PdkHandler {
  std::vector<std::string> calls;
  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json args) override {
    calls.emplace_back(method);
    if (method == "kong.request.get_header") co_return PdkResult::ok(args[0].get<std::string>() + "-value");
    co_return PdkResult::nil();
  }
};

struct Declare : testing::Test {
  test::ScriptServer server;
  asio::io_context io;
  HeaderPdk pdk;
  std::shared_ptr<PrefetchPlan> plan = std::make_shared<PrefetchPlan>();  // the server's, all workers'
  Client client{io.get_executor(), server.path(), 2s, plan};

  void TearDown() override {
    server.join();
    for (const auto& f : server.failures()) ADD_FAILURE() << "server: " << f;
  }
};

TEST_F(Declare, TheFirstEventPrefetchesTheDeclaredReadsAndTheOthersAreRefused) {
  gp::Reads first;
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    if (s.read_frame(fd) != "Gatehouse:1") s.fail("no hello");
    answer_start(s, fd, 7,
                 declare_frames(declaration("access", {{"kong.request.get_header", string_message("x-a")},
                                                       {"kong.response.set_header", ""},
                                                       {"kong.nope.get_thing", ""},
                                                       {"kong.client.load_consumer", string_message("bob")},
                                                       {"kong.client.get_ip", ""}})));
    first = answer_event(s, fd);
  });
  auto status = test::run(io, client.start_instance("p", R"({"__seq__":7})"));
  EXPECT_EQ(status.id, 7);
  test::run(io, client.handle_event(7, "access", pdk));
  server.join();
  ASSERT_EQ(first.reads_size(), 2);
  EXPECT_EQ(first.reads(0).method(), "kong.request.get_header");
  EXPECT_EQ(first.reads(0).args(), string_message("x-a"));
  kp::String reply;
  ASSERT_TRUE(reply.ParseFromString(first.reads(0).reply()));
  EXPECT_EQ(reply.v(), "x-a-value");
  EXPECT_EQ(first.reads(1).method(), "kong.client.get_ip");
  // only the two reads ran: the declared write, the unknown method and load_consumer did not
  EXPECT_EQ(pdk.calls, (std::vector<std::string>{"kong.request.get_header", "kong.client.get_ip"}));
}

TEST_F(Declare, WithoutADeclarationTheStartIsAsBefore) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    answer_start(s, fd, 8, "");
    if (answer_event(s, fd).reads_size() != 0) s.fail("prefetched without a declaration");
  });
  EXPECT_EQ(test::run(io, client.start_instance("p", R"({"__seq__":8})")).id, 8);
  test::run(io, client.handle_event(8, "access", pdk));
  EXPECT_TRUE(client.plan().reads(8, "access").empty());
}

TEST_F(Declare, AnUndecodableDeclarationIsIgnored) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    answer_start(s, fd, 9, declare_frames("\xff\xff\xff not protobuf"));
    if (answer_event(s, fd).reads_size() != 0) s.fail("prefetched from junk");
  });
  EXPECT_EQ(test::run(io, client.start_instance("p", R"({"__seq__":9})")).id, 9);
  test::run(io, client.handle_event(9, "access", pdk));  // the connection is still in step
}

TEST_F(Declare, EveryWorkersClientOfTheServerSeesTheDeclaration) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    answer_start(s, fd, 10, declare_frames(declaration("rewrite", {{"kong.request.get_path", ""}})));
  });
  test::run(io, client.start_instance("p", R"({"__seq__":10})"));
  asio::io_context other_worker;
  Client other(other_worker.get_executor(), server.path(), 2s, plan);
  const auto plan = other.plan().reads(10, "rewrite");
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].method->name, "kong.request.get_path");
  EXPECT_TRUE(other.plan().reads(10, "access").empty());
}

TEST(DeclarePlan, AtMost32ReadsPerPhaseAndDuplicatesOnce) {
  PrefetchPlan plan;
  std::vector<std::pair<std::string, std::string>> reads;
  for (int i = 0; i < 40; ++i)
    reads.emplace_back("kong.request.get_header", string_message("h" + std::to_string(i)));
  reads.emplace_back("kong.request.get_header", string_message("h0"));
  auto refused = plan.declare(1, declaration("access", reads));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->size(), 8u);  // h32..h39; the repeated h0 is already there
  EXPECT_EQ(plan.reads(1, "access").size(), PrefetchPlan::kMaxReadsPerPhase);
  EXPECT_FALSE(plan.declare(1, "\xff\xff").has_value());
}

TEST(DeclarePlan, WhenFullNewPlansAreRefusedAndTheOthersKeptUntilInstancesClose) {
  PrefetchPlan plan;
  const auto path_read = declaration("access", {{"kong.request.get_path", ""}});
  const auto last = static_cast<std::int64_t>(PrefetchPlan::kMaxPlans) - 1;
  for (std::int64_t id = 0; id <= last; ++id) ASSERT_TRUE(plan.declare(id, path_read).has_value());
  ASSERT_TRUE(plan.declare(-1, path_read).has_value());
  EXPECT_TRUE(plan.reads(-1, "access").empty());  // refused: no room
  EXPECT_EQ(plan.reads(0, "access").size(), 1u);  // none of the others dropped
  EXPECT_EQ(plan.reads(last, "access").size(), 1u);
  // a plan that exists still learns
  ASSERT_TRUE(plan.declare(0, declaration("access", {{"kong.client.get_ip", ""}})).has_value());
  EXPECT_EQ(plan.reads(0, "access").size(), 2u);
  plan.forget(0);  // an instance closed: room for one
  ASSERT_TRUE(plan.declare(-1, path_read).has_value());
  EXPECT_EQ(plan.reads(-1, "access").size(), 1u);
  plan.clear();  // the server restarted
  EXPECT_TRUE(plan.reads(-1, "access").empty());
  EXPECT_TRUE(plan.reads(last, "access").empty());
}

}  // namespace
}  // namespace gh::pluginserver::gatehouse
