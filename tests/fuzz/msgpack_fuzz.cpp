// libFuzzer target for the MessagePack decoder (src/pluginserver/msgpack/codec.h): arbitrary
// bytes, fed to the streaming decoder in pieces whose sizes come from the input itself, must
// decode, ask for more, or throw DecodeError — never crash, over-read or allocate hugely.
// Decoded objects are re-encoded and decoded again (the encoder must accept whatever the
// decoder produces).
//
// Built by scripts/build fuzz (tests/fuzz/CMakeLists.txt), run by scripts/fuzz; seeds: every
// MessagePack unit of tests/data/conformance/*-mp-*.jsonl (make_corpus.py).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.h"
#include "pluginserver/msgpack/codec.h"

using namespace gh::pluginserver::msgpack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  DecodeLimits limits;
  limits.max_message_bytes = 1 << 20;
  limits.max_depth = 32;
  const size_t piece = 1 + data[0] % 16;  // the first byte chooses how the stream is split
  std::span<const uint8_t> input(data + 1, size - 1);
  StreamDecoder decoder(limits);
  try {
    for (size_t pos = 0; pos < input.size(); pos += piece) {
      decoder.feed(input.subspan(pos, std::min(piece, input.size() - pos)));
      while (auto obj = decoder.next()) {
        json v = Reader(*obj, limits.max_depth).read_value();
        std::string again = encode(v);
        (void)decode(again, DecodeLimits{SIZE_MAX, 1000});
      }
    }
  } catch (const DecodeError&) {
  }
  return 0;
}
