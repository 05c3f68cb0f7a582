// RESP2, the Redis protocol: commands encoded as arrays of bulk strings, replies parsed
// incrementally and bounded, since a reply is input from the network: a bulk string is at most
// kMaxBulk bytes, an array at most kMaxElements elements and kMaxDepth levels deep, a status or
// error line at most kMaxLine bytes. Anything else is a protocol error (the connection is dropped).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gh::redis {

inline constexpr size_t kMaxBulk = 512 * 1024;
inline constexpr size_t kMaxElements = 1024;
inline constexpr size_t kMaxDepth = 4;
inline constexpr size_t kMaxLine = 4096;
// Unparsed bytes a connection may hold while a reply is incomplete.
inline constexpr size_t kMaxReply = 1024 * 1024;

// Appends one command (`*<n>\r\n` then `$<len>\r\n<arg>\r\n` per argument) to `out`.
void encode_command(std::string& out, std::span<const std::string_view> args);
inline void encode_command(std::string& out, std::initializer_list<std::string_view> args) {
  encode_command(out, std::span<const std::string_view>(args.begin(), args.size()));
}

struct Reply {
  enum class Type { status, error, integer, bulk, null, array };
  Type type = Type::null;
  std::string text;  // status, error, bulk
  int64_t integer = 0;
  std::vector<Reply> elements;  // array

  bool is_error() const { return type == Type::error; }
};

enum class ParseStatus { complete, incomplete, invalid };

struct ParseResult {
  ParseStatus status = ParseStatus::incomplete;
  size_t consumed = 0;  // bytes of the complete reply
  std::string error;    // why the input is invalid
};

// Parses one reply from the front of `input`. `incomplete`: more bytes are needed (nothing is
// consumed). The caller keeps its unparsed bytes bounded by the limits above.
ParseResult parse_reply(std::string_view input, Reply& reply);

}  // namespace gh::redis
