// The request-smuggling matrix at the parser level (issue #19): every shape of head or body that
// two HTTP parsers could frame differently is refused, in requests and in responses, and what is
// accepted is framed exactly once. tests/integration/test_smuggling.py runs the same shapes
// through the gateway.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/chunked.h"
#include "http/parser.h"

using gh::http::ChunkedDecoder;
using gh::http::ParseError;
using gh::http::Parser;
using Status = Parser::Status;
using namespace std::string_literals;  // "...\0..."s keeps the NUL

namespace {

struct Outcome {
  Status status = Status::need_more;
  std::string body;
  size_t used = 0;  // bytes of the input that belonged to the message
};

// Feeds `data` in pieces of `piece` bytes; parse() compares one buffer with several piece sizes.
Outcome parse_once(Parser::Kind kind, std::string_view data, size_t piece, ParseError* error = nullptr) {
  Parser p(kind);
  Outcome out;
  size_t offset = 0;
  while (true) {
    const size_t end = std::min(data.size(), offset + piece);
    size_t consumed = 0;
    out.status = p.feed(data.substr(offset, end - offset), consumed);
    offset += consumed;
    for (auto part : p.body()) out.body.append(part);
    if (out.status == Status::error || out.status == Status::message_complete) break;
    if (out.status == Status::need_more && offset >= data.size()) break;
  }
  out.used = offset;
  if (error) *error = p.error();
  return out;
}

Outcome parse(Parser::Kind kind, std::string_view data, ParseError* error = nullptr) {
  ParseError whole_error = ParseError::none;
  const Outcome whole = parse_once(kind, data, data.size() + 1, &whole_error);
  for (size_t piece : {1, 2, 3, 7, 13}) {  // every state sees a boundary, words split anywhere
    ParseError piece_error = ParseError::none;
    const Outcome pieces = parse_once(kind, data, piece, &piece_error);
    EXPECT_EQ(whole.status, pieces.status) << piece << ": " << data;
    EXPECT_EQ(whole_error, piece_error) << piece << ": " << data;
    if (whole.status != Status::error) {
      EXPECT_EQ(whole.body, pieces.body) << piece << ": " << data;
      EXPECT_EQ(whole.used, pieces.used) << piece << ": " << data;
    }
  }
  if (error) *error = whole_error;
  return whole;
}

struct Case {
  const char* name;
  std::string bytes;
  ParseError expected = ParseError::malformed;
};

std::string chunked_request(const std::string& body) {
  return "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
}

std::string chunked_response(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
}

// Heads refused in requests; the same header lines are refused in responses (below).
const std::vector<Case>& refused_request_heads() {
  static const std::vector<Case> cases = {
      {"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"},
      {"obs_fold_tab", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"},
      {"bare_lf_line_ends", "GET / HTTP/1.1\nHost: h\n\n"},
      {"bare_lf_after_request_line", "GET / HTTP/1.1\nHost: h\r\n\r\n"},
      {"bare_lf_inside_head", "GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\r\n"},
      {"bare_lf_as_blank_line", "GET / HTTP/1.1\r\nHost: h\r\n\n"},
      {"bare_cr", "GET / HTTP/1.1\r\nX: a\rb\r\nHost: h\r\n\r\n"},
      {"empty_header_name_first", "GET / HTTP/1.1\r\n: b\r\nHost: h\r\n\r\n"},
      {"empty_header_name_later", "GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n"},
      {"empty_header_name_no_value", "GET / HTTP/1.1\r\nHost: h\r\n:\r\n\r\n"},
      {"tab_in_target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"control_in_target",
       "GET /a\x01"
       "b HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"del_in_target",
       "GET /a\x7f"
       "b HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"nul_in_target", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s},
      {"nul_in_method", "G\0T / HTTP/1.1\r\nHost: h\r\n\r\n"s},
      {"nul_in_name", "GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n"s},
      {"nul_in_value", "GET / HTTP/1.1\r\nHost: h\0h\r\n\r\n"s},
      {"te_xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
       ParseError::unknown_transfer_encoding},
      {"te_gzip_chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
       ParseError::unknown_transfer_encoding},
      {"te_chunked_identity",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
      {"te_identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
       ParseError::unknown_transfer_encoding},
      {"te_repeated",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n"},
      {"te_in_http10", "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"te_space_before_colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"},
      {"te_and_cl",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"cl_plus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"},
      {"cl_list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\nhello"},
      {"cl_hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello"},
      {"cl_negative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\nhello"},
      {"cl_overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\nhello"},
      {"cl_repeated_same",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
      {"cl_repeated_different",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
      {"absolute_form_userinfo", "GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"absolute_form_no_host", "GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n"},
  };
  return cases;
}

// Chunked bodies refused (after a valid head).
const std::vector<Case>& refused_chunked_bodies() {
  static const std::vector<Case> cases = {
      {"any_two_bytes_as_crlf", "5\r\nhelloXY0\r\n\r\n"},
      {"lf_only_after_data", "5\r\nhello\n0\r\n\r\n"},
      {"cr_only_after_data", "5\r\nhello\r0\r\n\r\n"},
      {"data_longer_than_size", "5\r\nhello!\r\n0\r\n\r\n"},
      {"size_hex_prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
      {"size_sign", "+5\r\nhello\r\n0\r\n\r\n"},
      {"size_empty", "\r\nhello\r\n0\r\n\r\n"},
      {"size_overflow", "fffffffffffffffff1\r\nhello\r\n0\r\n\r\n"},
      {"size_overflow_to_small", "10000000000000005\r\nhello\r\n0\r\n\r\n"},
      {"size_line_bare_lf", "5\nhello\r\n0\r\n\r\n"},
      {"last_chunk_bare_lf", "0\n\r\n"},
      {"final_crlf_bare_lf", "0\r\n\n"},
      {"extension_too_long", "5;a=" + std::string(5000, 'b') + "\r\nhello\r\n0\r\n\r\n"},
      {"leading_zeros_too_long", std::string(5000, '0') + "5\r\nhello\r\n0\r\n\r\n"},
      {"extension_bad_name", "5;a\"b\r\nhello\r\n0\r\n\r\n"},
      {"extension_no_name", "5;=b\r\nhello\r\n0\r\n\r\n"},
      {"extension_no_semicolon", "5 a\r\nhello\r\n0\r\n\r\n"},
      {"extension_unterminated_quote", "5;a=\"b\r\nhello\r\n0\r\n\r\n"},
      {"extension_control", "5;a=b\x01\r\nhello\r\n0\r\n\r\n"},
      {"extension_nul", "5;a=b\0\r\nhello\r\n0\r\n\r\n"s},
      {"extension_bare_lf", "5;a=b\nhello\r\n0\r\n\r\n"},
      {"trailing_space_after_size", "5 \r\nhello\r\n0\r\n\r\n"},
      {"trailer_obs_fold", "0\r\nX: a\r\n b\r\n\r\n"},
      {"trailer_empty_name", "0\r\n: a\r\n\r\n"},
      {"trailer_bare_lf", "0\r\nX: a\n\r\n"},
      {"trailer_control", "0\r\nX: a\x01\r\n\r\n"},
      {"trailer_too_large", "0\r\nX: " + std::string(40000, 'a') + "\r\n\r\n"},
  };
  return cases;
}

}  // namespace

TEST(Smuggling, RequestHeadsAreRefused) {
  for (const auto& c : refused_request_heads()) {
    ParseError error = ParseError::none;
    EXPECT_EQ(parse(Parser::Kind::request, c.bytes, &error).status, Status::error) << c.name;
    EXPECT_EQ(error, c.expected) << c.name;
  }
}

TEST(Smuggling, ResponseHeadsWithTheSameLinesAreRefused) {
  // The header lines of every request case that is not about the request line, in a response.
  for (const auto& c : refused_request_heads()) {
    const std::string name = c.name;
    if (name.find("target") != std::string::npos || name.find("method") != std::string::npos ||
        name.find("absolute") != std::string::npos || name.find("request_line") != std::string::npos)
      continue;
    std::string bytes = c.bytes;
    const size_t line_end = bytes.find_first_of("\r\n");
    const bool http10 = bytes.find("HTTP/1.0") != std::string::npos;
    bytes.replace(0, line_end, http10 ? "HTTP/1.0 200 OK" : "HTTP/1.1 200 OK");
    EXPECT_EQ(parse(Parser::Kind::response, bytes).status, Status::error) << name << ": " << bytes;
  }
}

TEST(Smuggling, ChunkedRequestBodiesAreRefused) {
  for (const auto& c : refused_chunked_bodies()) {
    ParseError error = ParseError::none;
    const auto out = parse(Parser::Kind::request, chunked_request(c.bytes), &error);
    EXPECT_EQ(out.status, Status::error) << c.name;
    EXPECT_EQ(error, ParseError::malformed) << c.name;
  }
}

TEST(Smuggling, ChunkedResponseBodiesAreRefused) {
  for (const auto& c : refused_chunked_bodies())
    EXPECT_EQ(parse(Parser::Kind::response, chunked_response(c.bytes)).status, Status::error) << c.name;
}

TEST(Smuggling, ErrorsAreSticky) {
  // Nothing after a refused body is ever parsed as a message of its own.
  Parser p(Parser::Kind::request);
  const std::string bytes = chunked_request("5\r\nhelloXY0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  size_t offset = 0, consumed = 0;
  Status s = p.feed(bytes, consumed);
  ASSERT_EQ(s, Status::headers_complete);
  offset += consumed;
  EXPECT_EQ(p.feed(std::string_view(bytes).substr(offset), consumed), Status::error);
  EXPECT_EQ(p.feed("GET /next HTTP/1.1\r\nHost: h\r\n\r\n", consumed), Status::error);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(p.error_reason(), "chunk data not followed by CRLF");
}

TEST(Smuggling, ValidChunkedBodiesAreDecodedAndEndExactly) {
  struct Valid {
    std::string body;
    std::string decoded;
  };
  const std::vector<Valid> cases = {
      {"5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"5;a=b\r\nhello\r\n0\r\n\r\n", "hello"},
      {"5 ; a = b ; c\r\nhello\r\n0;z\r\n\r\n", "hello"},
      {"5;a=\"q \\\" \\\\ ;x\"\r\nhello\r\n0\r\n\r\n", "hello"},
      {"A\r\n0123456789\r\n000\r\n\r\n", "0123456789"},
      {"00005\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: \t2\r\n\r\n", "hello"},
      {"0\r\n\r\n", ""},
  };
  for (const auto& c : cases) {
    const std::string next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string bytes = chunked_request(c.body) + next;
    const auto out = parse(Parser::Kind::request, bytes);
    EXPECT_EQ(out.status, Status::message_complete) << c.body;
    EXPECT_EQ(out.body, c.decoded) << c.body;
    EXPECT_EQ(bytes.substr(out.used), next) << c.body;  // the next message starts right after
    const auto response = parse(Parser::Kind::response, chunked_response(c.body));
    EXPECT_EQ(response.status, Status::message_complete) << c.body;
    EXPECT_EQ(response.body, c.decoded) << c.body;
  }
}

TEST(Smuggling, KeepAliveConnectionParsesTheNextMessageAfterAChunkedOne) {
  // The chunked body is decoded outside llhttp: its state is reset for the next message.
  Parser p(Parser::Kind::request);
  const std::string first = chunked_request("3\r\nabc\r\n0\r\n\r\n");
  const std::string second = "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy";
  std::string bytes = first + second;
  size_t offset = 0, consumed = 0;
  ASSERT_EQ(p.feed(bytes, consumed), Status::headers_complete);
  offset += consumed;
  ASSERT_EQ(p.feed(std::string_view(bytes).substr(offset), consumed), Status::message_complete);
  offset += consumed;
  EXPECT_EQ(offset, first.size());
  p.reset();
  ASSERT_EQ(p.feed(std::string_view(bytes).substr(offset), consumed), Status::headers_complete);
  offset += consumed;
  EXPECT_EQ(p.request().target, "/two");
  EXPECT_FALSE(p.request().chunked);
  ASSERT_EQ(p.feed(std::string_view(bytes).substr(offset), consumed), Status::message_complete);
  ASSERT_EQ(p.body().size(), 1u);
  EXPECT_EQ(p.body()[0], "xy");
}

TEST(Smuggling, ChunkedBodyCutShortIsAnErrorAtEof) {
  Parser p(Parser::Kind::response);
  size_t consumed = 0;
  const std::string bytes = chunked_response("5\r\nhel");
  ASSERT_EQ(p.feed(bytes, consumed), Status::headers_complete);
  EXPECT_EQ(p.feed(std::string_view(bytes).substr(consumed), consumed), Status::need_more);
  EXPECT_FALSE(p.needs_eof());
  EXPECT_EQ(p.finish(), Status::error);
}

TEST(Smuggling, HighBytesInTheTargetAreAcceptedAsNginxDoes) {
  const auto out = parse(Parser::Kind::request, "GET /caf\xc3\xa9?q=\xff HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.status, Status::message_complete);
}

TEST(Smuggling, TabInAResponseReasonPhraseIsAccepted) {
  EXPECT_EQ(parse(Parser::Kind::response, "HTTP/1.1 200 O\tK\r\nContent-Length: 0\r\n\r\n").status,
            Status::message_complete);
}

TEST(Smuggling, LeadingEmptyLinesBeforeARequestAreSkipped) {
  const auto out = parse(Parser::Kind::request, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(out.status, Status::message_complete);
}

TEST(Smuggling, AbsoluteFormTargetIsReducedToOriginFormWithItsAuthority) {
  struct Form {
    const char* target;
    const char* authority;
    const char* origin;
  };
  for (const Form& f :
       {Form{"http://example.com/a/b?x=1", "example.com", "/a/b?x=1"},
        Form{"HTTPS://Example.com:8443/p", "Example.com:8443", "/p"},
        Form{"http://example.com", "example.com", "/"}, Form{"http://example.com?q", "example.com", "/?q"},
        Form{"http://[::1]:80/v6", "[::1]:80", "/v6"}}) {
    Parser p(Parser::Kind::request);
    size_t consumed = 0;
    const std::string bytes = std::string("GET ") + f.target + " HTTP/1.1\r\nHost: other\r\n\r\n";
    ASSERT_EQ(p.feed(bytes, consumed), Status::headers_complete) << f.target;
    EXPECT_EQ(p.request().target, f.origin) << f.target;
    EXPECT_EQ(p.request().target_authority, f.authority) << f.target;
    EXPECT_EQ(p.request().host(), f.authority) << f.target;
  }
  Parser origin(Parser::Kind::request);
  size_t consumed = 0;
  ASSERT_EQ(origin.feed("GET /x HTTP/1.1\r\nHost: h:1\r\n\r\n", consumed), Status::headers_complete);
  EXPECT_EQ(origin.request().host(), "h:1");
  EXPECT_TRUE(origin.request().target_authority.empty());
}

TEST(Smuggling, ResponseFramingRefusals) {
  for (const std::string bytes : {
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nabc",
           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 5,5\r\n\r\nhello",
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
           "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
       })
    EXPECT_EQ(parse(Parser::Kind::response, bytes).status, Status::error) << bytes;
}

TEST(ChunkedDecoder, ExtensionsGrammar) {
  using gh::http::valid_chunk_extensions;
  for (const char* ok : {"", ";a", ";a=b", "; a = b", " ;a", ";a=\"\"", ";a=\"x\\\"y\"", ";a;b=c;d=\"e\""})
    EXPECT_TRUE(valid_chunk_extensions(ok)) << ok;
  for (const char* bad :
       {";", "a", ";a=", ";a b", ";a=\"x", ";a=b c", ";a=b ", ";a=@", ";a=\"\\", ";=b", " "})
    EXPECT_FALSE(valid_chunk_extensions(bad)) << bad;
}

TEST(ChunkedDecoder, DataSpanningFeedsIsExposedAsViews) {
  ChunkedDecoder d;
  std::vector<std::string_view> body;
  size_t consumed = 0;
  EXPECT_EQ(d.feed("a\r\n01234", consumed, body), ChunkedDecoder::Result::need_more);
  EXPECT_EQ(consumed, 8u);
  EXPECT_EQ(d.feed("56789\r\n0\r\n\r\nrest", consumed, body), ChunkedDecoder::Result::done);
  EXPECT_EQ(consumed, 12u);
  ASSERT_EQ(body.size(), 2u);
  EXPECT_EQ(std::string(body[0]) + std::string(body[1]), "0123456789");
}

TEST(Smuggling, ControlBytesAreFoundAtEveryOffsetOfAWord) {
  // HeadScanner skips plain bytes eight at a time: a control byte (or DEL) at any position of a
  // word is still found, and bytes >= 0x80 (which share the high bit trick) are never mistaken.
  for (size_t k = 0; k < 24; ++k) {
    for (const char bad : {'\x00', '\x01', '\t', '\x1f', '\x7f', '\n', '\r'}) {
      const std::string value = std::string(k, 'a') + bad + "bcdefghij";
      const std::string bytes = "GET /" + value + " HTTP/1.1\r\nHost: h\r\n\r\n";
      EXPECT_EQ(parse(Parser::Kind::request, bytes).status, Status::error) << k << " " << int(bad);
      if (bad != '\t') {
        const std::string header = "GET / HTTP/1.1\r\nHost: h\r\nX: " + value + "\r\n\r\n";
        EXPECT_EQ(parse(Parser::Kind::request, header).status, Status::error) << k << " " << int(bad);
      }
    }
    const std::string high =
        "GET /" + std::string(k, 'a') + "\x80\xff\xa0\xc3\xa9" + " HTTP/1.1\r\nHost: h\r\n\r\n";
    EXPECT_EQ(parse(Parser::Kind::request, high).status, Status::message_complete) << k;
  }
}
