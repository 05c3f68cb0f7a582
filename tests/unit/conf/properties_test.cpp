#include "conf/properties.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "conf/error.h"
#include "test_support.h"

namespace gh::conf {
namespace {

using testing::fixture;
using testing::LogCapture;
using testing::TempDir;

std::string error_of(const std::string& path, const std::map<std::string, std::string>& env = {}) {
  try {
    load_properties(path, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Properties, DefaultsWithoutFile) {
  auto p = load_properties("", {{"HOME", "/ignored-by-loader"}});
  ASSERT_EQ(p.proxy_listen.size(), 2u);
  EXPECT_EQ(p.proxy_listen[0].to_string(), "0.0.0.0:8000 reuseport backlog=16384");
  EXPECT_EQ(p.proxy_listen[1].to_string(), "0.0.0.0:8443 ssl http2 reuseport backlog=16384");
  ASSERT_EQ(p.admin_listen.size(), 2u);
  EXPECT_EQ(p.admin_listen[0].host, "127.0.0.1");
  EXPECT_EQ(p.admin_listen[0].port, 8001);
  EXPECT_TRUE(p.stream_listen.empty());
  EXPECT_EQ(p.plugins, std::vector<std::string>{"bundled"});
  EXPECT_EQ(p.log_level, "notice");
  EXPECT_EQ(p.declarative_config, "");
  EXPECT_EQ(p.worker_threads, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(p.client_max_body_size, 0u);
  EXPECT_EQ(p.client_body_buffer_size, 8u * 1024);
  EXPECT_EQ(p.headers, (std::vector<std::string>{"server_tokens", "latency_tokens", "x-kong-request-id"}));
  EXPECT_EQ(p.proxy_access_log, p.prefix + "/logs/access.log");
  EXPECT_EQ(p.proxy_error_log, p.prefix + "/logs/error.log");
  EXPECT_EQ(p.proxy_stream_access_log, p.prefix + "/logs/access.log");  // Kong's "logs/access.log basic"
  EXPECT_TRUE(p.trusted_ips.empty());
  EXPECT_EQ(p.source_file, "");
  EXPECT_EQ(p.get("pluginserver_names"), "");
  EXPECT_FALSE(p.get("no_such_key").has_value());
}

TEST(Properties, DefaultPrefixIsWritableByAnUnprivilegedUser) {
  auto p = load_properties("", {});
  ASSERT_TRUE(std::filesystem::path(p.prefix).is_absolute());
  if (::geteuid() != 0) {
    const char* home = std::getenv("HOME");
    ASSERT_NE(home, nullptr);
    EXPECT_EQ(p.prefix, std::string(home) + "/.gatehouse");
  } else {
    EXPECT_EQ(p.prefix, "/usr/local/gatehouse");
  }
}

TEST(Properties, ReadsEveryTypedPropertyFromAFile) {
  LogCapture log;
  auto path = fixture("gatehouse.conf");
  auto p = load_properties(path, {});
  auto dir = std::filesystem::path(path).parent_path().string();
  EXPECT_EQ(p.source_file, path);
  EXPECT_EQ(p.prefix, dir + "/runtime");
  ASSERT_EQ(p.proxy_listen.size(), 3u);
  EXPECT_EQ(p.proxy_listen[0].host, "0.0.0.0");
  EXPECT_EQ(p.proxy_listen[0].port, 9000);
  EXPECT_TRUE(p.proxy_listen[0].reuseport);
  EXPECT_EQ(p.proxy_listen[0].backlog, 1024);
  EXPECT_EQ(p.proxy_listen[1].host, "::1");
  EXPECT_TRUE(p.proxy_listen[1].ssl);
  EXPECT_TRUE(p.proxy_listen[1].http2);
  EXPECT_FALSE(p.proxy_listen[1].reuseport);
  EXPECT_EQ(p.proxy_listen[1].to_string(), "[::1]:9443 ssl http2");
  EXPECT_TRUE(p.proxy_listen[2].proxy_protocol);
  EXPECT_TRUE(p.admin_listen.empty());
  EXPECT_EQ(p.declarative_config, dir + "/kong.yml");
  EXPECT_EQ(p.plugins, (std::vector<std::string>{"bundled", "js-hello", "go-hello"}));
  EXPECT_EQ(p.log_level, "debug");
  EXPECT_EQ(p.proxy_access_log, "stdout");
  EXPECT_EQ(p.proxy_error_log, dir + "/runtime/logs/err.log");
  EXPECT_EQ(p.worker_threads, 3);
  EXPECT_EQ(p.real_ip_header, "X-Forwarded-For");
  EXPECT_TRUE(p.real_ip_recursive);
  ASSERT_EQ(p.trusted_ips.size(), 4u);
  EXPECT_EQ(p.client_max_body_size, 10u * 1024 * 1024);
  EXPECT_EQ(p.client_body_buffer_size, 16u * 1024);
  EXPECT_EQ(p.headers, (std::vector<std::string>{"server_tokens", "x-kong-upstream-latency"}));
  // The pluginserver_* namespace is kept verbatim for the plugin-server layer.
  EXPECT_EQ(p.get("pluginserver_names"), "js, go-hello");
  EXPECT_EQ(p.get("pluginserver_js_socket"), "/tmp/js.sock");
  EXPECT_EQ(p.get("pluginserver_go_hello_start_cmd"), "/usr/local/bin/go-hello -kong-prefix /tmp");
  // Unknown keys: kept, with a warning naming file and line; `\#` is a literal '#'.
  EXPECT_EQ(p.get("my_custom_thing"), "kept # not a comment");
  EXPECT_NE(log.text().find("gatehouse.conf:20: unknown property 'my_custom_thing'"), std::string::npos)
      << log.text();
  EXPECT_EQ(log.text().find("pluginserver_js_socket"), std::string::npos) << "namespace keys are not unknown";
}

// parse_properties (the fuzz target's entry) is load_properties without the file read: the same
// values, relative paths resolved against the named file's directory, errors naming it.
TEST(Properties, TextParsedAsTheFileItNamesLoadsAsThatFile) {
  LogCapture log;  // the fixture's unknown key is warned about, twice
  const auto path = fixture("gatehouse.conf");
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::map<std::string, std::string> env = {{"KONG_LOG_LEVEL", "warn"}};
  auto from_file = load_properties(path, env);
  auto from_text = parse_properties(text, path, env);
  EXPECT_EQ(from_text.values, from_file.values);
  EXPECT_EQ(from_text.source_file, path);
  EXPECT_EQ(from_text.prefix, from_file.prefix);
  EXPECT_EQ(from_text.declarative_config, from_file.declarative_config);
  EXPECT_EQ(from_text.proxy_error_log, from_file.proxy_error_log);
  EXPECT_EQ(from_text.log_level, "warn");
  try {
    parse_properties("log_level = debug\nno equals sign\n", "/nowhere/kong.conf", {});
    ADD_FAILURE() << "a line without '=' was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "/nowhere/kong.conf:2: expected 'key = value', got 'no equals sign'");
  }
}

TEST(Properties, EnvironmentOverridesFileAndDefaults) {
  LogCapture log;
  auto p = load_properties(fixture("gatehouse.conf"), {{"KONG_PROXY_LISTEN", "127.0.0.1:7000"},
                                                       {"KONG_LOG_LEVEL", "warn"},
                                                       {"KONG_NGINX_WORKER_PROCESSES", "2"},
                                                       {"KONG_PLUGINSERVER_GO_HELLO_SOCKET", "/run/go.sock"},
                                                       {"KONG_VERSION", "3.9"},
                                                       {"PATH", "/usr/bin"}});
  ASSERT_EQ(p.proxy_listen.size(), 1u);
  EXPECT_EQ(p.proxy_listen[0].to_string(), "127.0.0.1:7000");
  EXPECT_EQ(p.log_level, "warn");
  EXPECT_EQ(p.worker_threads, 2);
  EXPECT_EQ(p.get("pluginserver_go_hello_socket"), "/run/go.sock");
  EXPECT_FALSE(p.get("version").has_value()) << "KONG_VERSION is not a property";
  EXPECT_FALSE(p.get("path").has_value());
  EXPECT_EQ(p.real_ip_header, "X-Forwarded-For") << "file values not overridden stay";
}

TEST(Properties, EnvironmentErrorsNameTheVariable) {
  EXPECT_EQ(error_of("", {{"KONG_PROXY_LISTEN", "0.0.0.0:abc"}}),
            "environment (KONG_PROXY_LISTEN): proxy_listen: invalid port 'abc'");
}

TEST(Properties, OnOffBooleans) {
  for (auto [text, expected] : {std::pair{"on", true},
                                {"off", false},
                                {"true", true},
                                {"False", false},
                                {"yes", true},
                                {"no", false},
                                {"1", true},
                                {"0", false}})
    EXPECT_EQ(parse_bool(text), expected) << text;
  EXPECT_FALSE(parse_bool("maybe").has_value());
}

TEST(Properties, SizesWithUnits) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("8k"), 8u * 1024);
  EXPECT_EQ(parse_size("8K"), 8u * 1024);
  EXPECT_EQ(parse_size("10m"), 10u * 1024 * 1024);
  EXPECT_EQ(parse_size("1g"), 1024u * 1024 * 1024);
  EXPECT_FALSE(parse_size("ten").has_value());
  EXPECT_FALSE(parse_size("10mb").has_value());
  EXPECT_FALSE(parse_size("").has_value());
}

TEST(Properties, ListenSyntax) {
  auto a = ListenAddress::parse("[::]:8443 ssl http2 reuseport backlog=4096 deferred");
  EXPECT_EQ(a.host, "::");
  EXPECT_EQ(a.port, 8443);
  EXPECT_TRUE(a.ssl && a.http2 && a.reuseport);
  EXPECT_EQ(a.backlog, 4096);
  EXPECT_EQ(ListenAddress::parse("*:80").host, "0.0.0.0");
  EXPECT_THROW(ListenAddress::parse("localhost"), ConfigError);
  EXPECT_THROW(ListenAddress::parse("0.0.0.0:70000"), ConfigError);
  EXPECT_THROW(ListenAddress::parse("0.0.0.0:80 fast"), ConfigError);
  EXPECT_THROW(ListenAddress::parse("0.0.0.0:80 backlog=x"), ConfigError);
}

TEST(Properties, CidrContainsV4V6AndMappedAddresses) {
  using boost::asio::ip::make_address;
  auto net = Cidr::parse("10.0.0.0/8");
  EXPECT_TRUE(net.contains(make_address("10.200.3.4")));
  EXPECT_FALSE(net.contains(make_address("11.0.0.1")));
  EXPECT_TRUE(net.contains(make_address("::ffff:10.1.2.3")));
  EXPECT_FALSE(net.contains(make_address("::1")));
  auto odd = Cidr::parse("192.168.1.128/25");
  EXPECT_TRUE(odd.contains(make_address("192.168.1.200")));
  EXPECT_FALSE(odd.contains(make_address("192.168.1.127")));
  auto host = Cidr::parse("192.168.1.7");
  EXPECT_TRUE(host.contains(make_address("192.168.1.7")));
  EXPECT_FALSE(host.contains(make_address("192.168.1.8")));
  auto v6 = Cidr::parse("fd00::/8");
  EXPECT_TRUE(v6.contains(make_address("fd12:3456::1")));
  EXPECT_FALSE(v6.contains(make_address("fe80::1")));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0").contains(make_address("8.8.8.8")));
  EXPECT_THROW(Cidr::parse("10.0.0.0/33"), ConfigError);
  EXPECT_THROW(Cidr::parse("not-an-ip"), ConfigError);
}

TEST(Properties, BadLinesNameFileAndLine) {
  TempDir dir;
  auto file = dir.write("bad.conf", "# comment\n\nlog_level = info\nthis line has no equals\n");
  EXPECT_EQ(error_of(file), file + ":4: expected 'key = value', got 'this line has no equals'");
  file = dir.write("port.conf", "proxy_listen = 0.0.0.0:8000, 0.0.0.0:abc\n");
  EXPECT_EQ(error_of(file), file + ":1: proxy_listen: invalid port 'abc'");
  file = dir.write("level.conf", "\nlog_level = chatty\n");
  EXPECT_EQ(error_of(file), file +
                                ":2: log_level: unknown level 'chatty' (expected debug, info, notice, warn, "
                                "error, crit, alert or emerg)");
  file = dir.write("size.conf", "client_max_body_size = 10 megs\n");
  EXPECT_EQ(error_of(file),
            file + ":1: client_max_body_size: invalid size '10 megs' (expected e.g. 0, 512, 8k, 10m)");
  file = dir.write("workers.conf", "nginx_worker_processes = 0\n");
  EXPECT_EQ(error_of(file), file + ":1: nginx_worker_processes: must be between 1 and 1024");
  file = dir.write("headers.conf", "headers = server_tokens, x-powered-by\n");
  EXPECT_EQ(error_of(file), file + ":1: headers: invalid entry 'x-powered-by'");
  file = dir.write("bool.conf", "real_ip_recursive = sometimes\n");
  EXPECT_EQ(error_of(file), file + ":1: real_ip_recursive: expected on or off");
  file = dir.write("ips.conf", "trusted_ips = 10.0.0.0/8, 300.1.1.1\n");
  EXPECT_EQ(error_of(file), file + ":1: trusted_ips: invalid IP address or CIDR '300.1.1.1'");
  file = dir.write("eq.conf", " = value\n");
  EXPECT_EQ(error_of(file), file + ":1: missing key before '='");
  EXPECT_EQ(error_of(dir.path() + "/missing.conf"),
            dir.path() + "/missing.conf: cannot open configuration file");
}

TEST(Properties, OffValuesAndLogTargets) {
  TempDir dir;
  auto file = dir.write("off.conf",
                        "proxy_listen = off\nplugins = off\nheaders = off\nproxy_access_log = off\n"
                        "proxy_error_log = /dev/stderr\nadmin_access_log = /var/log/gh/admin.log\n"
                        "declarative_config = off\nproxy_access_log_format = json\nKEY_IN_CAPS = 1\n");
  auto p = load_properties(file, {});
  EXPECT_TRUE(p.proxy_listen.empty());
  EXPECT_TRUE(p.plugins.empty());
  EXPECT_TRUE(p.headers.empty());
  EXPECT_EQ(p.proxy_access_log, "off");
  EXPECT_EQ(p.proxy_error_log, "stderr");
  EXPECT_EQ(p.admin_access_log, "/var/log/gh/admin.log");
  EXPECT_EQ(p.declarative_config, "");
  EXPECT_EQ(p.access_log_format, "json");
  EXPECT_EQ(p.get("key_in_caps"), "1") << "keys are lower-cased";
}

TEST(Properties, StreamAccessLogTakesKongsBasicFormatOnly) {
  TempDir dir;
  auto p =
      load_properties(dir.write("s.conf", "proxy_stream_access_log = /var/log/gh/stream.log basic\n"), {});
  EXPECT_EQ(p.proxy_stream_access_log, "/var/log/gh/stream.log");
  p = load_properties(dir.write("off.conf", "proxy_stream_access_log = off\n"), {});
  EXPECT_EQ(p.proxy_stream_access_log, "off");
  auto file = dir.write("bad.conf", "proxy_stream_access_log = logs/stream.log fancy\n");
  EXPECT_EQ(error_of(file),
            file + ":1: proxy_stream_access_log: unknown log format 'fancy' (expected 'basic')");
}

TEST(Properties, CurrentEnvironmentReadsEnviron) {
  ::setenv("GH_CONF_TEST_VARIABLE", "a=b", 1);
  auto env = current_environment();
  EXPECT_EQ(env["GH_CONF_TEST_VARIABLE"], "a=b");
  ::unsetenv("GH_CONF_TEST_VARIABLE");
}

}  // namespace
}  // namespace gh::conf
