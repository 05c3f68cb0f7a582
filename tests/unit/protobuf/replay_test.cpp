// Conformance replay (conformance/README.md §5–§6): a server on a real Unix socket plays the
// go-pdk side of each go-pb-* transcript; the Client plays the gateway, driven by the RpcCalls
// of the recording, with a PdkHandler answering every PDK call with the value the recorded reply
// carries. Every frame the Client sends is compared, decoded, with the recording.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <deque>

#include "pluginserver/protobuf/client.h"
#include "pluginserver/protobuf/convert.h"
#include "pluginserver/protobuf/methods.h"
#include "proto/pluginsocket.pb.h"
#include "support.h"

namespace gh::pluginserver::protobuf {
namespace {

namespace asio = boost::asio;
namespace kp = kong_plugin_protocol;
using nlohmann::json;
using test::Line;
using test::Note;

// ---- the server side: play srv>gw, check gw>srv -----------------------------------------------

void check_gateway_frame(test::ScriptServer& server, std::size_t index, const Line& line,
                         const std::string& got, std::int64_t& sequence) {
  const std::string recorded = test::payload_of(line);
  const std::string where =
      "line " + std::to_string(index + 1) + " (" + line.note_text.substr(0, 120) + "): ";
  if (recorded.empty() != got.empty()) {
    server.fail(where + "zero-length frame mismatch, got " + std::to_string(got.size()) + " bytes");
    return;
  }
  if (line.note.type.empty()) return;  // zero-length nil reply, matched above
  auto expected = test::parse_as(line.note.type, recorded);
  auto actual = test::parse_as(line.note.type, got);
  if (!expected || !actual) {
    server.fail(where + "does not parse as " + line.note.type);
    return;
  }
  if (line.note.type == "kong_plugin_protocol.RpcCall") {  // sequence varies (README §5)
    auto& call = static_cast<kp::RpcCall&>(*actual);
    sequence = call.sequence();
    call.clear_sequence();
    static_cast<kp::RpcCall&>(*expected).clear_sequence();
  }
  if (auto diff = test::differences(*expected, *actual); !diff.empty()) server.fail(where + diff);
}

// The recorded server frame with the sequence of the call just received (README §6).
std::string server_frame(const Line& line, std::int64_t sequence) {
  if (line.note.type != "kong_plugin_protocol.RpcReturn") return line.frame;
  kp::RpcReturn ret;
  ret.ParseFromString(test::payload_of(line));
  ret.set_sequence(sequence);
  return test::frame(ret);
}

void play_server_side(test::ScriptServer& server, const std::vector<Line>& lines) {
  int conn = 0;
  int fd = -1;
  std::int64_t sequence = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Line& line = lines[i];
    if (line.conn != conn) {
      fd = server.accept();
      conn = line.conn;
    }
    if (line.note.kind == Note::Kind::close) {
      if (!line.gateway_to_server)
        server.close_fd(fd);
      else if (!server.peer_closes_silently(fd, std::chrono::seconds(3)))
        server.fail("line " + std::to_string(i + 1) + ": the gateway sent bytes or kept the connection open");
      continue;
    }
    if (line.gateway_to_server) {
      auto got = server.read_frame(fd);
      if (!got) {
        server.fail("line " + std::to_string(i + 1) + ": the gateway closed the connection, expected " +
                    line.note_text.substr(0, 120));
        return;
      }
      check_gateway_frame(server, i, line, *got, sequence);
    } else {
      server.write_all(fd, server_frame(line, sequence));
    }
  }
}

// ---- the gateway side: what the PDK table would have returned ----------------------------------

// Converts a recorded reply frame back into the Lua-level value the PDK produced.
PdkResult recorded_result(const PdkMethod& method, const Line& reply) {
  const std::string payload = test::payload_of(reply);
  if (payload.empty()) return PdkResult::nil();
  auto message = test::parse_as(method.output->full_name(), payload);
  if (!message) {
    ADD_FAILURE() << "reply does not parse: " << reply.note_text;
    return PdkResult::nil();
  }
  switch (method.result) {
    case ResultShape::value:
      return PdkResult::ok(to_json(static_cast<google::protobuf::Value&>(*message)));
    case ResultShape::map:
      return PdkResult::ok(to_json(static_cast<google::protobuf::Struct&>(*message)));
    case ResultShape::raw_body: {
      const auto& raw = static_cast<kp::RawBodyResult&>(*message);
      if (raw.has_error()) return PdkResult::fail(raw.error());
      return PdkResult::ok(message_to_json(raw)["content"]);
    }
    case ResultShape::table:
      return PdkResult::ok(message_to_json(*message));
    case ResultShape::none:
      return PdkResult::nil();
    default:
      return PdkResult::ok(message_to_json(*message)["v"]);  // String/Int/Number/Bool/ByteString
  }
}

struct ExpectedCall {
  std::string method;
  std::optional<PdkResult> result;  // nullopt: no reply was recorded (kong.response.exit)
};

class ReplayPdk : public PdkHandler {
 public:
  std::deque<ExpectedCall> calls;
  std::vector<std::string> failures;

  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json args) override {
    if (!args.is_array()) failures.push_back(std::string(method) + ": arguments are not an array");
    if (calls.empty()) {
      failures.push_back("unexpected PDK call " + std::string(method));
      co_return PdkResult::nil();
    }
    ExpectedCall expected = std::move(calls.front());
    calls.pop_front();
    if (expected.method != method)
      failures.push_back("called " + std::string(method) + ", recorded " + expected.method);
    if (!expected.result) {
      PdkResult exit;
      exit.status = PdkResult::Status::terminal;
      co_return exit;
    }
    co_return *expected.result;
  }
};

