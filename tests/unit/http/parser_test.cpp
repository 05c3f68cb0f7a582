#include "http/parser.h"

#include <gtest/gtest.h>

#include <string>

using gh::http::ParseError;
using gh::http::Parser;
using Status = Parser::Status;

namespace {

// Feeds the whole input; returns the final status and collects the body.
Status feed_all(Parser& p, std::string_view data, std::string* body = nullptr, size_t* used = nullptr) {
  size_t total = 0;
  Status s = Status::need_more;
  while (total < data.size() || s == Status::headers_complete) {
    size_t consumed = 0;
    s = p.feed(data.substr(total), consumed);
    total += consumed;
    if (body)
      for (auto piece : p.body()) body->append(piece);
    if (s == Status::message_complete || s == Status::error) break;
    if (s == Status::need_more) break;
  }
  if (used) *used = total;
  return s;
}

}  // namespace

TEST(Parser, SimpleGetStopsAfterHeadersThenCompletes) {
  Parser p(Parser::Kind::request);
  std::string req = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nX-A: 2\r\n\r\n";
  size_t consumed = 0;
  EXPECT_EQ(p.feed(req, consumed), Status::headers_complete);
  EXPECT_EQ(consumed, req.size());
  EXPECT_EQ(p.request().method, "GET");
  EXPECT_EQ(p.request().path(), "/a/b");
  EXPECT_EQ(p.request().query(), "x=1");
  EXPECT_EQ(p.request().headers.get("host").value(), "example.com");
  EXPECT_EQ(p.request().headers.get_all("x-a").size(), 2u);
  EXPECT_FALSE(p.request().has_body());
  EXPECT_EQ(p.feed("", consumed), Status::message_complete);
}

TEST(Parser, ContentLengthBodyAndPipelinedNextRequest) {
  Parser p(Parser::Kind::request);
  std::string req =
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string body;
  size_t used = 0;
  EXPECT_EQ(feed_all(p, req, &body, &used), Status::message_complete);
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(req.substr(used).rfind("GET /next", 0), 0u);
  p.reset();
  EXPECT_EQ(feed_all(p, req.substr(used)), Status::message_complete);
  EXPECT_EQ(p.request().target, "/next");
}

// An Upgrade the proxy ignores (h2c) or refuses: the bytes after the message are the next request,
// parsed from a fresh state, not taken as the new protocol.
TEST(Parser, UpgradeRequestThenNextRequestOnTheSameConnection) {
  for (std::string first : {"GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
                            "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                            "Content-Length: 2\r\n\r\nhi"}) {
    Parser p(Parser::Kind::request);
    const std::string req = first + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    std::string body;
    size_t used = 0;
    EXPECT_EQ(feed_all(p, req, &body, &used), Status::message_complete);
    EXPECT_TRUE(p.request().upgrade);
    EXPECT_EQ(req.substr(used).rfind("GET /next", 0), 0u);
    p.reset();
    EXPECT_EQ(feed_all(p, req.substr(used)), Status::message_complete);
    EXPECT_EQ(p.request().target, "/next");
    EXPECT_FALSE(p.request().upgrade);
  }
}

TEST(Parser, ChunkedBodyIsDecoded) {
  Parser p(Parser::Kind::request);
  std::string req =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
  std::string body;
  EXPECT_EQ(feed_all(p, req, &body), Status::message_complete);
  EXPECT_TRUE(p.request().chunked);
  EXPECT_EQ(body, "abcde");
}

TEST(Parser, ByteAtATimeInput) {
  Parser p(Parser::Kind::request);
  std::string req = "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz";
  std::string body;
  Status s = Status::need_more;
  for (size_t i = 0; i < req.size(); ++i) {
    std::string_view one(&req[i], 1);
    size_t consumed = 0;
    s = p.feed(one, consumed);
    for (auto piece : p.body()) body.append(piece);
    if (s == Status::headers_complete && consumed == 0) s = p.feed(one, consumed);
    if (s == Status::headers_complete && consumed == 1) continue;
  }
  size_t c = 0;
  if (s != Status::message_complete) s = p.feed("", c);
  EXPECT_EQ(s, Status::message_complete);
  EXPECT_EQ(body, "xyz");
}

TEST(Parser, RejectsContentLengthWithTransferEncoding) {
  Parser p(Parser::Kind::request);
  std::string req =
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  EXPECT_EQ(feed_all(p, req), Status::error);
}

TEST(Parser, RejectsDuplicateContentLength) {
  Parser p(Parser::Kind::request);
  std::string req = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
  EXPECT_EQ(feed_all(p, req), Status::error);
}

TEST(Parser, RejectsBareLfAndSpaceBeforeColon) {
  Parser a(Parser::Kind::request);
  EXPECT_EQ(feed_all(a, "GET / HTTP/1.1\r\nHost : h\r\n\r\n"), Status::error);
  Parser b(Parser::Kind::request);
  EXPECT_EQ(feed_all(b, "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), Status::error);
}

TEST(Parser, HeaderSizeLimit) {
  gh::http::ParseLimits limits;
  limits.max_header_bytes = 100;
  Parser p(Parser::Kind::request, limits);
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(200, 'a') + "\r\n\r\n";
  EXPECT_EQ(feed_all(p, req), Status::error);
  EXPECT_EQ(p.error(), ParseError::headers_too_large);
}

TEST(Parser, TargetLimit) {
  gh::http::ParseLimits limits;
  limits.max_target_bytes = 10;
  Parser p(Parser::Kind::request, limits);
  EXPECT_EQ(feed_all(p, "GET /aaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n"), Status::error);
  EXPECT_EQ(p.error(), ParseError::target_too_long);
}

TEST(Parser, ResponseToHeadHasNoBody) {
  Parser p(Parser::Kind::response);
  p.expect_no_body(true);
  size_t consumed = 0;
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  EXPECT_EQ(p.feed(resp, consumed), Status::message_complete);
  EXPECT_TRUE(p.headers_done());
  EXPECT_EQ(p.response().status, 200);
}

TEST(Parser, ResponseDelimitedByEof) {
  Parser p(Parser::Kind::response);
  std::string body;
  EXPECT_EQ(feed_all(p, "HTTP/1.1 200 OK\r\n\r\npartial", &body), Status::need_more);
  EXPECT_TRUE(p.needs_eof());
  EXPECT_EQ(p.finish(), Status::message_complete);
  EXPECT_EQ(body, "partial");
}
// The parser leaves token validation of names to llhttp except for the space: every class of
// non-token byte, in requests and responses.
TEST(Parser, RejectsEveryNonTokenByteInNames) {
  for (std::string name : {"Ho st", "Ho\"st", "Ho(st", "Ho/st", "Ho@st", "Ho\x01st", "Ho\x7fst", "Ho\xc3st",
                           "Host\t", "Ho{st", "Ho;st", "Ho=st", "Ho?st", "Ho[st", "Ho,st"}) {
    Parser a(Parser::Kind::request);
    EXPECT_EQ(feed_all(a, "GET / HTTP/1.1\r\n" + name + ": h\r\n\r\n"), Status::error) << name;
    Parser b(Parser::Kind::response);
    EXPECT_EQ(feed_all(b, "HTTP/1.1 200 OK\r\n" + name + ": h\r\nContent-Length: 0\r\n\r\n"), Status::error)
        << name;
  }
}
