// cpp-stream-guard: the C++ PDK (ProtoBuf:1) twin of js-stream-guard, for stream connections.
// preread: lets the connection through only when the client address is in config.allow (else
// kong.response.exit(403, reason): the gateway logs the reason and closes the connection), or
// answers config.banner itself (kong.response.exit(200, banner): the client gets the banner, the
// upstream is never contacted); notes what the stream PDK reports in kong.ctx.shared.
// log: appends one JSON line (preread's notes and what the log phase sees) to config.log_file.
#include <gatehouse/pdk/pdk.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace pdk = gatehouse::pdk;

struct Config {
  std::vector<std::string> allow;
  std::string banner;
  std::string log_file;

  static auto fields() {
    return pdk::schema_fields(pdk::field("allow", &Config::allow).with_default(),
                              pdk::field("banner", &Config::banner),  // optional: Kong strings cannot be ""
                              pdk::field("log_file", &Config::log_file));
  }
};

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  void preread(pdk::Kong& kong) const {
    std::string ip = kong.client.get_ip();
    kong.ctx.shared.set("preread", pdk::Value{{"ip", ip},
                                              {"forwarded_ip", kong.client.get_forwarded_ip()},
                                              {"port", kong.client.get_port()},
                                              {"forwarded_port", kong.client.get_forwarded_port()},
                                              {"subsystem", kong.nginx.get_subsystem()}});
    if (!config_.banner.empty()) return kong.response.exit(200, config_.banner);
    if (std::find(config_.allow.begin(), config_.allow.end(), ip) == config_.allow.end())
      return kong.response.exit(403, "cpp-stream-guard denied " + ip);
  }

  void log(pdk::Kong& kong) const {
    if (config_.log_file.empty()) return;
    auto route = kong.router.get_route();
    pdk::Value entry{{"plugin", "cpp"},
                     {"route", route ? pdk::Value(route->name) : pdk::Value()},
                     {"preread", kong.ctx.shared.get("preread")},
                     {"subsystem", kong.nginx.get_subsystem()},
                     {"protocol", kong.client.get_protocol()},
                     {"ip", kong.client.get_ip()}};
    std::ofstream(config_.log_file, std::ios::app) << entry.dump() << "\n";
  }

 private:
  Config config_;
};

int main(int argc, char** argv) {
  return pdk::serve<Plugin, Config>(argc, argv, "1.0.0", 940);
}
