#include "traffic/correlation_id.h"

#include <fmt/format.h>
#include <unistd.h>

#include <random>

namespace gh::traffic {

namespace {

std::mt19937_64& thread_random() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

}  // namespace

std::string random_uuid() {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t halves[2] = {thread_random()(), thread_random()()};
  halves[0] = (halves[0] & ~uint64_t{0xf000}) | 0x4000;                    // version 4
  halves[1] = (halves[1] & ~(uint64_t{0xc} << 60)) | (uint64_t{8} << 60);  // RFC 4122 variant
  std::string out;
  out.reserve(36);
  for (int half = 0; half < 2; ++half) {
    for (int i = 15; i >= 0; --i) {
      size_t pos = static_cast<size_t>(half * 16 + (15 - i));
      if (pos == 8 || pos == 12 || pos == 16 || pos == 20) out += '-';
      out += kHex[(halves[half] >> (i * 4)) & 0xf];
    }
  }
  return out;
}

CorrelationGenerator parse_generator(std::string_view name) {
  if (name == "uuid") return CorrelationGenerator::uuid;
  if (name == "tracker") return CorrelationGenerator::tracker;
  return CorrelationGenerator::uuid_counter;
}

std::string generate_correlation_id(CorrelationGenerator generator, const TrackerInputs& tracker) {
  switch (generator) {
    case CorrelationGenerator::uuid:
      return random_uuid();
    case CorrelationGenerator::tracker:
      return fmt::format("{}-{}-{}-{}-{}-{:.3f}", tracker.server_addr, tracker.server_port, getpid(),
                         tracker.connection, tracker.connection_requests, tracker.now_seconds);
    case CorrelationGenerator::uuid_counter:
      break;
  }
  thread_local const std::string worker_uuid = random_uuid();
  thread_local uint64_t counter = 0;
  return worker_uuid + "#" + std::to_string(++counter);
}

}  // namespace gh::traffic
