// Which protocol gatehouse speaks to a server (docs/protocol.md §1): Gatehouse:1 when the dump's
// "Protocols" offers it, unless pluginserver_<name>_protocol forces another offered one; a dump
// without "Protocols" keeps its "Protocol" exactly as before.
#include <gtest/gtest.h>

#include "pluginserver/config.h"
#include "pluginserver/registry.h"
#include "test_util.h"

namespace gh::pluginserver {
namespace {

constexpr const char* kCppDump =
    R"({"Protocol":"ProtoBuf:1","Protocols":["Gatehouse:1","ProtoBuf:1"],"SocketPath":"/x",)"
    R"("Plugins":[{"Name":"cpp-p","Phases":["access"],"Version":"1","Priority":1}]})";
constexpr const char* kGoDump =
    R"({"Protocol":"ProtoBuf:1","SocketPath":"/x","Plugins":[{"Name":"go-p","Phases":["access"],"Version":"1","Priority":1}]})";

std::string chosen(const std::string& dump, const std::string& forced = "") {
  testing::TempDir dir;
  std::map<std::string, std::string> props = {
      {"pluginserver_names", "s"},
      {"pluginserver_s_query_cmd", dir.script("dump", "#!/bin/sh\ncat " + dir.file("d.json", dump) + "\n")},
      {"pluginserver_s_start_cmd", "/bin/true"}};
  if (!forced.empty()) props["pluginserver_s_protocol"] = forced;
  auto servers = servers_from_properties(props, dir.path());
  Registry registry = query_servers(servers, {});
  return registry.all().at(0).protocol;
}

TEST(ProtocolChoice, GatehouseWhenOffered) {
  EXPECT_EQ(parse_dump(kCppDump).protocols, (std::vector<std::string>{"Gatehouse:1", "ProtoBuf:1"}));
  EXPECT_EQ(chosen(kCppDump), "Gatehouse:1");
}

TEST(ProtocolChoice, ThePropertyForcesAnOfferedProtocol) {
  EXPECT_EQ(chosen(kCppDump, "ProtoBuf:1"), "ProtoBuf:1");
  EXPECT_EQ(chosen(kCppDump, "auto"), "Gatehouse:1");
}

TEST(ProtocolChoice, ServersThatDoNotOfferItKeepTheirProtocol) {
  EXPECT_TRUE(parse_dump(kGoDump).protocols.empty());
  EXPECT_EQ(chosen(kGoDump), "ProtoBuf:1");
  EXPECT_EQ(chosen(kGoDump, "Gatehouse:1"), "ProtoBuf:1");  // not offered: warned, ignored
}

}  // namespace
}  // namespace gh::pluginserver
