#include "http/head_scanner.h"

#include <cstdint>
#include <cstring>

namespace gh::http {

namespace {

// Bytes that need a look: controls (CR, LF, HTAB, NUL, ...) and DEL. Everything else, obs-text
// included, is plain as far as line structure goes (llhttp checks names and the request line's
// grammar itself).
bool is_plain(unsigned char c) {
  return c >= 0x20 && c != 0x7f;
}

// Where the next non-plain byte is, from `i` (n if none), eight bytes at a time: every head byte
// of every message passes here, and a byte loop was a third of the parser's time. A word holds a
// byte below 0x20 iff (x - 0x20..20) & ~x & 0x80..80 is non-zero (bytes >= 0x80 never count), and
// a DEL iff x ^ 0x7f..7f has a zero byte.
size_t next_special(std::string_view data, size_t i) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  auto has_less_than = [](uint64_t x, uint64_t n) { return ((x - kOnes * n) & ~x & kHighs) != 0; };
  const size_t n = data.size();
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, data.data() + i, 8);
    if (has_less_than(x, 0x20) || has_less_than(x ^ (kOnes * 0x7f), 1)) break;
  }
  while (i < n && is_plain(static_cast<unsigned char>(data[i]))) ++i;
  return i;
}

}  // namespace

void HeadScanner::reset() {
  line_ = Line::leading_empty;
  after_cr_ = false;
  error_ = nullptr;
}

HeadScanner::Result HeadScanner::fail(const char* why) {
  error_ = why;
  return Result::error;
}

HeadScanner::Result HeadScanner::scan(std::string_view data, size_t& used) {
  if (error_) return Result::error;
  const size_t n = data.size();
  size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(data[i++]);
    if (after_cr_) {
      if (c != '\n') return fail("bare CR in the head");
      after_cr_ = false;
      if (line_ == Line::field_start) {  // the blank line: the head ends here
        used = i;
        return Result::end;
      }
      if (line_ != Line::leading_empty) line_ = Line::field_start;
      continue;
    }
    if (c == '\r') {
      after_cr_ = true;
      continue;
    }
    if (c == '\n') return fail("bare LF in the head");
    switch (line_) {
      case Line::leading_empty:
        line_ = Line::first;
        [[fallthrough]];
      case Line::first:
        // A response's reason phrase may hold HTAB; nothing in a request line may.
        if (!is_plain(c) && !(c == '\t' && !request_))
          return fail(request_ ? "control character in the request line"
                               : "control character in the status line");
        break;
      case Line::field_start:
        if (c == ' ' || c == '\t') return fail("obs-fold (a header line starting with whitespace)");
        if (c == ':') return fail("empty header name");
        line_ = Line::field;
        [[fallthrough]];
      case Line::field:
        if (!is_plain(c) && c != '\t') return fail("control character in a header");
        break;
    }
    // The rest of the line up to the next control byte needs no look: most of a head.
    i = next_special(data, i);
  }
  used = n;
  return Result::more;
}

}  // namespace gh::http
