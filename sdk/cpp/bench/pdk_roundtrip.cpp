// Measures the embedded server alone: a gateway-side client runs events with N PDK calls each on
// one connection against cpp-bench and reports events/s, µs per event and the plugin's CPU time
// per event. Not a test (timings vary); run it by hand:
//   pdk_roundtrip <path to cpp-bench> [events=20000]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "../tests/support.h"
#include "proto/pluginsocket.pb.h"

namespace pb = kong_plugin_protocol;
using namespace pdk_test;

namespace {

// utime + stime of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // fields 3..13
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <cpp-bench executable> [events]\n", argv[0]);
    return 2;
  }
  int events = argc > 2 ? std::atoi(argv[2]) : 20000;
  TempDir dir;
  std::string name = fs::path(argv[1]).filename().string();
  Process server({argv[1], "-kong-prefix", dir.path().string()});
  std::string socket = (dir.path() / (name + ".socket")).string();
  if (!wait_for_socket(socket)) return 1;

  pb::String reply;
  reply.set_v("bench.example.test");
  const std::string reply_bytes = reply.SerializeAsString();
  std::printf("calls/event  events/s  us/event  plugin-cpu-us/event\n");
  for (int calls : {0, 1, 2, 4, 8}) {
    GatewayConn conn(socket);
    pb::RpcCall start;
    start.set_sequence(2);
    start.mutable_cmd_start_instance()->set_name(name);
    start.mutable_cmd_start_instance()->set_config("{\"calls\":" + std::to_string(calls) +
                                                   ",\"__seq__\":" + std::to_string(calls + 1) + "}");
    conn.write_frame(start.SerializeAsString());
    conn.read_frame();
    pb::RpcCall event;
    event.mutable_cmd_handle_event()->set_instance_id(calls + 1);
    event.mutable_cmd_handle_event()->set_event_name("access");
    double cpu_before = cpu_seconds(server.pid());
    auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < events; ++i) {
      event.set_sequence(3 + i);
      conn.write_frame(event.SerializeAsString());
      for (int c = 0; c < calls; ++c) {
        conn.read_frame();  // method
        conn.read_frame();  // argument
        conn.write_frame(reply_bytes);
      }
      conn.read_frame();  // end of event
      conn.read_frame();  // RpcReturn
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    double cpu = cpu_seconds(server.pid()) - cpu_before;
    std::printf("%11d  %8.0f  %8.2f  %19.2f\n", calls, events / seconds, 1e6 * seconds / events,
                1e6 * cpu / events);
  }
  return 0;
}
