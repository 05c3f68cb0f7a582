#include "pluginserver/config.h"

#include <gtest/gtest.h>

#include "pluginserver/process.h"
#include "test_util.h"

namespace gh::pluginserver {
namespace {

using namespace std::chrono_literals;
using Props = std::map<std::string, std::string>;

TEST(ServersFromProperties, NamesAreLowerCasedAndKeysUseUnderscores) {
  Props props = {{"pluginserver_names", " Go-Hello , py ,, "},
                 {"pluginserver_go_hello_socket", "/run/gh/go-hello.socket"},
                 {"pluginserver_go_hello_start_cmd", "/opt/go-hello -kong-prefix /run/gh"},
                 {"pluginserver_go_hello_query_cmd", "/opt/go-hello -dump"},
                 {"pluginserver_py_query_cmd", "/opt/py-hello.py --dump"}};
  auto servers = servers_from_properties(props, "/srv/prefix", "/nonexistent-bin");
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].name, "go-hello");
  EXPECT_EQ(servers[0].socket, "/run/gh/go-hello.socket");
  EXPECT_EQ(servers[0].start_cmd.value_or(""), "/opt/go-hello -kong-prefix /run/gh");
  EXPECT_EQ(servers[0].query_cmd.value_or(""), "/opt/go-hello -dump");
  EXPECT_EQ(servers[1].name, "py");
  EXPECT_EQ(servers[1].socket, "/srv/prefix/py.socket");  // Kong 3.9+: <prefix>/<name>.socket
  EXPECT_FALSE(servers[1].start_cmd.has_value());         // managed externally
  EXPECT_FALSE(servers[0].legacy_go);
  EXPECT_EQ(property_prefix("go-hello"), "pluginserver_go_hello");
}

TEST(ServersFromProperties, DefaultsComeFromTheBinDirectoryWhenTheBinaryExists) {
  testing::TempDir bin;
  bin.script("go-hello", "#!/bin/sh\n");
  auto servers = servers_from_properties({{"pluginserver_names", "go-hello"}}, "/p", bin.path());
  ASSERT_EQ(servers.size(), 1u);
  EXPECT_EQ(servers[0].start_cmd.value_or(""), bin / "go-hello");
  EXPECT_EQ(servers[0].query_cmd.value_or(""), bin / "go-hello" + " -dump");
  EXPECT_EQ(servers[0].socket, "/p/go-hello.socket");
}

TEST(ServersFromProperties, MissingQueryCommandIsAnError) {
  try {
    servers_from_properties({{"pluginserver_names", "gopher"}}, "/p", "/nonexistent-bin");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "query_command undefined for pluginserver gopher");
  }
}

TEST(ServersFromProperties, ExtensionsTimeoutsAndFailurePolicy) {
  Props props = {{"pluginserver_names", "js"},
                 {"pluginserver_js_query_cmd", "q"},
                 {"pluginserver_js_timeout", "2500"},
                 {"pluginserver_js_ready_timeout", "3s"},
                 {"pluginserver_js_query_timeout", "700ms"},
                 {"pluginserver_js_on_error", "fail_open"}};
  auto s = servers_from_properties(props, "/p").at(0);
  EXPECT_EQ(s.timeout, 2500ms);
  EXPECT_EQ(s.ready_timeout, 3000ms);
  EXPECT_EQ(s.query_timeout, 700ms);
  EXPECT_EQ(s.on_error, OnError::fail_open);
  auto defaults =
      servers_from_properties({{"pluginserver_names", "js"}, {"pluginserver_js_query_cmd", "q"}}, "/p")[0];
  EXPECT_EQ(defaults.on_error, OnError::fail_closed);
  EXPECT_EQ(defaults.ready_timeout, 10000ms);
  EXPECT_EQ(defaults.timeout, 10000ms);
}

TEST(ServersFromProperties, InvalidValuesNameTheProperty) {
  auto expect_error = [](Props props, const std::string& needle) {
    props.emplace("pluginserver_names", "js");
    props.emplace("pluginserver_js_query_cmd", "q");
    try {
      servers_from_properties(props, "/p");
      ADD_FAILURE() << "expected an error mentioning " << needle;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({{"pluginserver_js_timeout", "soon"}}, "pluginserver_js_timeout");
  expect_error({{"pluginserver_js_on_error", "ignore"}}, "pluginserver_js_on_error");
  expect_error({{"pluginserver_js_start_cmd", "server | tee log"}}, "pluginserver_js_start_cmd");
  expect_error({{"pluginserver_js_query_cmd", "q 2>/dev/null"}}, "pluginserver_js_query_cmd");
  expect_error({{"pluginserver_names", "js, JS"}}, "duplicate");
}

TEST(ServersFromProperties, LegacyGoPluginsDirBecomesOneServer) {
  Props props = {{"go_plugins_dir", "/srv/go plugins"}, {"go_pluginserver_exe", "/opt/go-pluginserver"}};
  auto servers = servers_from_properties(props, "/usr/local/kong");
  ASSERT_EQ(servers.size(), 1u);
  const auto& s = servers[0];
  EXPECT_EQ(s.name, "go-pluginserver");
  EXPECT_TRUE(s.legacy_go);
  EXPECT_EQ(s.socket, "/usr/local/kong/go_pluginserver.sock");
  EXPECT_EQ(s.legacy_plugins_dir, "/srv/go plugins");
  EXPECT_EQ(s.legacy_exe, "/opt/go-pluginserver");
  EXPECT_FALSE(s.query_cmd.has_value());
  ASSERT_TRUE(s.start_cmd.has_value());
  EXPECT_EQ(split_command(*s.start_cmd),
            (std::vector<std::string>{"/opt/go-pluginserver", "-kong-prefix", "/usr/local/kong",
                                      "-plugins-directory", "/srv/go plugins"}));
  // The default executable, and "off" or named servers disabling the legacy mapping.
  EXPECT_EQ(servers_from_properties({{"go_plugins_dir", "/d"}}, "/p")[0].legacy_exe,
            "/usr/local/bin/go-pluginserver");
  EXPECT_TRUE(servers_from_properties({{"go_plugins_dir", "off"}}, "/p").empty());
  auto named = servers_from_properties(
      {{"go_plugins_dir", "/d"}, {"pluginserver_names", "js"}, {"pluginserver_js_query_cmd", "q"}}, "/p");
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].name, "js");
}

TEST(ServersFromProperties, NoServersConfigured) {
  EXPECT_TRUE(servers_from_properties({}, "/p").empty());
  EXPECT_TRUE(servers_from_properties({{"pluginserver_names", ""}}, "/p").empty());
}

TEST(EnabledPlugins, DropsBundledAndOff) {
  EXPECT_EQ(enabled_plugins({{"plugins", "bundled, js-hello ,off,go-hello"}}),
            (std::vector<std::string>{"js-hello", "go-hello"}));
  EXPECT_TRUE(enabled_plugins({}).empty());
}

TEST(ServerConfig, SameProcessComparesCommandsNotTimeouts) {
  ServerConfig a;
  a.name = "js";
  a.socket = "/s";
  a.start_cmd = "x";
  a.query_cmd = "q";
  ServerConfig b = a;
  b.timeout = 1ms;
  EXPECT_TRUE(a.same_process(b));
  b.start_cmd = "y";
  EXPECT_FALSE(a.same_process(b));
}

}  // namespace
}  // namespace gh::pluginserver
