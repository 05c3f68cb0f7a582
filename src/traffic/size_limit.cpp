#include "traffic/size_limit.h"

#include <charconv>

#include "common/strings.h"

namespace gh::traffic {

namespace {

std::optional<uint64_t> parse_length(std::optional<std::string_view> text) {
  if (!text) return std::nullopt;
  std::string_view s = trim(*text);
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return n;
}

uint64_t unit_factor(std::string_view unit) {
  if (unit == "bytes") return 1;
  if (unit == "kilobytes") return 1024;
  return 1024 * 1024;  // megabytes, the default
}

}  // namespace

SizeLimit::SizeLimit(int64_t allowed, std::string_view unit, bool require_content_length)
    : allowed_bytes_(allowed < 0 ? 0 : static_cast<uint64_t>(allowed) * unit_factor(unit)),
      require_content_length_(require_content_length) {}

bool SizeLimit::has_numeric_length(std::optional<std::string_view> content_length) {
  return parse_length(content_length).has_value();
}

std::optional<SizeRefusal> SizeLimit::check_head(std::optional<std::string_view> content_length,
                                                 std::optional<std::string_view> expect) const {
  if (require_content_length_ && !content_length)
    return SizeRefusal{411, "A valid Content-Length header is required"};
  if (auto n = parse_length(content_length)) return check_length(*n, expect);
  return std::nullopt;
}

std::optional<SizeRefusal> SizeLimit::check_length(uint64_t length,
                                                   std::optional<std::string_view> expect) const {
  if (length <= allowed_bytes_) return std::nullopt;
  // A client waiting for 100 Continue has not sent the body: 417 tells it not to.
  bool continue_expected = expect && iequals(trim(*expect), "100-continue");
  return SizeRefusal{continue_expected ? 417 : 413, "Request size limit exceeded"};
}

}  // namespace gh::traffic
