// The embedded server as a process: flags, socket handling, concurrency, errors, SIGTERM.
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>

#include "proto/pluginsocket.pb.h"
#include "support.h"

namespace {

using namespace pdk_test;
using namespace std::chrono_literals;
namespace pb = kong_plugin_protocol;

std::string start_call(std::int64_t seq, const std::string& config) {
  pb::RpcCall call;
  call.set_sequence(seq);
  call.mutable_cmd_start_instance()->set_name("pdk_test_plugin");
  call.mutable_cmd_start_instance()->set_config(config);
  return call.SerializeAsString();
}

std::string event_call(std::int64_t seq, int instance, const std::string& phase = "access") {
  pb::RpcCall call;
  call.set_sequence(seq);
  call.mutable_cmd_handle_event()->set_instance_id(instance);
  call.mutable_cmd_handle_event()->set_event_name(phase);
  return call.SerializeAsString();
}

pb::RpcReturn read_return(GatewayConn& conn) {
  auto frame = conn.read_frame();
  EXPECT_TRUE(frame.has_value());
  pb::RpcReturn ret;
  EXPECT_TRUE(frame && ret.ParseFromString(*frame));
  return ret;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> argv{TEST_PLUGIN, "-kong-prefix", prefix};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    server = std::make_unique<Process>(argv, (dir.path() / "stderr.log").string());
    ASSERT_TRUE(wait_for_socket(socket));
  }
  // The scheduling policy of every live thread of the server (sched_getscheduler per /proc
  // task). A thread listed in /proc can end before it is asked (a connection thread of an
  // earlier probe finishing): ESRCH means "gone", not a policy, so it is skipped.
  std::set<int> thread_policies() const {
    std::set<int> policies;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(server->pid()) + "/task")) {
      int policy = sched_getscheduler(std::stoi(task.path().filename().string()));
      if (policy == -1 && errno == ESRCH) continue;
      policies.insert(policy);
    }
    return policies;
  }
  // Starts an instance with `config` on a fresh connection; returns its id.
  int start_instance(const std::string& config) {
    GatewayConn conn(socket);
    conn.write_frame(start_call(2, config));
    return read_return(conn).instance_status().instance_id();
  }

  TempDir dir;
  std::string prefix = dir.path().string();
  std::string socket = prefix + "/pdk_test_plugin.socket";
  std::unique_ptr<Process> server;
};

TEST_F(ServerTest, FlagsLikeGoPdk) {
  auto [help_code, help_out] = run_capture(std::string(TEST_PLUGIN) + " -help 2>&1");
  EXPECT_EQ(help_code, 2);
  EXPECT_NE(help_out.find("-kong-prefix"), std::string::npos);
  EXPECT_NE(help_out.find("-scheduling"), std::string::npos);
  EXPECT_EQ(run_capture(std::string(TEST_PLUGIN) + " -no-such-flag 2>/dev/null").first, 2);
  auto [bad_code, bad_out] = run_capture(std::string(TEST_PLUGIN) + " -scheduling=fifo -dump 2>&1");
  EXPECT_EQ(bad_code, 2);
  EXPECT_NE(bad_out.find("invalid value \"fifo\" for flag -scheduling"), std::string::npos) << bad_out;
  EXPECT_EQ(run_capture(std::string(TEST_PLUGIN) + " -dump -scheduling 2>/dev/null").first, 2);  // no value

  auto [code, out] = run_capture(std::string(TEST_PLUGIN) + " --dump -kong-prefix=/opt/kp");
  EXPECT_EQ(code, 0);
  auto dump = nlohmann::json::parse(out);
  EXPECT_EQ(dump["SocketPath"], "/opt/kp/pdk_test_plugin.socket");
  EXPECT_EQ(dump["Plugins"][0]["Phases"], nlohmann::json::array({"access"}));
  EXPECT_EQ(dump["Plugins"][0]["Priority"], 5);
  EXPECT_EQ(dump["Plugins"][0]["Schema"]["fields"][0]["config"]["fields"][0]["delay_ms"],
            (nlohmann::json{{"type", "integer"}, {"default", 0}}));
  EXPECT_EQ(run_capture(std::string(TEST_PLUGIN) + " -dump")
                    .second.find("/usr/local/kong/pdk_test_plugin.socket") != std::string::npos,
            true);
}

TEST_F(ServerTest, ConnectionThreadsRunSchedBatchByDefault) {
  start();
  GatewayConn conn(socket);  // a connection thread exists while this is open
  conn.write_frame(start_call(2, R"({"__seq__":5})"));
  EXPECT_EQ(read_return(conn).instance_status().instance_id(), 5);
  EXPECT_EQ(thread_policies(), std::set<int>{SCHED_BATCH});
}

TEST_F(ServerTest, SchedulingNormalKeepsSchedOther) {
  start({"-scheduling", "normal"});
  GatewayConn conn(socket);
  conn.write_frame(start_call(2, R"({"__seq__":5})"));
  EXPECT_EQ(read_return(conn).instance_status().instance_id(), 5);
  EXPECT_EQ(thread_policies(), std::set<int>{SCHED_OTHER});
}

TEST_F(ServerTest, ReplacesAStaleSocketFile) {
  { std::ofstream(socket) << "stale"; }
  start();
  EXPECT_GT(start_instance(R"({"__seq__":7})"), 0);
}

