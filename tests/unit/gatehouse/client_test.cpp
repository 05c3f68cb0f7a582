// gatehouse::Client (Gatehouse:1, docs/protocol.md) against a scripted plugin server on a real Unix
// socket: the hello frame, the prefetch frame (learned from the plugin's report), writes applied in
// order and never answered, a non-prefetched read answered after the writes before it, exit in the
// middle of a batch, reports of reads that are not prefetchable, and a server dying mid-event.
#include "pluginserver/gatehouse/client.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/io_context.hpp>

#include "../protobuf/support.h"
#include "pluginserver/protobuf/connection.h"
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

std::string kv_arg(const std::string& k, const std::string& v) {
  kp::KV kv;
  kv.set_k(k);
  kv.mutable_v()->set_string_value(v);
  return kv.SerializeAsString();
}

std::string call_frames(const std::string& method, const std::string& args) {
  return test::frame(method) + test::frame(args);
}

std::string learn_frames(const std::vector<std::pair<std::string, std::string>>& reads) {
  gp::Reads report;
  for (const auto& [method, args] : reads) {
    auto* read = report.add_reads();
    read->set_method(method);
    read->set_args(args);
  }
  return call_frames("gatehouse.learn", report.SerializeAsString());
}

std::string end_frames(std::int64_t sequence) {
  kp::RpcReturn ret;
  ret.set_sequence(sequence);
  return test::frame(std::string()) + test::frame(ret);
}

// Answers get_header with "<name>-value", exit as terminal, everything else nil; records calls.
struct RecordingPdk : PdkHandler {
  std::vector<std::pair<std::string, json>> calls;
  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json args) override {
    calls.emplace_back(std::string(method), args);
    if (method == "kong.response.exit") co_return PdkResult{PdkResult::Status::terminal, {}, {}};
    if (method == "kong.request.get_header") co_return PdkResult::ok(args[0].get<std::string>() + "-value");
    co_return PdkResult::nil();
  }
  std::vector<std::string> methods() const {
    std::vector<std::string> out;
    for (const auto& c : calls) out.push_back(c.first);
    return out;
  }
};

// The plugin side of one event's opening: the RpcCall and the Reads frame that follows it.
struct EventStart {
  kp::RpcCall call;
  gp::Reads prefetched;
};

EventStart read_event(test::ScriptServer& s, int fd) {
  EventStart start;
  auto call = s.read_frame(fd);
  if (!call || !start.call.ParseFromString(*call) || !start.call.has_cmd_handle_event())
    s.fail("expected an event");
  auto reads = s.read_frame(fd);
  if (!reads || !start.prefetched.ParseFromString(*reads)) s.fail("expected the Reads frame");
  return start;
}

// True if nothing arrives on `fd` for a while (the gateway did not answer a write).
bool nothing_sent(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 100) == 0;
}

struct GatehouseClient : testing::Test {
  test::ScriptServer server;
  asio::io_context io;
  RecordingPdk pdk;
  std::shared_ptr<PrefetchPlan> plan = std::make_shared<PrefetchPlan>();
  Client client{io.get_executor(), server.path(), 2s, plan};

  protobuf::EventOutcome event(std::int64_t instance = 7, std::string phase = "access") {
    return test::run(io, client.handle_event(instance, phase, pdk));
  }
  void TearDown() override {
    server.join();
    for (const auto& f : server.failures()) ADD_FAILURE() << "server: " << f;
  }
};

TEST_F(GatehouseClient, SaysHelloThenLearnsAndPrefetchesFromTheNextEvent) {
  std::vector<gp::Reads> seen;
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    if (s.read_frame(fd) != "Gatehouse:1") s.fail("the first frame is not the hello");
    auto first = read_event(s, fd);
    seen.push_back(first.prefetched);
    s.write_all(fd, call_frames("kong.request.get_header", string_message("host")));
    if (!s.read_frame(fd)) s.fail("no reply to a non-prefetched read");
    s.write_all(fd, learn_frames({{"kong.request.get_header", string_message("host")}}) +
                        end_frames(first.call.sequence()));
    auto second = read_event(s, fd);  // same (pooled) connection: no second hello
    seen.push_back(second.prefetched);
    s.write_all(fd, end_frames(second.call.sequence()));
  });
  event();
  event();
  server.join();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].reads_size(), 0);
  ASSERT_EQ(seen[1].reads_size(), 1);
  EXPECT_EQ(seen[1].reads(0).method(), "kong.request.get_header");
  EXPECT_EQ(seen[1].reads(0).args(), string_message("host"));
  kp::String reply;
  ASSERT_TRUE(reply.ParseFromString(seen[1].reads(0).reply()));
  EXPECT_EQ(reply.v(), "host-value");  // exactly the ProtoBuf:1 reply frame's payload
  EXPECT_EQ(pdk.methods(), (std::vector<std::string>{"kong.request.get_header", "kong.request.get_header"}));
}

TEST_F(GatehouseClient, PrefetchesPerInstanceAndPhase) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    auto first = read_event(s, fd);
    s.write_all(fd, learn_frames({{"kong.request.get_header", string_message("a")}}) +
                        end_frames(first.call.sequence()));
    auto other_phase = read_event(s, fd);
    if (other_phase.prefetched.reads_size() != 0) s.fail("prefetched for another phase");
    s.write_all(fd, end_frames(other_phase.call.sequence()));
    auto other_instance = read_event(s, fd);
    if (other_instance.prefetched.reads_size() != 0) s.fail("prefetched for another instance");
    s.write_all(fd, end_frames(other_instance.call.sequence()));
  });
  event(7, "access");
  event(7, "log");
  event(8, "access");
  EXPECT_EQ(client.plan().reads(7, "access").size(), 1u);
}

