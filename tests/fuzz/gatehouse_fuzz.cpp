// libFuzzer target: the frames a Gatehouse:1 plugin server adds to ProtoBuf:1 (docs/protocol.md):
// `gatehouse.declare` (a Declaration, sent when an instance starts) and `gatehouse.learn` (a Reads
// report), both attacker-controlled bytes that decide what the gateway runs before the handler
// asks. Each length-prefixed frame of the input is, by its first byte, a declaration or a report
// for one of a few instances and phases; afterwards every planned read's arguments are decoded as
// the event's prefetch does (Client::event_frames). Plans must stay bounded (kMaxReadsPerPhase).
#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>

#include "fuzz_support.h"
#include "pluginserver/gatehouse/client.h"
#include "pluginserver/protobuf/errors.h"
#include "pluginserver/protobuf/framing.h"
#include "pluginserver/protobuf/pdk_codec.h"

namespace gatehouse = gh::pluginserver::gatehouse;
namespace pb = gh::pluginserver::protobuf;

namespace {

const char* const kPhases[] = {"certificate", "rewrite", "access", "response", "log", "preread"};

void run_plan(gatehouse::PrefetchPlan& plan, pb::PdkCodec& codec, std::int64_t instance) {
  for (const char* phase : kPhases) {
    auto reads = plan.find(instance, phase);
    if (!reads) continue;
    gh::fuzz::require(reads->size() <= gatehouse::PrefetchPlan::kMaxReadsPerPhase);
    for (const auto& read : *reads) {
      gh::fuzz::require(read.method != nullptr && gatehouse::prefetchable(read.method->name));
      try {
        (void)codec.decode_args(*read.method, read.args);
      } catch (const pb::RpcError&) {
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto plan = std::make_shared<gatehouse::PrefetchPlan>();  // a plan per input
  pb::FrameReader reader(1 << 16);
  pb::PdkCodec codec;
  auto room = reader.prepare();
  const size_t n = std::min(room.size(), size);
  std::memcpy(room.data(), data, n);
  reader.commit(n);
  try {
    while (auto frame = reader.next()) {
      if (frame->empty()) continue;
      const uint8_t choice = static_cast<uint8_t>((*frame)[0]);
      const std::int64_t instance = choice % 3;
      const std::string_view body = frame->substr(1);
      if (choice & 0x80) {
        (void)plan->declare(instance, body);
      } else {
        (void)plan->learn(instance, kPhases[(choice >> 2) % std::size(kPhases)], body);
      }
      if (choice & 0x40) plan->forget(instance);
    }
  } catch (const pb::RpcError&) {
  }
  for (std::int64_t instance = 0; instance < 3; ++instance) run_plan(*plan, codec, instance);
  return 0;
}
