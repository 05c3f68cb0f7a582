// The method table built from service Kong, checked row by row against the reference table of
// tests/data/reference/kong-gateway-side.md §6.5 (parsed from the document, not copied).
#include "pluginserver/protobuf/methods.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "test_data.h"

namespace gh::pluginserver::protobuf {
namespace {

struct Row {
  std::string rpc, name, input, output;
};

// "String" → kong_plugin_protocol.String; "google.protobuf.Struct", "Empty", "ListValue" → WKT.
std::string full_type(std::string cell) {
  cell = cell.substr(0, cell.find(' '));  // "RawBodyResult (≤2.7: String)" → "RawBodyResult"
  if (cell == "Empty" || cell == "ListValue" || cell == "Struct" || cell == "Value")
    return "google.protobuf." + cell;
  if (cell.rfind("google.protobuf.", 0) == 0) return cell;
  return "kong_plugin_protocol." + cell;
}

std::map<std::string, Row> reference_rows() {
  std::istringstream in(gh::test::read_data_file(gh::test::data_dir() / "reference/kong-gateway-side.md"));
  std::map<std::string, Row> rows;
  std::string line;
  bool in_table = false;
  const std::regex row(R"(^\| `(\w+)` \| `([a-z0-9_.]+)`[^|]*\| ([^|]+?) \| ([^|]+?) \|$)");
  while (std::getline(in, line)) {
    if (line.rfind("### 6.5", 0) == 0) in_table = true;
    if (line.rfind("### 6.6", 0) == 0) break;
    std::smatch m;
    if (in_table && std::regex_match(line, m, row))
      rows[m[2]] = {m[1], m[2], full_type(m[3]), full_type(m[4])};
  }
  return rows;
}

TEST(Methods, DerivesKongsWireNames) {
  EXPECT_EQ(derive_wire_name("Nginx_GetTls1VersionStr"), "kong.nginx.get_tls1_version_str");
  EXPECT_EQ(derive_wire_name("Service_Request_SetHeader"), "kong.service.request.set_header");
  EXPECT_EQ(derive_wire_name("Client_GetIp"), "kong.client.get_ip");
  EXPECT_EQ(derive_wire_name("Request_GetPathWithQuery"), "kong.request.get_path_with_query");
}

TEST(Methods, TableMatchesTheReferenceRowByRow) {
  const auto rows = reference_rows();
  ASSERT_EQ(rows.size(), 74u) << "reference table not parsed";
  ASSERT_EQ(pdk_methods().size(), 74u);
  for (const auto& method : pdk_methods()) {
    auto it = rows.find(method.name);
    ASSERT_NE(it, rows.end()) << method.name << " is not in the reference";
    EXPECT_EQ(method.rpc, it->second.rpc);
    EXPECT_EQ(method.input->full_name(), it->second.input) << method.name;
    EXPECT_EQ(method.output->full_name(), it->second.output) << method.name;
  }
}

TEST(Methods, MethodNameOptionWins) {
  const auto* set = find_pdk_method("kong.ctx.shared.set");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->rpc, "Ctx_SetShared");
  EXPECT_EQ(find_pdk_method("kong.ctx.set_shared"), nullptr);
}

TEST(Methods, ShapesFollowTheMessageTypes) {
  EXPECT_EQ(find_pdk_method("kong.log.err")->args, ArgShape::list);
  EXPECT_EQ(find_pdk_method("kong.response.exit")->args, ArgShape::exit);
  EXPECT_EQ(find_pdk_method("kong.client.authenticate")->args, ArgShape::authenticate);
  EXPECT_EQ(find_pdk_method("kong.service.request.set_raw_body")->args, ArgShape::bytes);
  EXPECT_EQ(find_pdk_method("kong.request.get_raw_body")->result, ResultShape::raw_body);
  EXPECT_EQ(find_pdk_method("kong.ctx.shared.get")->result, ResultShape::value);
  EXPECT_EQ(find_pdk_method("kong.router.get_route")->result, ResultShape::table);
  EXPECT_EQ(find_pdk_method("kong.request.get_headers")->result, ResultShape::map);
  EXPECT_EQ(find_pdk_method("kong.request.get_nonexistent_thing"), nullptr);
}

}  // namespace
}  // namespace gh::pluginserver::protobuf
