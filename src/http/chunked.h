// A strict decoder of the chunked transfer coding (RFC 9112 §7.1), used by http::Parser for
// chunked bodies instead of llhttp's. llhttp 8.1 takes any two bytes after chunk data as their
// CRLF; a proxy that frames a body differently from the server behind it lets a client smuggle
// a request inside a body, so every line ending and every extension is checked here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gh::http {

struct ChunkedLimits {
  size_t max_line_bytes = 4096;          // one chunk-size line, extensions included
  size_t max_trailer_bytes = 32 * 1024;  // the whole trailer section
};

class ChunkedDecoder {
 public:
  enum class Result { need_more, done, error };

  explicit ChunkedDecoder(ChunkedLimits limits = {}) : limits_(limits) {}
  void reset();
  // Decodes a prefix of `data`, appending the chunk data it holds to `body` as views into `data`.
  // `consumed`: how much was decoded; on `done` the body ended right there (what follows is the
  // next message). Trailer fields are checked and dropped.
  Result feed(std::string_view data, size_t& consumed, std::vector<std::string_view>& body);
  // Why the body was refused (nullptr unless feed() said error).
  const char* error() const { return error_; }

 private:
  enum class State {
    size,
    extension,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    trailer_name,
    trailer_value,
    trailer_lf,
    final_lf,
    done,
    failed
  };
  bool count_line_byte();
  bool count_trailer_byte();
  Result fail(const char* why);

  ChunkedLimits limits_;
  State state_ = State::size;
  uint64_t remaining_ = 0;  // the chunk size being read, then the data bytes still to come
  size_t size_digits_ = 0;
  size_t line_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  std::string extension_;  // the current chunk's extensions, checked when their line ends
  const char* error_ = nullptr;
};

// chunk-ext (RFC 9112 §7.1.1): *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ),
// the text between a chunk's size and its CRLF.
bool valid_chunk_extensions(std::string_view text);

}  // namespace gh::http
