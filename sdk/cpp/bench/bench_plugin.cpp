// cpp-bench: the C++ plugin of the bench/ plugin scenario. Its access handler makes `calls` PDK
// calls (kong.request.get_header), so request cost can be plotted against PDK calls per request.
#include <gatehouse/pdk/pdk.h>

namespace pdk = gatehouse::pdk;

struct BenchConfig {
  int calls = 1;
  static auto fields() {
    return pdk::schema_fields(pdk::field("calls", &BenchConfig::calls).with_default().between(0, 1000));
  }
  void access(pdk::Kong& kong) const {
    for (int i = 0; i < calls; ++i) kong.request.get_header("host");
  }
};

int main(int argc, char** argv) {
  return pdk::serve<BenchConfig>(argc, argv, "1.0.0", 0);
}
