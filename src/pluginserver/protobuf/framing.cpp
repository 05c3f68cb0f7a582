#include "pluginserver/protobuf/framing.h"

#include <google/protobuf/message_lite.h>

#include <cstring>

#include "pluginserver/protobuf/errors.h"

namespace gh::pluginserver::protobuf {
namespace {

constexpr std::size_t kInitialBuffer = 16 * 1024;
constexpr std::size_t kMinFreeSpace = 4 * 1024;
// A buffer grown for one huge frame is given back once it is empty again.
constexpr std::size_t kShrinkAbove = 1024 * 1024;

void check_size(std::size_t size, std::size_t max_size) {
  if (size > max_size)
    throw RpcError(ErrorKind::protocol, "frame of " + std::to_string(size) +
                                            " bytes exceeds the maximum of " + std::to_string(max_size));
}

void write_length(char* at, std::uint32_t length) {
  at[0] = static_cast<char>(length & 0xff);
  at[1] = static_cast<char>((length >> 8) & 0xff);
  at[2] = static_cast<char>((length >> 16) & 0xff);
  at[3] = static_cast<char>((length >> 24) & 0xff);
}

std::uint32_t read_length(const char* at) {
  const auto* b = reinterpret_cast<const unsigned char*>(at);
  return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
         static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

}  // namespace

void append_frame(std::string& out, std::string_view payload, std::size_t max_size) {
  check_size(payload.size(), max_size);
  const std::size_t at = out.size();
  out.resize(at + kFrameHeaderSize + payload.size());
  write_length(out.data() + at, static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(out.data() + at + kFrameHeaderSize, payload.data(), payload.size());
}

void append_frame(std::string& out, const google::protobuf::MessageLite& message, std::size_t max_size) {
  const std::size_t size = message.ByteSizeLong();
  check_size(size, max_size);
  const std::size_t at = out.size();
  out.resize(at + kFrameHeaderSize + size);
  write_length(out.data() + at, static_cast<std::uint32_t>(size));
  message.SerializeWithCachedSizesToArray(
      reinterpret_cast<std::uint8_t*>(out.data() + at + kFrameHeaderSize));
}

FrameReader::FrameReader(std::size_t max_frame_size) : max_frame_size_(max_frame_size) {}

std::optional<std::size_t> FrameReader::pending_frame_size() const {
  if (end_ - begin_ < kFrameHeaderSize) return std::nullopt;
  const std::size_t size = read_length(buffer_.data() + begin_);
  check_size(size, max_frame_size_);
  return size;
}

std::span<char> FrameReader::prepare() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buffer_.size() > kShrinkAbove) {
      buffer_.resize(kInitialBuffer);
      buffer_.shrink_to_fit();
    }
  }
  std::size_t wanted = end_ - begin_ + kMinFreeSpace;
  if (auto size = pending_frame_size()) wanted = std::max(wanted, kFrameHeaderSize + *size);
  if (buffer_.size() - begin_ < wanted && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() < wanted) buffer_.resize(std::max(wanted, std::max(kInitialBuffer, buffer_.size() * 2)));
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameReader::commit(std::size_t received) {
  end_ += received;
}

std::optional<std::string_view> FrameReader::next() {
  const auto size = pending_frame_size();
  if (!size || end_ - begin_ < kFrameHeaderSize + *size) return std::nullopt;
  std::string_view frame(buffer_.data() + begin_ + kFrameHeaderSize, *size);
  begin_ += kFrameHeaderSize + *size;
  return frame;
}

}  // namespace gh::pluginserver::protobuf
