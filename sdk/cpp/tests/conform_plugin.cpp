// The C++ twin of go-conform, the plugin the go-pb-* transcripts were recorded with
// (tests/data/conformance/README.md §3, §4): the same PDK calls in the same order, per phase and
// per config mode (normal / exit / error). conformance_test.cpp plays the gateway side of each
// transcript against it and expects go-pdk's frames back.
#include <gatehouse/pdk/pdk.h>

#include <algorithm>
#include <cctype>
#include <string>

namespace pdk = gatehouse::pdk;

namespace {

std::string keys_of(const pdk::Headers& map) {
  std::string out;
  for (const auto& [key, values] : map) out += (out.empty() ? "" : ",") + key;
  return out;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

struct Conform {
  std::string mode;
  std::string tag;

  static auto fields() {
    return pdk::schema_fields(pdk::field("mode", &Conform::mode), pdk::field("tag", &Conform::tag));
  }

  void rewrite(pdk::Kong& kong) const {
    auto scheme = kong.request.get_scheme();
    auto host = kong.request.get_host();
    auto port = kong.request.get_port();
    auto method = kong.request.get_method();
    auto path = kong.request.get_path();
    auto path_with_query = kong.request.get_path_with_query();
    auto raw_query = kong.request.get_raw_query();
    auto forwarded_scheme = kong.request.get_forwarded_scheme();
    auto forwarded_host = kong.request.get_forwarded_host();
    auto forwarded_port = kong.request.get_forwarded_port();
    auto version = kong.request.get_http_version();
    auto request_id = kong.nginx.get_var("request_id");

    kong.service.request.set_scheme("http");
    kong.service.request.set_path("/internal" + path);
    kong.service.request.set_method("PUT");
    kong.service.request.set_raw_query(raw_query + "&via=conform");
    kong.service.request.set_header("x-conform-request-id", request_id);
    kong.service.request.set_header(
        "x-conform-origin", forwarded_scheme + "://" + forwarded_host + ":" + std::to_string(forwarded_port) +
                                " (was " + scheme + "://" + host + ":" + std::to_string(port) + ")");
    kong.log.info("rewrite ", method, " ", path_with_query, " HTTP/", version, " tag=", tag);
  }

  void access(pdk::Kong& kong) const {
    if (mode == "exit") return reject(kong);
    if (mode == "error") return report_errors(kong);

    auto host = kong.request.get_header("host");
    auto headers = kong.request.get_headers(-1);
    auto query = kong.request.get_query(-1);
    auto color = kong.request.get_query_arg("color");
    auto body = kong.request.get_raw_body();
    auto ip = kong.client.get_ip();
    auto forwarded_ip = kong.client.get_forwarded_ip();
    auto port = kong.client.get_port();
    bool trusted = kong.ip.is_trusted(forwarded_ip);
    auto before = kong.client.get_consumer();
    kong.client.authenticate(
        pdk::Consumer{
            "8e1c4b0a-3f5d-4a6e-9b7c-1d2e3f405162", 1700000000, "alice", "cust-0042", {"gold", "beta"}},
        pdk::Credential{"c0ffee00-1111-4222-8333-444455556666", "8e1c4b0a-3f5d-4a6e-9b7c-1d2e3f405162"});
    auto after = kong.client.get_consumer().value_or(pdk::Consumer{});
    auto route = kong.router.get_route().value_or(pdk::Route{});
    auto service = kong.router.get_service().value_or(pdk::Service{});
    auto node = kong.node.get_id();

    kong.ctx.shared.set("conform.user", after.username);
    kong.ctx.shared.set("conform.score", 7.5);
    kong.service.request.set_query({{"color", {"red"}}, {"page", {"1", "2"}}});
    kong.service.request.set_raw_body(upper(body));
    kong.service.request.set_header("x-conform-consumer", after.username);

    kong.response.set_header("x-conform-node", node);
    kong.response.add_header("x-conform-multi", "one");
    kong.response.add_header("x-conform-multi", "two");
    kong.response.clear_header("x-powered-by");
    kong.response.set_headers(
        {{"x-conform-route", {route.name}}, {"x-conform-service", {service.name, service.host}}});
    bool echo = kong.response.get_header("x-conform-node") == node;
    kong.response.set_header(
        "x-conform-summary",
        "host=" + host + " color=" + color + " ip=" + ip + " fip=" + forwarded_ip +
            " port=" + std::to_string(port) + " trusted=" + (trusted ? "true" : "false") + " before=\"" +
            (before ? before->id : "") + "\" after=" + after.id + " route=" + route.id + " svc=" +
            service.host + ":" + std::to_string(service.port) + " body=" + std::to_string(body.size()) +
            " hdrs=" + keys_of(headers) + " query=" + keys_of(query) + " echo=" + (echo ? "true" : "false"));
  }

  void response(pdk::Kong& kong) const {
    auto status = kong.service.response.get_status();
    auto content_type = kong.service.response.get_header("content-type");
    auto upstream_headers = kong.service.response.get_headers(-1);
    auto body = kong.service.response.get_raw_body();
    auto response_status = kong.response.get_status();
    auto via = kong.response.get_header("x-upstream");
    auto response_headers = kong.response.get_headers(-1);
    auto user = kong.ctx.shared.get_string("conform.user");

    kong.response.set_header("x-conform-upstream", std::to_string(status) + " " + content_type + " " +
                                                       std::to_string(body.size()) + " bytes via " + via);
    kong.response.add_header("x-conform-seen", user);
    kong.response.clear_header("x-upstream-secret");
    kong.response.set_headers(
        {{"x-conform-cookies", upstream_headers["set-cookie"]},
         {"x-conform-counts",
          {std::to_string(response_status) + "/" + std::to_string(upstream_headers.size()) + "/" +
           std::to_string(response_headers.size())}}});
  }

  void log(pdk::Kong& kong) const {
    auto serialized = kong.log.serialize();
    auto user = kong.ctx.shared.get_string("conform.user");
    auto status = kong.response.get_status();
    auto agent = kong.request.get_header("user-agent");
    auto node = kong.node.get_id();
    kong.log.info("log ", status, " ", user, " ", agent, " serialized=", serialized.size(), " node=", node);
  }

 private:
  void reject(pdk::Kong& kong) const {
    if (!kong.request.get_header("authorization").empty()) return;
    kong.log.notice("no credentials, rejecting");
    kong.response.exit(
        401, R"({"message":")" + pdk::detail::executable_name() + R"(: credentials required"})",
        {{"Content-Type", {"application/json"}}, {"WWW-Authenticate", {"Basic realm=\"conform\""}}});
  }

  void report_errors(pdk::Kong& kong) const {
    std::string errors;
    try {
      kong.request.get_raw_body();
      errors = "raw_body: ok";
    } catch (const pdk::PdkError& e) {
      errors = std::string("raw_body: ") + e.what();
    }
    kong.service.set_upstream("no-such-upstream");
    errors += "; query_arg: \"" + kong.request.get_query_arg("missing") + "\" <nil>";
    try {
      errors += "; shared: " + kong.ctx.shared.get_string("conform.count");
    } catch (const pdk::PdkError& e) {
      errors += std::string("; shared: ") + e.what();
    }
    kong.log.err("conform errors: ", errors);
    kong.response.set_header("x-conform-errors", errors);
  }
};

int main(int argc, char** argv) {
  return pdk::serve<Conform>(argc, argv, "1.2.3", 910);
}
