// ProtoBuf:1 framing (kong-gateway-side.md §6.1): every frame is a 4-byte little-endian length
// followed by that many bytes. A zero-length frame is legal and meaningful (end of a handler,
// nil reply), so FrameReader yields it as an empty view, never skips it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class MessageLite;
}

namespace gh::pluginserver::protobuf {

inline constexpr std::size_t kFrameHeaderSize = 4;
// Larger frames are refused before anything is allocated for them. Bodies travel in frames
// (RawBodyResult, ByteString), so this is the largest body a plugin can read or set.
inline constexpr std::size_t kDefaultMaxFrameSize = 64u * 1024 * 1024;

// Appends one frame holding `payload` to `out`. Throws RpcError(protocol) if it exceeds `max_size`.
void append_frame(std::string& out, std::string_view payload, std::size_t max_size = kDefaultMaxFrameSize);
// Appends one frame holding the serialized `message`, serializing straight into `out`.
void append_frame(std::string& out, const google::protobuf::MessageLite& message,
                  std::size_t max_size = kDefaultMaxFrameSize);

// Reassembles frames from a byte stream. Usage: receive into prepare(), commit() what arrived,
// then call next() until it returns nullopt. One buffer per connection, reused for every frame.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame_size = kDefaultMaxFrameSize);

  // Free space to receive into; grows (and compacts) the buffer so that a frame whose header is
  // already buffered fits whole. Invalidates views returned by next().
  std::span<char> prepare();
  void commit(std::size_t received);

  // The next complete frame's payload (empty for a zero-length frame), valid until prepare(),
  // or nullopt when more bytes are needed. Throws RpcError(protocol) for a length over the maximum.
  std::optional<std::string_view> next();

  // Bytes received but not yet returned as frames (a truncated frame when the peer closes).
  std::size_t buffered() const { return end_ - begin_; }

 private:
  // Length of the frame starting at begin_, if its header is buffered (checked against max).
  std::optional<std::size_t> pending_frame_size() const;

  std::size_t max_frame_size_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // first byte not yet returned by next()
  std::size_t end_ = 0;    // one past the last received byte
};

}  // namespace gh::pluginserver::protobuf
