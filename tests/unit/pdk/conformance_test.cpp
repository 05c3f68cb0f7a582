// Replays every PDK call of the js-mp/py-mp conformance recordings against the PDK table, with
// the request state the recording gateway served (README §3), and checks that the Step gatehouse
// would send (encoded by the real MsgPack bridge code) equals the recorded one after decoding.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "pdk/table.h"
#include "pdk_fixture.h"
#include "pluginserver/msgpack/client.h"
#include "pluginserver/msgpack/codec.h"
#include "test_data.h"

namespace gh::pdk::testing {
namespace {

namespace mp = pluginserver::msgpack;

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// Equality that keeps the distinctions the wire keeps: int vs float, str vs bin, array vs map.
bool strictly_equal(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a == b;  // signed vs unsigned is the same
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [k, v] : a.items()) {
      if (!b.contains(k) || !strictly_equal(v, b[k])) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!strictly_equal(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

struct Recording {
  std::string file;
  std::string phase;
};

// The state each scenario's recording started from (README §3 "Other state").
void prepare(Fixture& f, const std::string& scenario) {
  if (scenario == "error") {
    f.body_too_large = true;
    f.ctx.ctx_shared = {{"conform.count", 3}};
  }
  if (scenario == "response" || scenario == "log" || scenario == "close-restart") {
    f.ctx.ctx_shared = {{"conform.user", "alice"}, {"conform.score", 7.5}};
    f.with_service_response();
  }
  if (scenario == "log" || scenario == "close-restart") {
    f.ctx.response.headers.clear();
    f.ctx.response.headers.add("content-type", "application/json");
    f.ctx.response.headers.add("x-conform-upstream", "201 application/json 25 bytes via items-v2");
  }
}

std::string phase_of(const std::string& scenario) {
  if (scenario == "rewrite" || scenario == "response" || scenario == "log") return scenario;
  return scenario == "close-restart" ? "log" : "access";
}

// The recording's serialize is the recorder's fixed text, not Kong's structure: compare the fields
// both carry.
void expect_serialize_matches(const PdkResult& mine, const json& recorded_data) {
  ASSERT_EQ(mine.status, PdkResult::Status::ok);
  ASSERT_TRUE(mine.value.is_string());
  json got = json::parse(mine.value.get<std::string>());
  json want = json::parse(recorded_data.get<std::string>());
  EXPECT_EQ(got["request"]["method"], want["request"]["method"]);
  EXPECT_EQ(got["request"]["uri"], want["request"]["uri"]);
  EXPECT_EQ(got["response"]["status"], want["response"]["status"]);
  EXPECT_EQ(got["route"]["name"], want["route"]["name"]);
  EXPECT_EQ(got["service"]["name"], want["service"]["name"]);
}

// gatehouse's entities have no created_at/updated_at (DB-less, no timestamps) and carry a few
// more fields than the recording's: every other recorded field must be there, equal.
void expect_entity_matches(const json& mine, json recorded) {
  recorded.erase("created_at");
  recorded.erase("updated_at");
  for (const auto& [k, v] : recorded.items()) {
    ASSERT_TRUE(mine.contains(k)) << k;
    EXPECT_TRUE(strictly_equal(mine[k], v)) << k << ": " << mine[k] << " vs " << v;
  }
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, EveryPdkReplyMatchesTheRecording) {
  const std::string file = GetParam();
  const std::string scenario = file.substr(6, file.size() - 6 - 6);  // "js-mp-" ... ".jsonl"
  std::istringstream in(gh::test::read_conformance_file(file));
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));

  Fixture f(phase_of(scenario), scenario == "rewrite");
  prepare(f, scenario);
  int compared = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i]["dir"] != "srv>gw" || lines[i].contains("event")) continue;
    json msg = mp::decode(unhex(lines[i]["hex"]));
    const json& data = msg[3].is_object() ? msg[3].value("Data", json()) : json();
    if (!data.is_object() || !data.contains("Method")) continue;
    const std::string method = data["Method"];
    SCOPED_TRACE(file + " line " + std::to_string(i + 2) + ": " + method);
    PdkResult mine = f.call(method, data["Args"]);

    if (i + 1 == lines.size()) {  // nothing follows: a terminal call
      EXPECT_EQ(mine.status, PdkResult::Status::terminal);
      continue;
    }
    json reply = mp::decode(unhex(lines[i + 1]["hex"]));  // [0, msgid, "plugin.StepX", [{EventId, Data?}]]
    const json& want = reply[3][0];
    if (method == "kong.request.get_nonexistent_thing") {
      // The recorder answered nil as Kong does; gatehouse tells the plugin (documented deviation).
      EXPECT_EQ(mine.status, PdkResult::Status::error);
      EXPECT_NE(mine.error.find("not supported"), std::string::npos);
      ++compared;
      continue;
    }
    const std::string_view step = gh::pdk::step_of(gh::pdk::find_pdk_function(method));
    EXPECT_EQ(mp::step_method(step, mine), reply[2].get<std::string>());
    if (method == "kong.log.serialize") {
      expect_serialize_matches(mine, want["Data"]);
    } else if (method == "kong.router.get_route" || method == "kong.router.get_service") {
      expect_entity_matches(mine.value, want["Data"]);
    } else {
      std::string bytes;
      mp::write_step_param(mp::Writer(bytes), want["EventId"].get<int64_t>(), mine, step);
      json got = mp::decode(bytes);
      EXPECT_TRUE(strictly_equal(got, want)) << "got " << got.dump() << "\nrecorded " << want.dump();
    }
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

std::vector<std::string> recordings() {
  return gh::test::conformance_transcripts({"js-mp-", "py-mp-"});
}

INSTANTIATE_TEST_SUITE_P(Recordings, Conformance, ::testing::ValuesIn(recordings()), [](const auto& info) {
  std::string name = info.param.substr(0, info.param.size() - 6);
  for (auto& ch : name) {
    if (ch == '-') ch = '_';
  }
  return name;
});

}  // namespace
}  // namespace gh::pdk::testing
