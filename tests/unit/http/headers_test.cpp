// The header-line helpers every proxied message goes through.
#include "http/headers.h"

#include <gtest/gtest.h>

#include <string>

#include "common/strings.h"

using gh::http::append_header_line;
using gh::http::is_valid_header_value;

TEST(HeaderValue, EveryForbiddenByteAtEveryPositionAndLength) {
  // The check runs eight bytes at a time: cover the whole-word part, the tail and their border.
  for (size_t length = 1; length <= 33; ++length) {
    for (size_t at = 0; at < length; ++at) {
      for (char bad : {'\r', '\n', '\0'}) {
        std::string value(length, 'v');
        value[at] = bad;
        EXPECT_FALSE(is_valid_header_value(value))
            << "length " << length << " at " << at << " byte " << int(bad);
      }
    }
    EXPECT_TRUE(is_valid_header_value(std::string(length, 'v'))) << length;
  }
  EXPECT_TRUE(is_valid_header_value(""));
}

TEST(HeaderValue, NeighboursOfForbiddenBytesAndObsTextPass) {
  // Bytes next to 0x00/0x0a/0x0d, tab, and obs-text (0x80-0xff) are allowed by RFC 9110.
  std::string value;
  for (int c :
       {0x01, 0x09, 0x0b, 0x0c, 0x0e, 0x1f, 0x20, 0x7f, 0x80, 0x8a, 0x8d, 0xff, 0xfe, 0x0b, 0x01, 0x80})
    value += static_cast<char>(c);
  EXPECT_TRUE(is_valid_header_value(value));
  EXPECT_TRUE(is_valid_header_value(value + value + "tail"));
  EXPECT_FALSE(is_valid_header_value(value + "\r" + value));
}

TEST(HeaderLine, AppendsNameColonValueCrlf) {
  std::string out = "GET / HTTP/1.1\r\n";
  append_header_line(out, "Host", "example.com");
  append_header_line(out, "X-Empty", "");
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: example.com\r\nX-Empty: \r\n");
}

TEST(HostHeader, HostWithoutPortLowerCasesAndKeepsBrackets) {
  using gh::host_without_port;
  EXPECT_EQ(host_without_port("Example.COM:8080"), "example.com");
  EXPECT_EQ(host_without_port("example.com"), "example.com");
  EXPECT_EQ(host_without_port("[::1]:8000"), "[::1]");
  EXPECT_EQ(host_without_port("[FE80::1]"), "[fe80::1]");
  EXPECT_EQ(host_without_port("[::1"), "[::1");  // no closing bracket: not host:port
  EXPECT_EQ(host_without_port("::1"), "::1");    // several colons, no brackets: stays whole
  EXPECT_EQ(host_without_port("host:"), "host");
  EXPECT_EQ(host_without_port(""), "");
}