TEST_F(GatehouseClient, WritesAreAppliedInOrderWithoutReplyAndReadsFollowThem) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    auto start = read_event(s, fd);
    s.write_all(fd, call_frames("kong.service.request.set_header", kv_arg("x-a", "1")) +
                        call_frames("kong.response.set_header", kv_arg("x-b", "2")) +
                        call_frames("kong.request.get_header", string_message("x-a")));
    auto reply = s.read_frame(fd);  // the only frame the gateway sends: the read's reply
    kp::String value;
    if (!reply || !value.ParseFromString(*reply) || value.v() != "x-a-value")
      s.fail("wrong reply to the read");
    s.write_all(fd, call_frames("kong.log.info", ""));
    if (!nothing_sent(fd)) s.fail("the gateway answered a write");
    s.write_all(fd, end_frames(start.call.sequence()));
  });
  auto outcome = event();
  EXPECT_FALSE(outcome.terminated);
  EXPECT_EQ(pdk.methods(),
            (std::vector<std::string>{"kong.service.request.set_header", "kong.response.set_header",
                                      "kong.request.get_header", "kong.log.info"}));
  EXPECT_EQ(pdk.calls[0].second, json({"x-a", "1"}));
}

TEST_F(GatehouseClient, ExitInTheMiddleOfABatchEndsTheEventAndKeepsTheConnection) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    auto start = read_event(s, fd);
    kp::ExitArgs exit;
    exit.set_status(403);
    s.write_all(fd, call_frames("kong.response.set_header", kv_arg("x-before", "1")) +
                        call_frames("kong.response.exit", exit.SerializeAsString()) +
                        call_frames("kong.response.set_header", kv_arg("x-after", "1")) +
                        call_frames("kong.request.get_header", string_message("host")));
    auto reply = s.read_frame(fd);  // a call after exit: not run, answered nil
    if (!reply || !reply->empty()) s.fail("a call after exit was not answered with nil");
    s.write_all(fd, end_frames(start.call.sequence()));
  });
  auto outcome = event();
  EXPECT_TRUE(outcome.terminated);
  EXPECT_EQ(pdk.methods(), (std::vector<std::string>{"kong.response.set_header", "kong.response.exit"}));
  EXPECT_EQ(protobuf::ConnectionPool::of(io.get_executor()).idle(server.path() + "\nGatehouse:1"), 1u);
}

TEST_F(GatehouseClient, OnlySideEffectFreeReadsAreLearned) {
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    auto start = read_event(s, fd);
    s.write_all(fd, learn_frames({{"kong.service.set_upstream", string_message("u")},
                                  {"kong.request.get_raw_body", ""},
                                  {"kong.nope.get_thing", ""},
                                  {"kong.client.get_ip", ""}}) +
                        end_frames(start.call.sequence()));
  });
  event();
  const auto& plan = client.plan().reads(7, "access");
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].method->name, "kong.client.get_ip");
  EXPECT_TRUE(pdk.calls.empty());  // a report is not a PDK call
}

TEST_F(GatehouseClient, ServerClosingMidEventIsInstanceGoneAndItsPlanIsForgotten) {
  gp::Reads learned;
  learned.add_reads()->set_method("kong.request.get_path");
  ASSERT_TRUE(plan->learn(7, "access", learned.SerializeAsString()));
  ASSERT_EQ(client.plan().reads(7, "access").size(), 1u);
  server.run([&](test::ScriptServer& s) {
    int fd = s.accept();
    s.read_frame(fd);
    read_event(s, fd);
    s.write_all(fd, call_frames("kong.response.set_header", kv_arg("x", "1")));
    s.close_fd(fd);
  });
  try {
    event();
    ADD_FAILURE() << "no error";
  } catch (const protobuf::RpcError& e) {
    EXPECT_TRUE(e.instance_lost()) << e.what();
  }
  // the prefetched read, then the write (applied before the close)
  EXPECT_EQ(pdk.methods(), (std::vector<std::string>{"kong.request.get_path", "kong.response.set_header"}));
  EXPECT_TRUE(client.plan().reads(7, "access").empty());  // its restart declares and learns again
}

TEST(Prefetchable, GettersAndTheOtherReadsButNotBodiesOrWrites) {
  EXPECT_TRUE(prefetchable("kong.request.get_header"));
  EXPECT_TRUE(prefetchable("kong.ctx.shared.get"));
  EXPECT_TRUE(prefetchable("kong.ip.is_trusted"));
  EXPECT_TRUE(prefetchable("kong.log.serialize"));
  EXPECT_FALSE(prefetchable("kong.request.get_raw_body"));
  EXPECT_FALSE(prefetchable("kong.service.response.get_raw_body"));
  EXPECT_FALSE(prefetchable("kong.client.load_consumer"));
  EXPECT_FALSE(prefetchable("kong.response.set_header"));
  EXPECT_FALSE(prefetchable("gatehouse.learn"));
}

}  // namespace
}  // namespace gh::pluginserver::gatehouse
