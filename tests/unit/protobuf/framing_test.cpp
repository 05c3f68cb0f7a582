// u32 little-endian framing: encoding, reassembly from arbitrary chunks, zero-length frames,
// hostile lengths refused before any allocation.
#include "pluginserver/protobuf/framing.h"

#include <gtest/gtest.h>

#include <cstring>

#include "pluginserver/protobuf/errors.h"
#include "proto/pluginsocket.pb.h"

namespace gh::pluginserver::protobuf {
namespace {

// Feeds `bytes` to the reader `chunk` bytes at a time and collects every frame.
std::vector<std::string> feed(FrameReader& reader, std::string_view bytes, std::size_t chunk) {
  std::vector<std::string> frames;
  while (!bytes.empty()) {
    auto space = reader.prepare();
    const std::size_t n = std::min({chunk, space.size(), bytes.size()});
    std::memcpy(space.data(), bytes.data(), n);
    reader.commit(n);
    bytes.remove_prefix(n);
    while (auto frame = reader.next()) frames.emplace_back(*frame);
  }
  return frames;
}

TEST(Framing, LengthIsFourBytesLittleEndian) {
  std::string out;
  append_frame(out, std::string(0x0102, 'x'));
  ASSERT_EQ(out.size(), 4u + 0x0102);
  EXPECT_EQ(out.substr(0, 4), std::string("\x02\x01\x00\x00", 4));
}

TEST(Framing, ZeroLengthFrameIsFourZeroBytes) {
  std::string out;
  append_frame(out, std::string_view());
  EXPECT_EQ(out, std::string(4, '\0'));
}

TEST(Framing, MessageFrameMatchesKongsByteExample) {
  // kong-gateway-side.md §6.10: RpcCall{sequence 2, cmd_handle_event{instance_id 5, "access"}}.
  kong_plugin_protocol::RpcCall call;
  call.set_sequence(2);
  call.mutable_cmd_handle_event()->set_instance_id(5);
  call.mutable_cmd_handle_event()->set_event_name("access");
  std::string out;
  append_frame(out, call);
  EXPECT_EQ(out, std::string("\x0f\x00\x00\x00\x08\x02\xa2\x02\x0a\x08\x05\x12\x06"
                             "access",
                             19));
}

TEST(Framing, ReassemblesFramesSplitAnywhereAndKeepsEmptyOnes) {
  std::string stream;
  append_frame(stream, "kong.request.get_header");
  append_frame(stream, std::string_view());
  append_frame(stream, std::string(40000, 'b'));  // larger than the initial buffer
  append_frame(stream, std::string_view());
  for (std::size_t chunk : {1u, 3u, 4u, 5u, 4096u, 1000000u}) {
    FrameReader reader;
    auto frames = feed(reader, stream, chunk);
    ASSERT_EQ(frames.size(), 4u) << "chunk " << chunk;
    EXPECT_EQ(frames[0], "kong.request.get_header");
    EXPECT_EQ(frames[1], "");
    EXPECT_EQ(frames[2], std::string(40000, 'b'));
    EXPECT_EQ(frames[3], "");
    EXPECT_EQ(reader.buffered(), 0u);
  }
}

TEST(Framing, IncompleteFrameWaitsForMoreBytes) {
  FrameReader reader;
  std::string stream;
  append_frame(stream, "hello");
  auto frames = feed(reader, std::string_view(stream).substr(0, 6), 6);
  EXPECT_TRUE(frames.empty());
  EXPECT_EQ(reader.buffered(), 6u);
}

TEST(Framing, OversizedLengthIsRefusedBeforeAllocating) {
  FrameReader reader(1024);
  auto space = reader.prepare();
  std::memcpy(space.data(), "\xff\xff\xff\xff", 4);
  reader.commit(4);
  try {
    reader.next();
    FAIL() << "no error for a 4 GiB frame";
  } catch (const RpcError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::protocol);
    EXPECT_NE(std::string(e.what()).find("exceeds"), std::string::npos);
  }
  EXPECT_THROW(reader.prepare(), RpcError);  // never grows the buffer towards the hostile size
}

TEST(Framing, LimitIsInclusive) {
  FrameReader reader(8);
  std::string stream;
  append_frame(stream, "12345678");
  auto frames = feed(reader, stream, 100);
  ASSERT_EQ(frames.size(), 1u);
  std::string too_big;
  EXPECT_THROW(append_frame(too_big, "123456789", 8), RpcError);
}

}  // namespace
}  // namespace gh::pluginserver::protobuf
