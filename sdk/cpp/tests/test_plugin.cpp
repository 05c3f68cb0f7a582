// A plugin for server_test.cpp and batch_test.cpp: access waits `delay_ms` (to observe concurrency),
// then sets a header; with `fail` it throws instead, to exercise the server's handling of plugin
// errors. `mode` picks other handlers for the Gatehouse:1 tests: "batch" (reads, writes, a read after
// a write of the same data), "exit" (writes around kong.response.exit), "declare" (batch, with its
// access reads declared), "declare-throw" (batch, with a declaration that throws).
#include <gatehouse/pdk/pdk.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace pdk = gatehouse::pdk;

struct TestConfig {
  int delay_ms = 0;
  bool fail = false;
  std::string mode;
  static auto fields() {
    return pdk::schema_fields(pdk::field("delay_ms", &TestConfig::delay_ms).with_default(),
                              pdk::field("fail", &TestConfig::fail).with_default(),
                              pdk::field("mode", &TestConfig::mode));
  }
};

class TestPlugin {
 public:
  explicit TestPlugin(TestConfig config) : config_(config) {}

  void access(pdk::Kong& kong) const {
    if (config_.mode == "batch" || config_.mode.starts_with("declare")) return batch(kong);
    if (config_.mode == "exit") return exit(kong);
    std::this_thread::sleep_for(std::chrono::milliseconds(config_.delay_ms));
    if (config_.fail) throw std::runtime_error("boom");
    kong.response.set_header("x-delay", std::to_string(config_.delay_ms));
  }

  // Gatehouse:1 declared reads: batch's reads, as the calls themselves.
  pdk::Reads reads(std::string_view phase) const {
    pdk::Reads reads;
    if (phase != "access" || !config_.mode.starts_with("declare")) return reads;
    if (config_.mode == "declare-throw") throw std::runtime_error("no declaration today");
    reads.kong().request.get_header("x-a");
    reads.kong().request.get_header("x-a");  // declared once
    reads.kong().ctx.shared.get("k");        // get_string's call (get_string itself throws on the null)
    return reads;
  }

 private:
  static void batch(pdk::Kong& kong) {
    const auto a = kong.request.get_header("x-a");
    const auto again = kong.request.get_header("x-a");
    kong.response.set_header("x-got", a + "," + again);
    kong.ctx.shared.set("k", "written");
    kong.response.set_header("x-shared", kong.ctx.shared.get_string("k"));
  }

  static void exit(pdk::Kong& kong) {
    kong.response.set_header("x-before", "1");
    kong.response.exit(403, "no");
    try {
      kong.response.set_header("x-after", "1");
    } catch (const pdk::PdkError&) {
      // expected: every call after exit fails, as in ProtoBuf:1 where the connection is closed
    }
  }

  TestConfig config_;
};

int main(int argc, char** argv) {
  return pdk::serve<TestPlugin, TestConfig>(argc, argv, "0.1.0", 5);
}
