#include "http/head_scanner.h"

namespace gh::http {

namespace {

// Bytes that need a look: controls (CR, LF, HTAB, NUL, ...) and DEL. Everything else, obs-text
// included, is plain as far as line structure goes (llhttp checks names and the request line's
// grammar itself).
bool is_plain(unsigned char c) {
  return c >= 0x20 && c != 0x7f;
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
    while (i < n && is_plain(static_cast<unsigned char>(data[i]))) ++i;
  }
  used = n;
  return Result::more;
}

}  // namespace gh::http
