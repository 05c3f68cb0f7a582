// Incremental HTTP/1.x parser (llhttp underneath) for both directions of the proxy.
//
// feed() stops right after a header block and right after a message, so the caller can act
// on headers before any body byte is consumed (route, reject, 100-continue) and so pipelined
// bytes after a message stay in the caller's buffer. Body bytes parsed by a feed() are exposed
// as views into the fed buffer (no copy): forward them before reusing that buffer.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/chunked.h"
#include "http/head_scanner.h"
#include "http/headers.h"

namespace gh::http {

struct RequestHead {
  std::string method;
  std::string target;  // origin-form (path?query); an absolute-form target is reduced to it
  // The host[:port] of an absolute-form target ("GET http://host/ HTTP/1.1"), empty otherwise.
  std::string target_authority;
  int version_major = 1;  // 2: an HTTP/2 stream's request (proxy/http2_stream.h)
  int version_minor = 1;
  Headers headers;
  bool keep_alive = true;
  bool chunked = false;                    // Transfer-Encoding: chunked
  std::optional<uint64_t> content_length;  // absent: no body (requests) unless chunked
  bool upgrade = false;

  std::string_view path() const;   // target without the query string
  std::string_view query() const;  // after '?', "" if none
  // The host the request is for: an absolute-form target's, else the Host header's (RFC 9112
  // §3.2.2; nginx's $host). With port, as sent.
  std::string_view host() const;
  bool has_body() const { return chunked || (content_length && *content_length > 0); }
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int version_minor = 1;
  Headers headers;
  bool keep_alive = true;
  bool chunked = false;
  std::optional<uint64_t> content_length;
};

struct ParseLimits {
  size_t max_header_bytes = 32 * 1024;  // request line/status line + all header lines
  size_t max_target_bytes = 8 * 1024;
  size_t max_headers = 128;
};

// Why a parse failed, mapped by the proxy to a status code.
enum class ParseError {
  none,
  malformed,
  headers_too_large,
  target_too_long,
  too_many_headers,
  unknown_transfer_encoding,  // a Transfer-Encoding other than "chunked" (nginx: 501)
};

class Parser {
 public:
  enum class Kind { request, response };
  enum class Status {
    need_more,         // all input consumed, message not finished
    headers_complete,  // the head is available; feed the rest to get the body
    message_complete,  // the whole message (incl. body) has been parsed
    error,
  };

  explicit Parser(Kind kind, ParseLimits limits = {});
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Parses a prefix of `data`; `consumed` is how much. Body bytes parsed in this call are in
  // body(). Call again with the remaining bytes after headers_complete.
  Status feed(std::string_view data, size_t& consumed);
  // Signals EOF (bodies delimited by connection close). Returns message_complete or error.
  Status finish();
  // For responses: the request was HEAD (or otherwise expects no body).
  void expect_no_body(bool v) { no_body_ = v; }
  // Prepares for the next message on the same connection.
  void reset();
  // Prepares for a message on another connection (llhttp's own state is forgotten too).
  void restart();

  const std::vector<std::string_view>& body() const { return body_; }
  RequestHead& request() { return request_; }
  ResponseHead& response() { return response_; }
  const ResponseHead& response() const { return response_; }
  ParseError error() const { return error_; }
  std::string error_reason() const;
  bool in_message() const { return started_; }
  bool headers_done() const { return headers_done_; }
  bool needs_eof() const { return llhttp_message_needs_eof(&parser_) != 0; }

 private:
  static int on_message_begin(llhttp_t*);
  static int on_url(llhttp_t*, const char*, size_t);
  static int on_status(llhttp_t*, const char*, size_t);
  static int on_header_field(llhttp_t*, const char*, size_t);
  static int on_header_value(llhttp_t*, const char*, size_t);
  static int on_header_value_complete(llhttp_t*);
  static int on_headers_complete(llhttp_t*);
  static int on_body(llhttp_t*, const char*, size_t);
  static int on_message_complete(llhttp_t*);
  static Parser& self(llhttp_t* p) { return *static_cast<Parser*>(p->data); }
  int count_header_bytes(size_t n);
  bool scan_head(std::string_view data, size_t& head_end);
  bool check_framing(const llhttp_t* p);
  bool body_follows(bool chunked) const;
  Status feed_chunked(std::string_view data, size_t& consumed);
  bool fail(ParseError error, const char* why);
  static void clear_head(RequestHead& head);
  static void clear_head(ResponseHead& head);

  Kind kind_;
  ParseLimits limits_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  RequestHead request_;
  ResponseHead response_;
  Headers* headers_ = nullptr;
  std::vector<std::string_view> body_;
  HeadScanner head_scanner_;
  ChunkedDecoder chunked_;
  size_t header_bytes_ = 0;
  bool field_open_ = false;  // a header name was seen and its value is not complete yet
  bool headers_done_ = false;
  bool message_done_ = false;
  bool no_body_ = false;
  bool started_ = false;
  bool decoding_chunked_ = false;  // the body is chunked: chunked_ decodes it, not llhttp
  ParseError error_ = ParseError::none;
  const char* error_detail_ = nullptr;  // why, when our own checks refused the message
};

}  // namespace gh::http
