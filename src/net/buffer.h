// A growable byte buffer with a read cursor: bytes are appended at the end by socket reads
// and consumed from the front by the parser. Compacts instead of reallocating when it can.
#pragma once

#include <cstring>
#include <string_view>
#include <vector>

namespace gh::net {

class Buffer {
 public:
  explicit Buffer(size_t initial = 16 * 1024) : data_(initial) {}

  std::string_view readable() const { return {data_.data() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Space for at least `min` more bytes at the end; returns a writable region.
  char* prepare(size_t min, size_t& available) {
    if (data_.size() - end_ < min) {
      if (begin_ > 0) {
        std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      }
      if (data_.size() - end_ < min) data_.resize(end_ + std::max(min, data_.size()));
    }
    available = data_.size() - end_;
    return data_.data() + end_;
  }
  void commit(size_t n) { end_ += n; }
  void clear() { begin_ = end_ = 0; }

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace gh::net
