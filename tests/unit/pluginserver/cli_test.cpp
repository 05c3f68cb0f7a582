#include "pluginserver/cli.h"

#include <gtest/gtest.h>

#include <sstream>

#include "test_util.h"

namespace gh::pluginserver {
namespace {

using nlohmann::json;
using testing::TempDir;

std::map<std::string, std::string> two_servers(const TempDir& dir) {
  auto go = dir.script("go-hello", R"(#!/bin/sh
echo '{"Protocol":"ProtoBuf:1","SocketPath":"/x","Plugins":[{"Name":"go-hello","Phases":["access","response","log"],"Version":"0.1","Priority":1}]}'
)");
  auto py = dir.script("py-hello", R"(#!/bin/sh
echo 'WARN - loading' ; echo '[{"Name":"py-hello","Phases":["access"],"Version":"0.1.0","Priority":100}]'
)");
  return {{"pluginserver_names", "go,py"},
          {"pluginserver_go_query_cmd", go + " -dump"},
          {"pluginserver_go_start_cmd", go},
          {"pluginserver_py_query_cmd", py + " --dump"},
          {"plugins", "bundled,go-hello,py-hello,cors"}};
}

TEST(PrintPlugins, TableOfServersAndTheirPlugins) {
  TempDir dir;
  std::ostringstream out;
  ASSERT_EQ(print_plugins(two_servers(dir), "/srv/kp", out, false), 0);
  std::string text = out.str();
  EXPECT_NE(text.find("server go  state=not started"), std::string::npos) << text;
  EXPECT_NE(text.find("socket: /srv/kp/go.socket"), std::string::npos) << text;
  EXPECT_NE(text.find("go-hello"), std::string::npos) << text;
  EXPECT_NE(text.find("ProtoBuf:1"), std::string::npos) << text;
  EXPECT_NE(text.find("access,response,log"), std::string::npos) << text;
  EXPECT_NE(text.find("server py"), std::string::npos) << text;
  EXPECT_NE(text.find("start: -"), std::string::npos) << text;  // py is managed externally
  EXPECT_NE(text.find("note: cors is enabled"), std::string::npos) << text;
}

TEST(PrintPlugins, JsonDocument) {
  TempDir dir;
  std::ostringstream out;
  ASSERT_EQ(print_plugins(two_servers(dir), "/srv/kp", out, true), 0);
  json doc = json::parse(out.str());
  ASSERT_EQ(doc["servers"].size(), 2u);
  EXPECT_EQ(doc["servers"][0]["name"], "go");
  EXPECT_EQ(doc["servers"][0]["plugins"][0], json({{"name", "go-hello"},
                                                   {"version", "0.1"},
                                                   {"priority", 1},
                                                   {"phases", {"access", "response", "log"}},
                                                   {"protocol", "ProtoBuf:1"}}));
  EXPECT_EQ(doc["servers"][1]["plugins"][0]["protocol"], "MsgPack:1");
  EXPECT_EQ(doc["servers"][1]["managed"], false);
  EXPECT_EQ(doc["enabled_but_not_provided"], json({"cors"}));
}

TEST(PrintPlugins, QueryFailureIsAnErrorExit) {
  std::ostringstream out;
  EXPECT_EQ(print_plugins({{"pluginserver_names", "x"}, {"pluginserver_x_query_cmd", "/nonexistent/x -dump"}},
                          "/p", out, false),
            1);
  EXPECT_EQ(print_plugins({{"pluginserver_names", "x"}}, "/p", out, false), 1);  // no query command
}

TEST(PluginServersText, RendersSupervisorState) {
  json doc = {{"servers",
               {{{"name", "js"},
                 {"state", "restarting"},
                 {"pid", nullptr},
                 {"restarts", 3},
                 {"ready", false},
                 {"last_exit", "exited with code 127 (command not found)"},
                 {"socket", "/p/js.socket"},
                 {"start_cmd", "kong-js-pluginserver"},
                 {"plugins",
                  {{{"name", "js-hello"},
                    {"version", "0.1.0"},
                    {"priority", 1000},
                    {"protocol", "MsgPack:1"},
                    {"phases", {"access"}}}}}}}}};
  std::string text = plugin_servers_text(doc);
  EXPECT_NE(
      text.find("server js  state=restarting pid=- restarts=3 ready=false last_exit=exited with code 127 "
                "(command not found)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("js-hello"), std::string::npos);
  EXPECT_EQ(plugin_servers_text(json::object()), "no plugin servers configured\n");
}

}  // namespace
}  // namespace gh::pluginserver