TEST_F(ServerTest, InstanceIdIsSeqElseRandom) {
  start();
  EXPECT_EQ(start_instance(R"({"__seq__":42})"), 42);
  int random_id = start_instance(R"({"delay_ms":1})");
  EXPECT_GT(random_id, 0);
  EXPECT_NE(random_id, 42);
}

TEST_F(ServerTest, ServesEventsConcurrently) {
  start();
  int id = start_instance(R"({"delay_ms":400,"__seq__":3})");
  constexpr int kConnections = 8;
  auto begin = std::chrono::steady_clock::now();
  std::vector<std::future<std::string>> events;
  for (int i = 0; i < kConnections; ++i) {
    events.push_back(std::async(std::launch::async, [&, i] {
      GatewayConn conn(socket);
      conn.write_frame(event_call(10 + i, id));
      std::string trace = *conn.read_frame(5s);  // method name
      conn.read_frame(5s);                       // its argument
      conn.write_frame("");                      // reply: nil
      trace += conn.read_frame(5s)->empty() ? " end" : " ?";
      trace += " seq=" + std::to_string(read_return(conn).sequence() - 10 - i);
      return trace;
    }));
  }
  for (auto& e : events) EXPECT_EQ(e.get(), "kong.response.set_header end seq=0");
  // Sequential service would take 8 × 400 ms.
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
}

TEST_F(ServerTest, UnknownInstanceClosesTheConnection) {
  start();
  GatewayConn conn(socket);
  conn.write_frame(event_call(2, 999));
  EXPECT_EQ(conn.read_frame(), std::nullopt);
  GatewayConn close(socket);
  pb::RpcCall call;
  call.set_sequence(3);
  call.mutable_cmd_close_instance()->set_instance_id(999);
  close.write_frame(call.SerializeAsString());
  EXPECT_EQ(close.read_frame(), std::nullopt);
}

TEST_F(ServerTest, CloseInstanceRepliesThenForgetsIt) {
  start();
  int id = start_instance(R"({"__seq__":5})");
  GatewayConn conn(socket);
  pb::RpcCall call;
  call.set_sequence(4);
  call.mutable_cmd_close_instance()->set_instance_id(id);
  conn.write_frame(call.SerializeAsString());
  auto ret = read_return(conn);
  EXPECT_EQ(ret.sequence(), 4);
  EXPECT_EQ(ret.instance_status().name(), "---");
  EXPECT_EQ(ret.instance_status().instance_id(), 5);
  conn.write_frame(event_call(5, id));
  EXPECT_EQ(conn.read_frame(), std::nullopt);  // "no plugin instance": closed
}

TEST_F(ServerTest, BadConfigClosesTheConnection) {
  start();
  GatewayConn conn(socket);
  conn.write_frame(start_call(2, R"({"delay_ms":"soon"})"));
  EXPECT_EQ(conn.read_frame(), std::nullopt);
}

TEST_F(ServerTest, PluginNamesAndInfoGetAZeroLengthFrame) {
  start();
  GatewayConn conn(socket);
  pb::RpcCall call;
  call.set_sequence(2);
  call.mutable_cmd_get_plugin_names();
  conn.write_frame(call.SerializeAsString());
  EXPECT_EQ(conn.read_frame(), std::string());
}

TEST_F(ServerTest, GarbageAndOversizedFramesDropOnlyThatConnection) {
  start();
  {
    GatewayConn conn(socket);
    conn.write_frame("\xff\xff\xff garbage");
    EXPECT_EQ(conn.read_frame(), std::nullopt);
  }
  {
    GatewayConn conn(socket);
    conn.write_raw(std::string("\xff\xff\xff\x7f", 4));  // ~2 GiB announced
    EXPECT_EQ(conn.read_frame(), std::nullopt);
  }
  EXPECT_EQ(start_instance(R"({"__seq__":9})"), 9);  // still serving
}

TEST_F(ServerTest, AThrowingHandlerLogsAndAnswers500) {
  start();
  int id = start_instance(R"({"fail":true,"__seq__":6})");
  GatewayConn conn(socket);
  conn.write_frame(event_call(3, id));
  EXPECT_EQ(conn.read_frame(), "kong.log.err");
  google::protobuf::ListValue log_args;
  ASSERT_TRUE(log_args.ParseFromString(*conn.read_frame()));
  EXPECT_NE(log_args.ShortDebugString().find("boom"), std::string::npos);
  conn.write_frame("");
  EXPECT_EQ(conn.read_frame(), "kong.response.exit");
  pb::ExitArgs exit;
  ASSERT_TRUE(exit.ParseFromString(*conn.read_frame()));
  EXPECT_EQ(exit.status(), 500);
  EXPECT_TRUE(conn.silent_for(200ms));  // exit is terminal: no end-of-event frame
}

TEST_F(ServerTest, SigtermEndsTheServerWithOpenConnections) {
  start();
  GatewayConn idle(socket);
  int id = start_instance(R"({"__seq__":8})");
  GatewayConn busy(socket);
  busy.write_frame(event_call(2, id));
  EXPECT_EQ(busy.read_frame(), "kong.response.set_header");  // the handler now waits for our reply
  kill(server->pid(), SIGTERM);
  EXPECT_EQ(server->wait(3s), 0);
}

}  // namespace

namespace {

TEST_F(ServerTest, AnUndefinedPhaseClosesTheConnection) {
  start();
  int id = start_instance(R"({"__seq__":4})");
  GatewayConn conn(socket);
  conn.write_frame(event_call(2, id, "log"));  // the test plugin only has access
  EXPECT_EQ(conn.read_frame(), std::nullopt);
}

}  // namespace
