#include "http/chunked.h"

#include <algorithm>
#include <limits>

#include "http/headers.h"

namespace gh::http {

namespace {

bool is_bws(char c) {
  return c == ' ' || c == '\t';
}

// Control characters other than HTAB: never valid in a chunk line or a field line.
bool is_forbidden_control(unsigned char c) {
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

void skip_bws(std::string_view s, size_t& i) {
  while (i < s.size() && is_bws(s[i])) ++i;
}

bool skip_token(std::string_view s, size_t& i) {
  const size_t start = i;
  while (i < s.size() && is_token_char(static_cast<unsigned char>(s[i]))) ++i;
  return i > start;
}

// quoted-string (RFC 9110 §5.6.4): DQUOTE *( qdtext / "\" any visible byte or SP/HTAB ) DQUOTE.
bool skip_quoted_string(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return false;
  for (size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] == '"') {
      i = j + 1;
      return true;
    }
    if (s[j] == '\\' && ++j == s.size()) return false;
    if (is_forbidden_control(static_cast<unsigned char>(s[j]))) return false;
  }
  return false;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool valid_chunk_extensions(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    skip_bws(s, i);
    if (i == s.size() || s[i] != ';') return false;
    skip_bws(s, ++i);
    if (!skip_token(s, i)) return false;
    const size_t after_name = i;
    skip_bws(s, i);
    if (i < s.size() && s[i] == '=') {
      skip_bws(s, ++i);
      if (!skip_token(s, i) && !skip_quoted_string(s, i)) return false;
    } else {
      i = after_name;  // whitespace that no "=" follows must be followed by the next ";"
    }
  }
  return true;
}

void ChunkedDecoder::reset() {
  state_ = State::size;
  remaining_ = 0;
  size_digits_ = 0;
  line_bytes_ = 0;
  trailer_bytes_ = 0;
  extension_.clear();
  error_ = nullptr;
}

ChunkedDecoder::Result ChunkedDecoder::fail(const char* why) {
  error_ = why;
  state_ = State::failed;
  return Result::error;
}

bool ChunkedDecoder::count_line_byte() {
  return ++line_bytes_ <= limits_.max_line_bytes;
}

bool ChunkedDecoder::count_trailer_byte() {
  return ++trailer_bytes_ <= limits_.max_trailer_bytes;
}

ChunkedDecoder::Result ChunkedDecoder::feed(std::string_view data, size_t& consumed,
                                            std::vector<std::string_view>& body) {
  size_t i = 0;
  consumed = 0;
  if (state_ == State::failed) return Result::error;
  if (state_ == State::done) return Result::done;
  while (i < data.size()) {
    if (state_ == State::data) {  // the bulk of the bytes: no per-byte work
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
      body.emplace_back(data.substr(i, n));
      i += n;
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::data_cr;
      continue;
    }
    consumed = i;  // where an error is, for the caller's log
    const char c = data[i++];
    switch (state_) {
      case State::size:
        if (!count_line_byte()) return fail("chunk-size line too long");
        if (const int digit = hex_digit(c); digit >= 0) {
          if (remaining_ > (std::numeric_limits<uint64_t>::max() >> 4)) return fail("chunk size overflow");
          remaining_ = remaining_ << 4 | static_cast<uint64_t>(digit);
          ++size_digits_;
        } else if (size_digits_ == 0) {
          return fail("invalid chunk size");
        } else if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == ';' || is_bws(c)) {
          extension_.assign(1, c);
          state_ = State::extension;
        } else {
          return fail("invalid character after the chunk size");
        }
        break;
      case State::extension:
        if (!count_line_byte()) return fail("chunk extensions too long");
        if (c == '\r') {
          if (!valid_chunk_extensions(extension_)) return fail("invalid chunk extension");
          state_ = State::size_lf;
        } else if (is_forbidden_control(static_cast<unsigned char>(c))) {
          return fail("control character in a chunk extension");
        } else {
          extension_ += c;
        }
        break;
      case State::size_lf:
        if (c != '\n') return fail("chunk-size line not ended by CRLF");
        state_ = remaining_ == 0 ? State::trailer_start : State::data;
        size_digits_ = 0;
        line_bytes_ = 0;
        extension_.clear();
        break;
      case State::data_cr:
        if (c != '\r') return fail("chunk data not followed by CRLF");
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') return fail("chunk data not followed by CRLF");
        state_ = State::size;
        break;
      case State::trailer_start:
        if (!count_trailer_byte()) return fail("trailer section too large");
        if (c == '\r') {
          state_ = State::final_lf;
        } else if (is_token_char(static_cast<unsigned char>(c))) {  // not obs-fold, not ": value"
          state_ = State::trailer_name;
        } else {
          return fail("invalid trailer field");
        }
        break;
      case State::trailer_name:
        if (!count_trailer_byte()) return fail("trailer section too large");
        if (c == ':') {
          state_ = State::trailer_value;
        } else if (!is_token_char(static_cast<unsigned char>(c))) {
          return fail("invalid trailer field name");
        }
        break;
      case State::trailer_value:
        if (!count_trailer_byte()) return fail("trailer section too large");
        if (c == '\r') {
          state_ = State::trailer_lf;
        } else if (is_forbidden_control(static_cast<unsigned char>(c))) {
          return fail("control character in a trailer field");
        }
        break;
      case State::trailer_lf:
        if (c != '\n') return fail("trailer field not ended by CRLF");
        state_ = State::trailer_start;
        break;
      case State::final_lf:
        if (c != '\n') return fail("chunked body not ended by CRLF");
        state_ = State::done;
        consumed = i;
        return Result::done;
      case State::data:
      case State::done:
      case State::failed:
        break;  // handled before the switch
    }
  }
  consumed = i;
  return Result::need_more;
}

}  // namespace gh::http
