// cpp-hello: adds "x-hello-from-cpp: C++ says <message> to <host>" to the response, like go-hello.
#pragma once

#include <gatehouse/pdk/pdk.h>

#include <string>
#include <string_view>

namespace cpp_hello {

namespace pdk = gatehouse::pdk;

struct Config {
  std::string message = "hello";

  static auto fields() { return pdk::schema_fields(pdk::field("message", &Config::message).with_default()); }
};

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  // Optional (Gatehouse:1): the reads access makes, sent with every event, the first one included.
  static pdk::Reads reads(std::string_view phase) {
    pdk::Reads reads;
    if (phase == "access") reads.kong().request.get_header("host");
    return reads;
  }

  void access(pdk::Kong& kong) const {
    std::string host = kong.request.get_header("host");
    kong.response.set_header("x-hello-from-cpp", "C++ says " + config_.message + " to " + host);
  }

 private:
  Config config_;
};

}  // namespace cpp_hello
