// A plugin for server_test.cpp: access waits `delay_ms` (to observe concurrency), then sets a
// header; with `fail` it throws instead, to exercise the server's handling of plugin errors.
#include <gatehouse/pdk/pdk.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace pdk = gatehouse::pdk;

struct TestConfig {
  int delay_ms = 0;
  bool fail = false;
  static auto fields() {
    return pdk::schema_fields(pdk::field("delay_ms", &TestConfig::delay_ms).with_default(),
                              pdk::field("fail", &TestConfig::fail).with_default());
  }
};

class TestPlugin {
 public:
  explicit TestPlugin(TestConfig config) : config_(config) {}

  void access(pdk::Kong& kong) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(config_.delay_ms));
    if (config_.fail) throw std::runtime_error("boom");
    kong.response.set_header("x-delay", std::to_string(config_.delay_ms));
  }

 private:
  TestConfig config_;
};

int main(int argc, char** argv) {
  return pdk::serve<TestPlugin, TestConfig>(argc, argv, "0.1.0", 5);
}
