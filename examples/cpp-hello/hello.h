// cpp-hello: adds "x-hello-from-cpp: C++ says <message> to <host>" to the response, like go-hello.
#pragma once

#include <gatehouse/pdk/pdk.h>

#include <string>

namespace cpp_hello {

namespace pdk = gatehouse::pdk;

struct Config {
  std::string message = "hello";

  static auto fields() { return pdk::schema_fields(pdk::field("message", &Config::message).with_default()); }
};

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  void access(pdk::Kong& kong) const {
    std::string host = kong.request.get_header("host");
    kong.response.set_header("x-hello-from-cpp", "C++ says " + config_.message + " to " + host);
  }

 private:
  Config config_;
};

}  // namespace cpp_hello
