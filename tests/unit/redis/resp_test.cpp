#include "redis/resp.h"

#include <gtest/gtest.h>

#include <vector>

using namespace gh::redis;

namespace {

ParseResult parse(std::string_view input, Reply& reply) {
  return parse_reply(input, reply);
}

ParseStatus status_of(std::string_view input) {
  Reply reply;
  return parse(input, reply).status;
}

}  // namespace

TEST(Resp, EncodesCommandsAsBulkArrays) {
  std::string out;
  encode_command(out, {"GET", "k"});
  encode_command(out, {"SET", "a b", ""});
  EXPECT_EQ(out, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$3\r\na b\r\n$0\r\n\r\n");
}

TEST(Resp, EncodesManyAndLongArgumentsAfterWhatIsQueued) {
  std::string out = "queued";
  const std::string long_arg(70000, 'x');
  std::vector<std::string_view> args{"EVAL", long_arg, "12"};
  for (int i = 0; i < 10; ++i) args.push_back("k");
  encode_command(out, args);
  std::string expected = "queued*13\r\n$4\r\nEVAL\r\n$70000\r\n" + long_arg + "\r\n$2\r\n12\r\n";
  for (int i = 0; i < 10; ++i) expected += "$1\r\nk\r\n";
  EXPECT_EQ(out, expected);
}

TEST(Resp, ParsesEveryReplyType) {
  Reply r;
  auto result = parse("+OK\r\n", r);
  EXPECT_EQ(result.status, ParseStatus::complete);
  EXPECT_EQ(result.consumed, 5u);
  EXPECT_EQ(r.type, Reply::Type::status);
  EXPECT_EQ(r.text, "OK");
  parse("-WRONGPASS invalid password\r\n", r);
  EXPECT_TRUE(r.is_error());
  EXPECT_EQ(r.text, "WRONGPASS invalid password");
  parse(":-42\r\n", r);
  EXPECT_EQ(r.integer, -42);
  parse("$5\r\nhe\r\no\r\n", r);  // a bulk string may hold CRLF
  EXPECT_EQ(r.text, "he\r\no");
  parse("$-1\r\n", r);
  EXPECT_EQ(r.type, Reply::Type::null);
  result = parse("*2\r\n$1\r\n7\r\n$-1\r\n:1\r\n", r);
  EXPECT_EQ(result.consumed, 16u);  // the trailing :1 is the next reply
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[0].text, "7");
  EXPECT_EQ(r.elements[1].type, Reply::Type::null);
}

TEST(Resp, WaitsForMoreBytesWithoutConsuming) {
  for (std::string_view partial : {"", "+O", "+OK\r", "$5\r\nhel", "$5\r\nhello\r", "*2\r\n:1\r\n", ":12"}) {
    Reply r;
    auto result = parse(partial, r);
    EXPECT_EQ(result.status, ParseStatus::incomplete) << partial;
    EXPECT_EQ(result.consumed, 0u);
  }
}

TEST(Resp, RefusesHostileReplies) {
  EXPECT_EQ(status_of("?\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of(":12a\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of(":\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of(":99999999999999999999999\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of("$-2\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of("$abc\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of("$3\r\nabcXY"), ParseStatus::invalid);  // no CRLF after the data
  // Sizes over the limits are refused before any byte of the body arrives.
  EXPECT_EQ(status_of("$9223372036854775807\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of("$" + std::to_string(kMaxBulk + 1) + "\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of("*" + std::to_string(kMaxElements + 1) + "\r\n"), ParseStatus::invalid);
  EXPECT_EQ(status_of("*-5\r\n"), ParseStatus::invalid);
  std::string deep;
  for (size_t i = 0; i <= kMaxDepth + 1; ++i) deep += "*1\r\n";
  EXPECT_EQ(status_of(deep + ":1\r\n"), ParseStatus::invalid);
  // A status line that never ends.
  EXPECT_EQ(status_of("+" + std::string(kMaxLine + 10, 'x')), ParseStatus::invalid);
  EXPECT_EQ(status_of("+" + std::string(kMaxLine - 10, 'x')), ParseStatus::incomplete);
}
