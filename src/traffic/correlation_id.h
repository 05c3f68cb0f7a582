// correlation-id's generators (Kong's kong/plugins/correlation-id/handler.lua).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gh::traffic {

// A random (version 4) UUID, lower-case hex, as kong.tools.uuid makes.
std::string random_uuid();

// What the tracker generator prints: server address and port, process id, the connection's
// serial number and its request count, and the time in seconds with milliseconds.
struct TrackerInputs {
  std::string_view server_addr;
  uint16_t server_port = 0;
  uint64_t connection = 0;
  uint64_t connection_requests = 0;
  double now_seconds = 0;
};

enum class CorrelationGenerator { uuid, uuid_counter, tracker };
CorrelationGenerator parse_generator(std::string_view name);  // unknown: uuid#counter (the default)

// The next id. uuid#counter keeps one UUID and a counter per worker thread (Kong: per nginx
// worker), starting at 1.
std::string generate_correlation_id(CorrelationGenerator generator, const TrackerInputs& tracker);

}  // namespace gh::traffic
