// request-size-limiting's checks (Kong's kong/plugins/request-size-limiting/handler.lua).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gh::traffic {

struct SizeRefusal {
  int status;  // 411, 413, or 417 when the client sent Expect: 100-continue
  std::string message;
};

class SizeLimit {
 public:
  // allowed_payload_size in size_unit ("megabytes" = 2^20, "kilobytes" = 2^10, "bytes").
  SizeLimit(int64_t allowed, std::string_view unit, bool require_content_length);

  uint64_t allowed_bytes() const { return allowed_bytes_; }
  bool require_content_length() const { return require_content_length_; }

  // Before the body is read: a missing Content-Length when one is required (411), or a declared
  // length over the limit. `content_length` is the header as sent (nullopt: absent).
  std::optional<SizeRefusal> check_head(std::optional<std::string_view> content_length,
                                        std::optional<std::string_view> expect) const;
  // Whether the head alone decided (a valid Content-Length): otherwise the body's real size
  // must be checked with check_length.
  static bool has_numeric_length(std::optional<std::string_view> content_length);
  std::optional<SizeRefusal> check_length(uint64_t length, std::optional<std::string_view> expect) const;

 private:
  uint64_t allowed_bytes_;
  bool require_content_length_;
};

}  // namespace gh::traffic
