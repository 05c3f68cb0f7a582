// libFuzzer target: what a ProtoBuf:1 plugin server sends the gateway during an event
// (docs/protocol-protobuf.md): a byte stream cut into length-prefixed frames (FrameReader, fed in
// pieces the first byte sizes), in which a PDK call is a method-name frame followed by its argument
// frame, decoded for that method (PdkCodec::decode_args, the shapes of kong-gateway-side.md §6.6).
// An argument frame must decode or be refused with RpcError; an unknown method name is skipped like
// any other frame; lengths over the bound are refused before anything is allocated for them.
#include <algorithm>
#include <cstring>

#include "fuzz_support.h"
#include "pluginserver/protobuf/errors.h"
#include "pluginserver/protobuf/framing.h"
#include "pluginserver/protobuf/methods.h"
#include "pluginserver/protobuf/pdk_codec.h"

namespace pb = gh::pluginserver::protobuf;

namespace {

void decode_call(pb::PdkCodec& codec, const pb::PdkMethod& method, std::string_view args_frame) {
  try {
    nlohmann::json args = codec.decode_args(method, args_frame);
    gh::fuzz::require(args.is_array());
    (void)args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const pb::RpcError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [choice, stream] = gh::fuzz::split_choice(data, size);
  const size_t piece = 1 + choice % 32;
  pb::FrameReader reader(1 << 16);  // a small bound, so that the refusal path is reached too
  pb::PdkCodec codec;
  const pb::PdkMethod* called = nullptr;  // the method named by the previous frame
  try {
    for (size_t offset = 0; offset < stream.size(); offset += piece) {
      auto room = reader.prepare();
      const size_t n = std::min({piece, room.size(), stream.size() - offset});
      std::memcpy(room.data(), stream.data() + offset, n);
      reader.commit(n);
      while (auto frame = reader.next()) {
        if (called) {
          decode_call(codec, *called, *frame);
          called = nullptr;
        } else {
          called = pb::find_pdk_method(*frame);
        }
      }
      if (n < piece) break;
    }
  } catch (const pb::RpcError&) {  // a frame over the bound: the connection is dropped
  }
  return 0;
}
