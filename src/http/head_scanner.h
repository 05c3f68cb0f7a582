// Checks the raw bytes of a message head for what llhttp 8.1 lets through but RFC 9112 and
// nginx refuse, before llhttp parses them: a bare LF ending a line or the head, a bare CR,
// obs-fold (a field line starting with SP/HTAB), a field line with an empty name, NUL, and
// control characters in the request line (a raw TAB in the target). Bytes >= 0x80 in the target
// are let through, as nginx does (docs/http-parsing.md).
#pragma once

#include <cstddef>
#include <string_view>

namespace gh::http {

class HeadScanner {
 public:
  enum class Result { more, end, error };

  explicit HeadScanner(bool request) : request_(request) {}
  void reset();
  // Scans `data`, the next bytes of the head. `end`: the head ends after `used` bytes (its blank
  // line included); `more`: all of `data` was head; `error`: error() says why.
  Result scan(std::string_view data, size_t& used);
  const char* error() const { return error_; }

 private:
  enum class Line { leading_empty, first, field_start, field };
  Result fail(const char* why);

  bool request_;
  Line line_ = Line::leading_empty;
  bool after_cr_ = false;
  const char* error_ = nullptr;
};

}  // namespace gh::http
