// cpp-sni-tag: a C++ PDK plugin with a `certificate` phase. During the TLS handshake it notes the
// server name the client asked for in kong.ctx.shared; in `access` it sends it upstream as
// "x-cpp-sni: <name>". Kong's external plugins get the certificate phase only as global plugins.
// When the client presented a certificate (another plugin asked for one during the handshake with
// kong.client.tls.request_client_certificate), it also sends its subject and verification result
// upstream: the ProtoBuf:1 PDK has no kong.client.tls.* (nor has go-pdk), nginx's $ssl_client_*
// variables carry them.
#include <gatehouse/pdk/pdk.h>

#include <string>

namespace pdk = gatehouse::pdk;

struct Config {
  std::string header = "x-cpp-sni";

  static auto fields() { return pdk::schema_fields(pdk::field("header", &Config::header).with_default()); }
};

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  void certificate(pdk::Kong& kong) const {
    std::string sni = kong.nginx.get_var("ssl_server_name");
    kong.ctx.shared.set("cpp_sni", pdk::Value(sni.empty() ? std::string("(none)") : sni));
  }

  void access(pdk::Kong& kong) const {
    auto sni = kong.ctx.shared.get("cpp_sni");
    kong.service.request.set_header(config_.header,
                                    sni.is_string() ? sni.get<std::string>() : std::string("(no handshake)"));
    std::string subject = kong.nginx.get_var("ssl_client_s_dn");
    if (subject.empty()) return;
    kong.service.request.set_header(config_.header + "-client", subject);
    kong.service.request.set_header(config_.header + "-client-verify",
                                    kong.nginx.get_var("ssl_client_verify"));
  }

 private:
  Config config_;
};

int main(int argc, char** argv) {
  return pdk::serve<Plugin, Config>(argc, argv, "1.0.0", 800);
}
