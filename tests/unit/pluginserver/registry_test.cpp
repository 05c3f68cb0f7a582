#include "pluginserver/registry.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_data.h"
#include "test_util.h"

namespace gh::pluginserver {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::TempDir;

std::string conformance(const std::string& name) {
  return gh::test::read_conformance_file(name);
}

ServerConfig server_with_query(const std::string& name, const std::string& query) {
  ServerConfig s;
  s.name = name;
  s.socket = "/tmp/" + name + ".socket";
  s.query_cmd = query;
  return s;
}

// ---- parse_dump: the real dumps recorded from Kong's servers ----

TEST(ParseDump, GoObjectShapeWithProtocol) {
  Dump dump = parse_dump(conformance("go-pb-dump.json"));
  EXPECT_EQ(dump.protocol, "ProtoBuf:1");
  ASSERT_EQ(dump.plugins.size(), 1u);
  const auto& p = dump.plugins[0];
  EXPECT_EQ(p.name, "go-conform");
  EXPECT_EQ(p.version, "1.2.3");
  EXPECT_EQ(p.priority, 910);
  EXPECT_EQ(p.protocol, "ProtoBuf:1");
  EXPECT_EQ(p.phases, (std::vector<std::string>{"rewrite", "access", "response", "log"}));
  EXPECT_EQ(p.schema["name"], "go-conform");
}

TEST(ParseDump, PythonAndJsArrayShapeDefaultToMsgPack) {
  for (auto [file, name, priority] :
       {std::tuple{"py-mp-dump.json", "py-conform", 920}, std::tuple{"js-mp-dump.json", "js-conform", 930}}) {
    Dump dump = parse_dump(conformance(file));
    EXPECT_EQ(dump.protocol, "MsgPack:1");
    ASSERT_EQ(dump.plugins.size(), 1u) << file;
    EXPECT_EQ(dump.plugins[0].name, name);
    EXPECT_EQ(dump.plugins[0].priority, priority);
    EXPECT_EQ(dump.plugins[0].protocol, "MsgPack:1");
  }
}

TEST(ParseDump, JsonSurroundedByColouredLogNoise) {
  std::string noisy =
      "\x1b[33m2024-01-01 [WARN]\x1b[0m error loading plugin \"broken\": {oops}\n"
      "[INFO] loaded 2 plugins [a, b]\n" +
      conformance("js-mp-dump.json") + "\x1b[32m[INFO]\x1b[0m bye\n";
  Dump dump = parse_dump(noisy);
  ASSERT_EQ(dump.plugins.size(), 1u);
  EXPECT_EQ(dump.plugins[0].name, "js-conform");
}

TEST(ParseDump, EveryPluginOfAMultiPluginDumpIsKept) {
  Dump dump =
      parse_dump(R"([{"Name":"a","Priority":1,"Version":"1"},{"Name":"b","Priority":2,"Version":null}])");
  ASSERT_EQ(dump.plugins.size(), 2u);
  EXPECT_EQ(dump.plugins[1].name, "b");
  EXPECT_EQ(dump.plugins[1].version, "");
  // No Schema (Python/JS default []): the plugin takes an empty config record.
  EXPECT_EQ(dump.plugins[0].schema["fields"][0]["config"]["type"], "record");
}

TEST(ParseDump, RejectsOutputWithoutAPluginTable) {
  EXPECT_THROW(parse_dump(""), std::runtime_error);
  EXPECT_THROW(parse_dump("Usage: server [options]\n"), std::runtime_error);
  EXPECT_THROW(parse_dump(R"({"error": "nope"})"), std::runtime_error);
  EXPECT_THROW(parse_dump(R"([{"Name": "x", "Priority": 1.5}])"), std::runtime_error);  // Kong 3.0+ rule
  EXPECT_THROW(parse_dump(R"([{"Priority": 1}])"), std::runtime_error);                 // no Name
  // Whole numbers an int cannot hold (dump_fuzz: 9.3e78 was converted, undefined behaviour).
  EXPECT_THROW(parse_dump(R"([{"Name": "x", "Priority": 9305555555555555555555555}])"), std::runtime_error);
  EXPECT_THROW(parse_dump(R"([{"Name": "x", "Priority": -2147483649}])"), std::runtime_error);
  EXPECT_EQ(parse_dump(R"([{"Name": "x", "Priority": -2147483648}])").plugins.at(0).priority, -2147483648);
  EXPECT_EQ(parse_dump(R"([{"Name": "x", "Priority": 2147483647}])").plugins.at(0).priority, 2147483647);
}

// The table is the first candidate ('[' or '{' opening a line, then anywhere) whose JSON value is
// a plugin table. One parse decides every bracket it reads (parse_dump's verdicts): these shapes
// check that a bracket read inside a value that is not a table, or inside one that never ends,
// still gets its own answer.
std::vector<std::string> names_in(std::string_view output) {
  std::vector<std::string> names;
  for (const auto& plugin : parse_dump(output).plugins) names.push_back(plugin.name);
  return names;
}

TEST(ParseDump, ATableNestedInAValueThatIsNotOneIsFound) {
  EXPECT_EQ(names_in(R"([[{"Name":"a"}], 1])"), std::vector<std::string>{"a"});
  EXPECT_EQ(names_in(R"({"x": [{"Name":"b"}, {"Name":"c"}], "y": {}})"),
            (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(names_in(R"({"log": {"Plugins": [{"Name":"d"}]}})"), std::vector<std::string>{"d"});
}

TEST(ParseDump, ATableInsideAValueThatNeverEndsIsFound) {
  EXPECT_EQ(names_in(R"([[{"Name":"a"}], [{"Name":)"), std::vector<std::string>{"a"});
  EXPECT_EQ(names_in(R"({"Plugins": [{"Name":"b"}] ] trailing junk)"), std::vector<std::string>{"b"});
  // 300 unclosed brackets around a table: every one is decided by the first parse.
  EXPECT_EQ(names_in(std::string(300, '[') + R"({"Name":"c"}])"), std::vector<std::string>{"c"});
}

TEST(ParseDump, TheLastPluginsKeyOfAnObjectDecidesAsInTheParsedValue) {
  Dump dump = parse_dump(R"({"Protocol": "ProtoBuf:1", "Plugins": 1, "Plugins": [{"Name":"a"}]})");
  EXPECT_EQ(dump.protocol, "ProtoBuf:1");
  ASSERT_EQ(dump.plugins.size(), 1u);
  EXPECT_EQ(dump.plugins[0].name, "a");
  // The object is no table (its Plugins is 2); the array inside it is one, without a Protocol.
  dump = parse_dump(R"({"Protocol": "ProtoBuf:1", "Plugins": [{"Name":"b"}], "Plugins": 2})");
  EXPECT_EQ(dump.protocol, "MsgPack:1");
  ASSERT_EQ(dump.plugins.size(), 1u);
  EXPECT_EQ(dump.plugins[0].name, "b");
}

TEST(ParseDump, BracketsInsideStringsAreCandidatesOfTheirOwn) {
  // The first parse reads "[x" as a string; that bracket is then tried alone, and fails.
  EXPECT_EQ(names_in(R"({"note": "[x"} [{"Name":"a"}])"), std::vector<std::string>{"a"});
  // A table quoted in a string is not one (its escaped quotes end every parse from inside it).
  EXPECT_THROW(parse_dump(R"({"msg": "[{\"Name\":\"b\"}]"})"), std::runtime_error);
  // A bracket inside a string of the first parse starts a parse that reads the rest differently.
  EXPECT_EQ(names_in(R"(["a[{"Name":"c"}]"])"), std::vector<std::string>{"c"});
}

// ---- discover: real query commands ----

TEST(Discover, RunsEveryQueryCommandAndRegistersEveryPlugin) {
  TempDir dir;
  std::string go = dir.file("go.json", conformance("go-pb-dump.json"));
  std::string multi =
      dir.file("multi.json", R"([{"Name":"m1","Priority":3,"Version":"0.1","Phases":["access"]},
                                               {"Name":"m2","Priority":4,"Version":"0.2","Phases":["log"]}])");
  auto go_query = dir.script("go-dump", "#!/bin/sh\necho 'starting...' >&2\ncat " + go + "\n");
  // JS-style: colour-coded log lines on stdout around the JSON.
  auto multi_query = dir.script("multi-dump", "#!/bin/sh\nprintf '\\033[36m[INFO] loading\\033[0m\\n'\ncat " +
                                                  multi + "\nprintf '\\n\\033[36m[INFO] done\\033[0m\\n'\n");
  Registry registry = discover({server_with_query("go", go_query), server_with_query("multi", multi_query)},
                               {"go-conform", "m2"});
  ASSERT_EQ(registry.all().size(), 3u);
  const PluginInfo* m2 = registry.find("m2");
  ASSERT_NE(m2, nullptr);
  EXPECT_EQ(m2->server, "multi");
  EXPECT_EQ(m2->protocol, "MsgPack:1");
  EXPECT_EQ(registry.find("go-conform")->protocol, "ProtoBuf:1");
  EXPECT_EQ(registry.find("go-conform")->server, "go");
  EXPECT_EQ(registry.plugins_of("multi").size(), 2u);
  ASSERT_NE(registry.server("go"), nullptr);
  EXPECT_EQ(registry.server("go")->socket, "/tmp/go.socket");
  EXPECT_EQ(registry.server("nope"), nullptr);
}

TEST(Discover, EnabledButNotInstalled) {
  TempDir dir;
  auto query =
      dir.script("q", "#!/bin/sh\necho '[{\"Name\":\"present\",\"Priority\":1,\"Version\":\"1\"}]'\n");
  try {
    discover({server_with_query("s", query)}, {"present", "absent"});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "absent plugin is enabled but not installed");
  }
  // Names the gateway implements natively are not looked for in plugin servers.
  EXPECT_NO_THROW(discover({server_with_query("s", query)}, {"present", "cors"}, {"cors"}));
}

TEST(Discover, FailingQueryReportsExitStatusAndFirstLines) {
  TempDir dir;
  auto query =
      dir.script("q", "#!/bin/sh\necho 'Error: plugins directory /nope does not exist' >&2\nexit 2\n");
  try {
    discover({server_with_query("broken", query)}, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("pluginserver 'broken'"), std::string::npos) << message;
    EXPECT_NE(message.find("exited with code 2"), std::string::npos) << message;
    EXPECT_NE(message.find("plugins directory /nope does not exist"), std::string::npos) << message;
  }
}

TEST(Discover, QueryPrintingNoPluginTableFails) {
  TempDir dir;
  auto query = dir.script("q", "#!/bin/sh\necho 'Usage: server [options]'\n");
  try {
    discover({server_with_query("s", query)}, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no plugin table"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Usage: server [options]"), std::string::npos) << e.what();
  }
}

TEST(Discover, MissingQueryBinaryIsCommandNotFound) {
  try {
    discover({server_with_query("s", "/nonexistent/server -dump")}, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("command not found"), std::string::npos) << e.what();
  }
}

TEST(Discover, HangingQueryIsBounded) {
  TempDir dir;
  auto query = dir.script("q", "#!/bin/sh\nsleep 30\n");
  auto server = server_with_query("slow", query);
  server.query_timeout = 300ms;
  auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(discover({server}, {}), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(Discover, DuplicateNameAcrossServersKeepsTheFirst) {
  TempDir dir;
  auto a = dir.script("a", "#!/bin/sh\necho '[{\"Name\":\"dup\",\"Priority\":1,\"Version\":\"1\"}]'\n");
  auto b = dir.script("b", "#!/bin/sh\necho '[{\"Name\":\"dup\",\"Priority\":2,\"Version\":\"2\"}]'\n");
  Registry registry = discover({server_with_query("a", a), server_with_query("b", b)}, {"dup"});
  ASSERT_EQ(registry.all().size(), 1u);
  EXPECT_EQ(registry.find("dup")->server, "a");
}

TEST(Discover, LegacyGoPluginServerAnswersPerPluginInMessagePack) {
  TempDir dir;
  json info = {{"Name", "go-hello-lm"}, {"Phases", {"access"}}, {"Version", "0.2"},
               {"Priority", 1},         {"ModTime", 0},         {"Schema", {{"name", "go-hello-lm"}}}};
  auto bytes = json::to_msgpack(info);
  dir.file("go-hello-lm.info", std::string(bytes.begin(), bytes.end()));
  // A fake go-pluginserver: -plugins-directory DIR -dump-plugin-info NAME → DIR/NAME.info bytes.
  auto exe =
      dir.script("go-pluginserver",
                 "#!/bin/sh\n[ \"$1\" = -plugins-directory ] && [ \"$3\" = -dump-plugin-info ] || exit 2\n"
                 "[ -f \"$2/$4.info\" ] || { echo \"no plugin $4\" >&2; exit 1; }\ncat \"$2/$4.info\"\n");
  auto servers =
      servers_from_properties({{"go_plugins_dir", dir.path()}, {"go_pluginserver_exe", exe}}, "/p");
  Registry registry = discover(servers, {"go-hello-lm"});
  const PluginInfo* p = registry.find("go-hello-lm");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->server, "go-pluginserver");
  EXPECT_EQ(p->protocol, "MsgPack:1");
  EXPECT_EQ(p->version, "0.2");
  EXPECT_THROW(discover(servers, {"go-missing"}), std::runtime_error);
}

// ---- the real kong-pdk JavaScript plugin server ----

std::string js_server() {
  return testing::source_path("tools/node_modules/.bin/kong-js-pluginserver");
}

TEST(Discover, RealKongJsPluginServer) {
  ASSERT_EQ(access(js_server().c_str(), X_OK), 0) << "run scripts/setup to install kong-pdk";
  ServerConfig js = server_with_query("js", js_server() + " --plugins-directory " +
                                                testing::source_path("tests/integration/plugins/js") +
                                                " --dump-all-plugins");
  Registry registry = discover({js}, {"js-hello", "js-goodbye"});
  const PluginInfo* hello = registry.find("js-hello");
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->version, "0.1.0");
  EXPECT_EQ(hello->priority, 1000);
  EXPECT_EQ(hello->protocol, "MsgPack:1");
  EXPECT_EQ(hello->phases, (std::vector<std::string>{"access", "response"}));
  const PluginInfo* goodbye = registry.find("js-goodbye");
  ASSERT_NE(goodbye, nullptr);  // a second plugin of the same server (Kong 3.9 would drop it)
  EXPECT_EQ(goodbye->phases, (std::vector<std::string>{"log"}));
  EXPECT_EQ(goodbye->priority, 5);
}

}  // namespace
}  // namespace gh::pluginserver
