// Kong's ProtoBuf:1 framing over a connected Unix socket: u32 little-endian length + bytes.
// Reads are buffered (many small frames arrive per event) and frames are read in place; writes
// of a logical message (method name + arguments) go out in one sendmsg.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::pdk::detail {

// Appends `payload` to `out` as one frame (u32 little-endian length, then the bytes).
void append_frame(std::string& out, std::string_view payload);

class FrameSocket {
 public:
  // Larger frames are treated as a protocol error (the connection is dropped).
  static constexpr std::uint32_t kMaxFrame = 256u << 20;

  explicit FrameSocket(int fd);
  ~FrameSocket();
  FrameSocket(const FrameSocket&) = delete;
  FrameSocket& operator=(const FrameSocket&) = delete;

  // The next frame, valid until the next read; nullopt on EOF, error or an oversized frame.
  std::optional<std::string_view> read_frame();
  // Writes each piece as one frame; false when the connection is gone.
  bool write_frames(std::initializer_list<std::string_view> frames);
  // Writes bytes already framed with append_frame (a Gatehouse:1 batch); false when the connection
  // is gone.
  bool write_framed(std::string_view bytes);
  void close();
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }

 private:
  bool fill(std::size_t bytes);  // until `bytes` unread bytes are buffered

  int fd_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // first unread byte
  std::size_t end_ = 0;    // one past the last buffered byte
};

}  // namespace gatehouse::pdk::detail
