// A request body read whole before it goes upstream (Kong's request_buffering, or a plugin's
// kong.request.get_raw_body): in memory up to client_body_buffer_size, past that in a temporary
// file under <prefix>/client_body_temp, as nginx does. Memory per request stays bounded by the
// buffer size whatever the body's size; the file is removed when the body is destroyed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gh::proxy {

class SpooledBody {
 public:
  // `memory_limit`: client_body_buffer_size; `temp_dir`: where a larger body goes (created on
  // first use).
  SpooledBody(size_t memory_limit, std::string temp_dir);
  ~SpooledBody();
  SpooledBody(const SpooledBody&) = delete;
  SpooledBody& operator=(const SpooledBody&) = delete;

  // Adds body bytes; false when they could not be written to the file (`error()` says why).
  bool append(std::string_view bytes);
  // Writes what is still held in memory to the file (no-op for a body kept in memory). Call
  // once the body is complete, before reading it back with read_at().
  bool finish();

  bool in_file() const { return fd_ >= 0; }
  uint64_t size() const { return size_; }
  // The whole body, when it stayed in memory.
  const std::string& memory() const { return memory_; }
  std::string take_memory() { return std::move(memory_); }
  // The file holding the whole body (in_file() only), e.g. for ProtoBuf's RawBodyResult.body_filepath.
  const std::string& path() const { return path_; }
  // Copies up to `length` bytes starting at `offset` of a body in a file; the count read, or -1.
  long read_at(uint64_t offset, char* out, size_t length) const;
  // The next part of a body in a file being sent on (to the upstream): up to `length` bytes from
  // `offset`; the count read, or 0 when the file cannot be read or is shorter than the body (logged).
  size_t read_to_send(uint64_t offset, char* out, size_t length) const;
  const std::string& error() const { return error_; }

 private:
  bool spill();
  bool write_all(std::string_view bytes);

  size_t memory_limit_;
  std::string temp_dir_;
  std::string memory_;  // the body (in memory) or the bytes not yet written to the file
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string error_;
};

}  // namespace gh::proxy
