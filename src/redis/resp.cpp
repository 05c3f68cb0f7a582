#include "redis/resp.h"

#include <algorithm>
#include <charconv>

namespace gh::redis {

namespace {

// Writes "<prefix><n>\r\n" at `at`; returns the end. At most 23 bytes.
char* put_header(char* at, char prefix, size_t n) {
  *at++ = prefix;
  at = std::to_chars(at, at + 20, n).ptr;
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

}  // namespace

void encode_command(std::string& out, std::span<const std::string_view> args) {
  // Written in place into room for the longest encoding, then cut to size: one growth per
  // command, not one append (and capacity check) per piece.
  size_t most = 23;
  for (auto arg : args) most += 23 + arg.size() + 2;
  const size_t start = out.size();
  out.resize(start + most);
  char* at = put_header(out.data() + start, '*', args.size());
  for (auto arg : args) {
    at = put_header(at, '$', arg.size());
    at = std::copy(arg.begin(), arg.end(), at);
    *at++ = '\r';
    *at++ = '\n';
  }
  out.resize(static_cast<size_t>(at - out.data()));
}

namespace {

class ReplyParser {
 public:
  explicit ReplyParser(std::string_view input) : input_(input) {}

  ParseStatus parse(Reply& reply, size_t depth) {
    if (depth > kMaxDepth) return invalid("reply nested too deeply");
    if (pos_ >= input_.size()) return ParseStatus::incomplete;
    const char kind = input_[pos_++];
    std::string_view line;
    if (auto status = read_line(line); status != ParseStatus::complete) return status;
    switch (kind) {
      case '+':
        reply.type = Reply::Type::status;
        reply.text = line;
        return ParseStatus::complete;
      case '-':
        reply.type = Reply::Type::error;
        reply.text = line;
        return ParseStatus::complete;
      case ':':
        reply.type = Reply::Type::integer;
        return number(line, reply.integer) ? ParseStatus::complete : invalid("bad integer");
      case '$':
        return bulk(line, reply);
      case '*':
        return array(line, reply, depth);
      default:
        return invalid("unknown reply type");
    }
  }

  size_t position() const { return pos_; }
  const std::string& error() const { return error_; }

 private:
  ParseStatus invalid(const char* why) {
    error_ = why;
    return ParseStatus::invalid;
  }

  // The line from pos_ to CRLF (without it); a line longer than kMaxLine is invalid.
  ParseStatus read_line(std::string_view& line) {
    const size_t end = input_.find("\r\n", pos_);
    if (end == std::string_view::npos)
      return input_.size() - pos_ > kMaxLine ? invalid("line too long") : ParseStatus::incomplete;
    if (end - pos_ > kMaxLine) return invalid("line too long");
    line = input_.substr(pos_, end - pos_);
    pos_ = end + 2;
    return ParseStatus::complete;
  }

  static bool number(std::string_view text, int64_t& value) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
  }

  ParseStatus bulk(std::string_view line, Reply& reply) {
    int64_t length = 0;
    if (!number(line, length) || length < -1) return invalid("bad bulk length");
    if (length == -1) {
      reply.type = Reply::Type::null;
      return ParseStatus::complete;
    }
    if (static_cast<uint64_t>(length) > kMaxBulk) return invalid("bulk string too long");
    const auto size = static_cast<size_t>(length);
    if (input_.size() - pos_ < size + 2) return ParseStatus::incomplete;
    if (input_.substr(pos_ + size, 2) != "\r\n") return invalid("bulk string without CRLF");
    reply.type = Reply::Type::bulk;
    reply.text = input_.substr(pos_, size);
    pos_ += size + 2;
    return ParseStatus::complete;
  }

  ParseStatus array(std::string_view line, Reply& reply, size_t depth) {
    int64_t count = 0;
    if (!number(line, count) || count < -1) return invalid("bad array length");
    if (count == -1) {
      reply.type = Reply::Type::null;
      return ParseStatus::complete;
    }
    if (static_cast<uint64_t>(count) > kMaxElements) return invalid("array too long");
    reply.type = Reply::Type::array;
    reply.elements.resize(static_cast<size_t>(count));
    for (auto& element : reply.elements)
      if (auto status = parse(element, depth + 1); status != ParseStatus::complete) return status;
    return ParseStatus::complete;
  }

  std::string_view input_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

ParseResult parse_reply(std::string_view input, Reply& reply) {
  ReplyParser parser(input);
  reply = Reply{};
  ParseResult result;
  result.status = parser.parse(reply, 0);
  if (result.status == ParseStatus::complete) result.consumed = parser.position();
  if (result.status == ParseStatus::invalid) result.error = parser.error();
  return result;
}

}  // namespace gh::redis
