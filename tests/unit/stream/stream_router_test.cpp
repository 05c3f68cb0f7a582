#include "stream/stream_router.h"

#include <gtest/gtest.h>

#include "conf/declarative.h"

namespace gh::stream {
namespace {

namespace ip = boost::asio::ip;

const char* kYaml = R"(_format_version: "3.0"
services:
  - name: db
    url: tcp://10.0.0.1:5432
    routes:
      - name: internal-clients
        protocols: [tcp]
        sources: [{ip: 10.0.0.0/8}]
        destinations: [{port: 9000}]
      - name: any-on-9000
        protocols: [tcp]
        destinations: [{port: 9000}]
  - name: secure
    url: tls://10.0.0.2:443
    routes:
      - name: api-tls
        protocols: [tls]
        snis: ["api.example.test", "*.apps.example.test"]
      - name: passthrough
        protocols: [tls_passthrough]
        snis: ["pass.example.test"]
  - name: web
    url: http://10.0.0.3
    routes:
      - name: http-route
        paths: ["/"]
)";

class StreamRouterTest : public ::testing::Test {
 protected:
  std::string route_for(std::string_view protocol, const char* source, uint16_t dest_port,
                        std::string_view sni = "") {
    StreamRequest r{protocol, ip::make_address(source), 40000, ip::make_address("127.0.0.1"), dest_port, sni};
    auto m = router.match(r);
    return m ? m->route->name : "(none)";
  }
  conf::Declarative config = conf::parse_declarative(kYaml, "kong.yml");
  StreamRouter router{config};
};

TEST_F(StreamRouterTest, MoreCriteriaFirstThenSources) {
  EXPECT_EQ(route_for("tcp", "10.1.2.3", 9000), "internal-clients");
  EXPECT_EQ(route_for("tcp", "192.168.0.1", 9000), "any-on-9000");
  EXPECT_EQ(route_for("tcp", "10.1.2.3", 9001), "(none)");
}

TEST_F(StreamRouterTest, SnisWithWildcardsAndProtocols) {
  EXPECT_EQ(route_for("tls", "1.2.3.4", 9443, "api.example.test"), "api-tls");
  EXPECT_EQ(route_for("tls", "1.2.3.4", 9443, "Shop.Apps.Example.Test."), "api-tls");
  EXPECT_EQ(route_for("tls", "1.2.3.4", 9443, "apps.example.test"), "(none)");
  EXPECT_EQ(route_for("tls", "1.2.3.4", 9443, "pass.example.test"), "(none)");  // a passthrough-only route
  EXPECT_EQ(route_for("tls_passthrough", "1.2.3.4", 9443, "pass.example.test"), "passthrough");
  EXPECT_EQ(route_for("tcp", "1.2.3.4", 9443, "api.example.test"), "(none)");
}

TEST_F(StreamRouterTest, HttpRoutesAreNotStreamRoutes) {
  EXPECT_FALSE(is_stream_route(config.routes.back()));
  EXPECT_TRUE(is_stream_route(config.routes.front()));
  auto m = router.match({"tcp", ip::make_address("10.0.0.9"), 1, ip::make_address("127.0.0.1"), 9000, ""});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->service->name, "db");
}

// With as many criteria, Kong tries snis before sources before destinations, whatever the file order.
TEST(StreamRoutes, TiesGoToSnisThenSourcesThenDestinations) {
  auto config = conf::parse_declarative(R"(_format_version: "3.0"
services:
  - name: s
    url: tcp://10.0.0.1:1
    routes:
      - {name: by-destination, protocols: [tls], destinations: [{port: 9100}]}
      - {name: by-source, protocols: [tls], sources: [{ip: 10.0.0.0/8}]}
      - {name: by-sni, protocols: [tls], snis: [x.example.test]}
)",
                                        "kong.yml");
  StreamRouter router(config);
  auto route_for = [&](const char* source, std::string_view sni) {
    auto m = router.match({"tls", ip::make_address(source), 1, ip::make_address("127.0.0.1"), 9100, sni});
    return m ? m->route->name : std::string("(none)");
  };
  EXPECT_EQ(route_for("10.1.1.1", "x.example.test"), "by-sni");
  EXPECT_EQ(route_for("10.1.1.1", "y.example.test"), "by-source");
  EXPECT_EQ(route_for("192.168.1.1", "y.example.test"), "by-destination");
}

TEST(StreamRoutes, ValidationNamesTheField) {
  auto error = [](const std::string& routes) {
    try {
      conf::parse_declarative("_format_version: \"3.0\"\nroutes:\n" + routes, "kong.yml");
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(error("  - protocols: [tcp]\n"),
            "kong.yml:3: routes[0]: must set one of 'sources', 'destinations', 'snis' when 'protocols' is a "
            "stream protocol");
  EXPECT_EQ(error("  - protocols: [tls_passthrough]\n    sources: [{port: 1}]\n"),
            "kong.yml:3: routes[0]: 'tls_passthrough' routes need 'snis'");
  EXPECT_EQ(error("  - protocols: [tcp]\n    sources: [{ip: 300.1.1.1}]\n").substr(0, 37),
            "kong.yml:4: routes[0].sources[0].ip: ");
  EXPECT_EQ(error("  - protocols: [tcp]\n    sources: [{}]\n"),
            "kong.yml:4: routes[0].sources[0]: must set 'ip' or 'port'");
  EXPECT_EQ(error("  - paths: [/]\n    sources: [{port: 1}]\n"),
            "kong.yml:3: routes[0]: 'sources' and 'destinations' can only be set when 'protocols' is 'tcp', "
            "'tls', 'tls_passthrough' or 'udp'");
}

}  // namespace
}  // namespace gh::stream
