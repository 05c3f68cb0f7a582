// cpp-pdk-probe: a C++ PDK plugin server for the end-to-end tests (tests/integration/test_cpp_pdk.py).
// Its config's `group` selects which kong.* methods a request exercises, and in which phases.
// Results go back to the test (see record.h):
//   access, response  → response header x-pdk-<phase> (JSON, set with kong.response.set_header)
//   log               → one JSON line appended to config.report_file (the client is gone by then)
//   exit groups       → the body of kong.response.exit
// Together the groups call every rpc of pluginsocket.proto's Kong service; the test checks that.
// A few groups misbehave on purpose (hang, crash, throw) for the fault tests. The `declared` group
// declares its reads (Gatehouse:1 prefetches them from the instance's first event), plus a write and
// a call the gateway must refuse to prefetch.
#pragma once

#include <gatehouse/pdk/pdk.h>

#include <string>
#include <string_view>

#include "record.h"

namespace cpp_pdk_probe {

struct Config {
  std::string group;
  std::string report_file;  // log phase: where the record goes
  std::string marker_file;  // hang/crash: created when the handler starts (the test waits for it)
  int sleep_ms = 0;         // hang: how long the handler blocks
  std::string upstream;     // service-upstream: the Upstream entity to route to
  std::string target_host;  // service-target: where kong.service.set_target points
  int target_port = 0;
  std::string declared_header = "x-declared";  // declared: the header it declares and reads

  static auto fields() {
    return pdk::schema_fields(
        pdk::field("group", &Config::group)
            .required()
            .one_of({"request", "client", "ctx", "log", "response", "router", "service-request",
                     "service-target", "service-upstream", "service-response", "exit", "exit-response",
                     "order", "exit-batch", "hang", "crash", "throw", "declared"}),
        pdk::field("report_file", &Config::report_file), pdk::field("marker_file", &Config::marker_file),
        pdk::field("sleep_ms", &Config::sleep_ms).between(0, 600000),
        pdk::field("upstream", &Config::upstream), pdk::field("target_host", &Config::target_host),
        pdk::field("target_port", &Config::target_port),
        pdk::field("declared_header", &Config::declared_header).with_default());
  }
};

// One group's work in one phase.
using Step = void (*)(pdk::Kong&, Record&, const Config&);
// The step of `group` in `phase`, null when the group does nothing there.
Step step_for(std::string_view group, std::string_view phase);

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  void access(pdk::Kong& kong) const { run(kong, "access"); }
  void response(pdk::Kong& kong) const { run(kong, "response"); }
  void log(pdk::Kong& kong) const { run(kong, "log"); }
  // The reads each phase declares (only the `declared` group declares any).
  pdk::Reads reads(std::string_view phase) const;

 private:
  void run(pdk::Kong& kong, std::string_view phase) const;

  Config config_;
};

}  // namespace cpp_pdk_probe
