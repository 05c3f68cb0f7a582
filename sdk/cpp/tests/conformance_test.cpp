// Conformance of the C++ PDK's embedded server with go-pdk's: plays the GATEWAY side of every
// recorded go-pb-* transcript (tests/data/conformance, recorded against the real go-pdk server)
// against conform_plugin (the C++ twin of go-conform) and checks every frame the plugin sends,
// decoded, modulo the fields README §5 lists as varying (started_at).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "proto/pluginsocket.pb.h"
#include "support.h"

namespace {

using namespace pdk_test;
using namespace std::chrono_literals;
namespace gpb = google::protobuf;

struct Line {
  std::string dir, note, bytes;
  int conn = 0;
  bool close = false;
};

std::vector<Line> load_transcript(const std::string& file) {
  std::ifstream in(std::string(CONFORMANCE_DIR) + "/" + file);
  if (!in) throw std::runtime_error("test data missing: " + file + " (see tests/data/PROVENANCE.md)");
  std::vector<Line> lines;
  for (std::string text; std::getline(in, text);) {
    if (text.empty()) continue;
    auto j = nlohmann::json::parse(text);
    lines.push_back({j["dir"], j["note"], from_hex(j["hex"]), j["conn"], j.value("event", "") == "close"});
  }
  return lines;
}

// The protobuf type a note names: "kong_plugin_protocol.RpcReturn{...}" or "args <Type>{...}".
std::string note_type(std::string note) {
  if (note.rfind("args ", 0) == 0) note = note.substr(5);
  return note.substr(0, note.find('{'));
}

// Frames with their 4-byte prefix stripped, decoded as `type`, compared structurally (map order is
// free; Go randomises it) after clearing started_at in InstanceStatus.
void expect_same_frame(const Line& line, const std::string& got) {
  std::string expected = line.bytes.substr(4);
  if (got == expected) return;
  std::string type = note_type(line.note);
  const auto* descriptor = gpb::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
  ASSERT_NE(descriptor, nullptr) << "frame differs and its note names no message type: " << line.note;
  const gpb::Message* prototype = gpb::MessageFactory::generated_factory()->GetPrototype(descriptor);
  std::unique_ptr<gpb::Message> want(prototype->New()), have(prototype->New());
  ASSERT_TRUE(want->ParseFromString(expected));
  ASSERT_TRUE(have->ParseFromString(got)) << "undecodable frame where the transcript has " << line.note;
  if (type == "kong_plugin_protocol.RpcReturn") {
    static_cast<kong_plugin_protocol::RpcReturn*>(want.get())->mutable_instance_status()->clear_started_at();
    static_cast<kong_plugin_protocol::RpcReturn*>(have.get())->mutable_instance_status()->clear_started_at();
  }
  EXPECT_TRUE(gpb::util::MessageDifferencer::Equivalent(*want, *have))
      << "expected " << line.note << "\n     got " << have->ShortDebugString();
}

class GoPbConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // go-pdk names the plugin after the executable file: install the C++ twin as "go-conform".
    fs::create_directories(dir.path() / "bin");
    fs::create_directories(dir.path() / "kp");
    fs::copy_file(CONFORM_PLUGIN, plugin);
    fs::permissions(plugin, fs::perms::owner_all);
  }
  TempDir dir;
  std::string plugin = (dir.path() / "bin" / "go-conform").string();
  std::string socket = (dir.path() / "kp" / "go-conform.socket").string();
};

TEST_P(GoPbConformance, AnswersTheGatewayLikeGoPdk) {
  Process server({plugin, "-kong-prefix", (dir.path() / "kp").string()},
                 (dir.path() / "stderr.log").string());
  ASSERT_TRUE(wait_for_socket(socket));

  std::unique_ptr<GatewayConn> conn;
  int conn_number = 0;
  auto lines = load_transcript(GetParam());
  ASSERT_FALSE(lines.empty());
  for (const auto& line : lines) {
    SCOPED_TRACE(line.note);
    if (line.conn != conn_number) {
      conn = std::make_unique<GatewayConn>(socket);
      conn_number = line.conn;
    }
    if (line.dir == "gw>srv" && line.close) {
      // After kong.response.exit the gateway answers nothing: the plugin must wait silently.
      EXPECT_TRUE(conn->silent_for(300ms)) << "the plugin sent something after kong.response.exit";
      conn.reset();
    } else if (line.dir == "gw>srv") {
      conn->write_raw(line.bytes);
    } else if (line.close) {
      EXPECT_EQ(conn->read_frame(), std::nullopt) << "the plugin should have closed the connection";
    } else {
      auto frame = conn->read_frame();
      ASSERT_TRUE(frame.has_value()) << "connection closed where the transcript has " << line.note;
      expect_same_frame(line, *frame);
      if (HasFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Transcripts, GoPbConformance,
                         ::testing::Values("go-pb-rewrite.jsonl", "go-pb-access.jsonl",
                                           "go-pb-response.jsonl", "go-pb-log.jsonl", "go-pb-exit.jsonl",
                                           "go-pb-error.jsonl", "go-pb-close-restart.jsonl"),
                         [](const auto& info) {
                           std::string name = info.param.substr(6, info.param.size() - 12);
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

// go-pdk's dump byte for byte, plus the one field Kong ignores: "Protocols", which offers
// Gatehouse:1 (docs/protocol.md §1).
TEST_F(GoPbConformance, DumpMatchesGoPdkByteForBytePlusProtocols) {
  std::ifstream in(std::string(CONFORMANCE_DIR) + "/go-pb-dump.json");
  std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string protocol = R"("Protocol":"ProtoBuf:1",)";
  const auto at = expected.find(protocol);
  ASSERT_NE(at, std::string::npos);
  expected.insert(at + protocol.size(), R"("Protocols":["Gatehouse:1","ProtoBuf:1"],)");
  auto [code, out] = run_capture(plugin + " -dump -kong-prefix /srv/kp");
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, expected);
}

}  // namespace