// One RpcCall of the recording, what the server did with it, and what the gateway should see.
struct Operation {
  kp::RpcCall call;
  std::deque<ExpectedCall> pdk_calls;
  bool server_closes = false;   // srv>gw close before the next call: instance gone
  bool gateway_closes = false;  // gw>srv close: the event was terminated by exit
  std::optional<kp::RpcReturn> reply;
};

std::vector<Operation> operations_of(const std::vector<Line>& lines) {
  std::vector<Operation> ops;
  const PdkMethod* method = nullptr;
  for (const auto& line : lines) {
    if (line.note.type == "kong_plugin_protocol.RpcCall") {
      ops.emplace_back();
      ops.back().call.ParseFromString(test::payload_of(line));
      continue;
    }
    if (ops.empty()) continue;
    Operation& op = ops.back();
    switch (line.note.kind) {
      case Note::Kind::close:
        (line.gateway_to_server ? op.gateway_closes : op.server_closes) = true;
        break;
      case Note::Kind::method:
        method = find_pdk_method(line.note.text);
        op.pdk_calls.push_back({line.note.text, std::nullopt});
        break;
      case Note::Kind::reply:
        op.pdk_calls.back().result = recorded_result(*method, line);
        break;
      case Note::Kind::rpc:
        if (line.note.type == "kong_plugin_protocol.RpcReturn") {
          op.reply.emplace();
          op.reply->ParseFromString(test::payload_of(line));
        }
        break;
      default:
        break;
    }
  }
  return ops;
}

asio::awaitable<void> play_gateway_side(Client& client, std::vector<Operation> ops) {
  for (auto& op : ops) {
    SCOPED_TRACE(op.call.ShortDebugString().substr(0, 120));
    if (op.call.has_cmd_start_instance()) {
      const auto& start = op.call.cmd_start_instance();
      auto status = co_await client.start_instance(start.name(), start.config());
      EXPECT_EQ(status.id, op.reply->instance_status().instance_id());
      EXPECT_EQ(status.name, op.reply->instance_status().name());
    } else if (op.call.has_cmd_close_instance()) {
      co_await client.close_instance(op.call.cmd_close_instance().instance_id());
    } else if (op.call.has_cmd_handle_event()) {
      ReplayPdk pdk;
      pdk.calls = op.pdk_calls;
      const std::size_t expected_calls = op.pdk_calls.size();
      const auto& event = op.call.cmd_handle_event();
      try {
        auto outcome = co_await client.handle_event(event.instance_id(), event.event_name(), pdk);
        EXPECT_FALSE(op.server_closes) << "the server closed the connection: expected InstanceGone";
        EXPECT_EQ(outcome.terminated, op.gateway_closes);
        EXPECT_EQ(outcome.pdk_calls, expected_calls);
      } catch (const RpcError& e) {
        EXPECT_TRUE(op.server_closes) << e.what();
        EXPECT_EQ(e.kind(), ErrorKind::instance_gone) << e.what();
      }
      EXPECT_TRUE(pdk.calls.empty()) << pdk.calls.size() << " recorded PDK calls never came";
      for (const auto& f : pdk.failures) ADD_FAILURE() << f;
    } else {
      ADD_FAILURE() << "unexpected command in the recording";
    }
  }
}

class Replay : public testing::TestWithParam<std::string> {};

TEST_P(Replay, GatewayFramesMatchTheRecording) {
  const auto lines = test::load_transcript(GetParam());
  test::ScriptServer server;
  server.run([&](test::ScriptServer& s) { play_server_side(s, lines); });
  asio::io_context io;
  Client client(io.get_executor(), server.path(), std::chrono::seconds(5));
  test::run(io, play_gateway_side(client, operations_of(lines)));
  for (const auto& failure : server.failures()) ADD_FAILURE() << failure;
}

INSTANTIATE_TEST_SUITE_P(GoPb, Replay, testing::ValuesIn(test::go_pb_transcripts()), [](const auto& info) {
  std::string name = info.param.substr(6, info.param.size() - 12);
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
});

TEST(ReplayScenarios, CloseRestartSurfacesInstanceGoneAndExitIsTerminal) {
  // Guards the replay itself: the recordings contain the two special endings it must exercise.
  auto count = [](const std::string& file, bool gateway_closes) {
    int n = 0;
    for (const auto& op : operations_of(test::load_transcript(file)))
      n += gateway_closes ? op.gateway_closes : op.server_closes;
    return n;
  };
  EXPECT_EQ(count("go-pb-close-restart.jsonl", false), 1);
  EXPECT_EQ(count("go-pb-exit.jsonl", true), 1);
}

}  // namespace
}  // namespace gh::pluginserver::protobuf
