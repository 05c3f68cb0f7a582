#include "http/parser.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"

namespace gh::http {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// host[:port] or [v6]:port, the bytes nginx accepts in a request line's host.
bool valid_authority(std::string_view authority) {
  if (authority.empty() || authority.front() == ':') return false;
  for (char c : authority) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;  // userinfo ('@'), percent-encoding, anything else: refused
  }
  return true;
}

// Absolute-form (RFC 9112 §3.2.2): "http://host:port/path?query" becomes target "/path?query"
// and authority "host:port". Other targets stay as they are. False: an absolute-form target
// with a bad authority.
bool reduce_absolute_form(std::string& target, std::string& authority) {
  size_t scheme_length = 0;
  if (starts_with_ci(target, "http://")) scheme_length = 7;
  if (starts_with_ci(target, "https://")) scheme_length = 8;
  if (scheme_length == 0) return true;
  const std::string_view rest = std::string_view(target).substr(scheme_length);
  const size_t path_start = std::min(rest.find_first_of("/?"), rest.size());
  if (!valid_authority(rest.substr(0, path_start))) return false;
  authority.assign(rest.substr(0, path_start));
  std::string origin_form(rest.substr(path_start));
  if (origin_form.empty() || origin_form.front() == '?') origin_form.insert(0, 1, '/');
  target = std::move(origin_form);
  return true;
}

// Content-Length: 1*DIGIT (llhttp checks that and overflow; repeated here because the framing
// must not depend on one parser's leniency).
bool valid_content_length(std::string_view value) {
  value = trim(value);
  if (value.empty()) return false;
  for (char c : value)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view RequestHead::query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

std::string_view RequestHead::host() const {
  if (!target_authority.empty()) return target_authority;
  return headers.get("host").value_or(std::string_view());
}

Parser::Parser(Kind kind, ParseLimits limits)
    : kind_(kind), limits_(limits), head_scanner_(kind == Kind::request) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_status = on_status;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_header_value_complete = on_header_value_complete;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_message_complete = on_message_complete;
  llhttp_init(&parser_, kind == Kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  parser_.data = this;
}

void Parser::reset() {
  // llhttp keeps its state across messages on its own; we only clear our accumulators, keeping
  // their capacity (a keep-alive connection parses many heads of about the same shape).
  clear_head(request_);
  clear_head(response_);
  body_.clear();
  head_scanner_.reset();
  chunked_.reset();
  header_bytes_ = 0;
  field_open_ = false;
  headers_done_ = false;
  message_done_ = false;
  no_body_ = false;
  started_ = false;
  decoding_chunked_ = false;
}

void Parser::restart() {
  llhttp_reset(&parser_);
  error_ = ParseError::none;
  error_detail_ = nullptr;
  reset();
}

void Parser::clear_head(RequestHead& head) {
  RequestHead fresh;
  fresh.method = std::move(head.method);
  fresh.target = std::move(head.target);
  fresh.target_authority = std::move(head.target_authority);
  fresh.headers = std::move(head.headers);
  fresh.method.clear();
  fresh.target.clear();
  fresh.target_authority.clear();
  fresh.headers.clear();
  head = std::move(fresh);
}

void Parser::clear_head(ResponseHead& head) {
  ResponseHead fresh;
  fresh.reason = std::move(head.reason);
  fresh.headers = std::move(head.headers);
  fresh.reason.clear();
  fresh.headers.clear();
  head = std::move(fresh);
}

bool Parser::fail(ParseError error, const char* why) {
  error_ = error;
  error_detail_ = why;
  return false;
}

int Parser::count_header_bytes(size_t n) {
  header_bytes_ += n;
  if (header_bytes_ > limits_.max_header_bytes) {
    error_ = ParseError::headers_too_large;
    return -1;
  }
  return 0;
}

int Parser::on_message_begin(llhttp_t* p) {
  auto& s = self(p);
  s.started_ = true;
  s.headers_ = s.kind_ == Kind::request ? &s.request_.headers : &s.response_.headers;
  return 0;
}

int Parser::on_url(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  s.request_.target.append(at, n);
  if (s.request_.target.size() > s.limits_.max_target_bytes) {
    s.error_ = ParseError::target_too_long;
    return -1;
  }
  return s.count_header_bytes(n);
}

int Parser::on_status(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  s.response_.reason.append(at, n);
  return s.count_header_bytes(n);
}

int Parser::on_header_field(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  if (!s.field_open_) {  // a name can arrive in pieces: only its first starts a header
    if (s.headers_->size() >= s.limits_.max_headers) {
      s.error_ = ParseError::too_many_headers;
      return -1;
    }
    s.headers_->entries().emplace_back();  // built in place: no temporaries to move and destroy
    s.field_open_ = true;
  }
  s.headers_->entries().back().name.append(at, n);
  return s.count_header_bytes(n);
}

int Parser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  // llhttp 8.1 takes ": value" as a header with an empty name: there is no header to add it to.
  if (!s.field_open_) {
    s.fail(ParseError::malformed, "empty header name");
    return -1;
  }
  s.headers_->entries().back().value.append(at, n);
  return s.count_header_bytes(n);
}

int Parser::on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  if (!s.field_open_) {
    s.fail(ParseError::malformed, "empty header name");
    return -1;
  }
  s.field_open_ = false;
  // llhttp 8.1 refuses every non-token byte in a name but a space ("Name :"): a smuggling vector
  // (Parser.RejectsEveryNonTokenByteInNames pins what llhttp checks, so this needs no full token
  // scan). CR, LF and NUL in values never get here: HeadScanner refused them.
  if (s.headers_->entries().back().name.find(' ') != std::string::npos) {
    s.fail(ParseError::malformed, "space in a header name");
    return -1;
  }
  return 0;
}

// The message's framing, checked on our own header list rather than trusting llhttp 8.1's flags
// (it takes "gzip, chunked" as chunked, "xchunked" as no body, and a Transfer-Encoding in an
// HTTP/1.0 message): Transfer-Encoding must be exactly "chunked", once, never with Content-Length
// or in HTTP/1.0 (RFC 9112 §6.1); Content-Length once, digits only. As nginx: 400, or 501 for an
// unknown coding in a request; responses failing any of this are a 502 (bad_response).
bool Parser::check_framing(const llhttp_t* p) {
  const Header* transfer_encoding = nullptr;
  const Header* content_length = nullptr;
  for (const auto& h : *headers_) {
    if (iequals(h.name, "transfer-encoding")) {
      if (transfer_encoding) return fail(ParseError::malformed, "duplicate Transfer-Encoding header");
      transfer_encoding = &h;
    } else if (iequals(h.name, "content-length")) {
      if (content_length) return fail(ParseError::malformed, "duplicate Content-Length header");
      if (!valid_content_length(h.value)) return fail(ParseError::malformed, "invalid Content-Length header");
      content_length = &h;
    }
  }
  if (!transfer_encoding) return true;
  if (content_length) return fail(ParseError::malformed, "both Content-Length and Transfer-Encoding");
  if (p->http_major == 1 && p->http_minor == 0)
    return fail(ParseError::malformed, "Transfer-Encoding in an HTTP/1.0 message");
  if (!iequals(trim(transfer_encoding->value), "chunked"))
    return fail(ParseError::unknown_transfer_encoding, "unknown Transfer-Encoding");
  return true;
}

// Whether a message whose head just ended has a body to read (a chunked one goes to chunked_).
bool Parser::body_follows(bool chunked) const {
  if (kind_ == Kind::request) return chunked;
  const int status = parser_.status_code;
  return chunked && !no_body_ && status >= 200 && status != 204 && status != 304;
}

int Parser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  s.headers_done_ = true;
  if (!s.check_framing(p)) return -1;
  if (s.kind_ == Kind::request && !reduce_absolute_form(s.request_.target, s.request_.target_authority)) {
    s.fail(ParseError::malformed, "invalid host in an absolute-form target");
    return -1;
  }
  const bool chunked = (p->flags & F_CHUNKED) != 0;
  s.decoding_chunked_ = s.body_follows(chunked);
  std::optional<uint64_t> length;
  if (p->flags & F_CONTENT_LENGTH) length = p->content_length;
  const bool keep_alive = llhttp_should_keep_alive(p) != 0;
  if (s.kind_ == Kind::request) {
    s.request_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
    s.request_.version_minor = p->http_minor;
    s.request_.chunked = chunked;
    s.request_.content_length = length;
    s.request_.keep_alive = keep_alive;
    s.request_.upgrade = p->upgrade != 0;
  } else {
    s.response_.status = p->status_code;
    s.response_.version_minor = p->http_minor;
    s.response_.chunked = chunked;
    s.response_.content_length = length;
    s.response_.keep_alive = keep_alive;
    if (s.no_body_) return 1;  // HEAD: the message ends here; on_message_complete pauses
  }
  return HPE_PAUSED;
}

int Parser::on_body(llhttp_t* p, const char* at, size_t n) {
  self(p).body_.emplace_back(at, n);
  return 0;
}

int Parser::on_message_complete(llhttp_t* p) {
  self(p).message_done_ = true;
  return HPE_PAUSED;
}

// Runs the head bytes in `data` past HeadScanner; `head_end`: where the head ends in `data`
// (data.size() when it goes on).
bool Parser::scan_head(std::string_view data, size_t& head_end) {
  head_end = data.size();
  if (head_scanner_.scan(data, head_end) != HeadScanner::Result::error) return true;
  return fail(ParseError::malformed, head_scanner_.error());
}

// The body of a chunked message, decoded by chunked_. llhttp, paused at the end of the head, is
// reset once the body ends: the next message starts from a fresh llhttp state.
Parser::Status Parser::feed_chunked(std::string_view data, size_t& consumed) {
  const auto result = chunked_.feed(data, consumed, body_);
  if (result == ChunkedDecoder::Result::error) {
    body_.clear();
    fail(ParseError::malformed, chunked_.error());
    return Status::error;
  }
  if (result == ChunkedDecoder::Result::need_more) return Status::need_more;
  message_done_ = true;
  llhttp_reset(&parser_);
  return Status::message_complete;
}

Parser::Status Parser::feed(std::string_view data, size_t& consumed) {
  body_.clear();
  consumed = 0;
  if (error_ != ParseError::none) return Status::error;
  if (message_done_) return Status::message_complete;
  if (decoding_chunked_) return feed_chunked(data, consumed);
  const bool in_head = !headers_done_;
  size_t head_end = 0;
  if (in_head && !scan_head(data, head_end)) return Status::error;
  auto err = llhttp_execute(&parser_, data.data(), data.size());
  if (err == HPE_OK) {
    consumed = data.size();
    // The scanner and llhttp must agree where the head ends: a disagreement is a parser
    // differential, exactly what smuggling exploits.
    if (in_head && head_end != data.size()) {
      fail(ParseError::malformed, "head end not where llhttp saw it");
      return Status::error;
    }
    return Status::need_more;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    if (in_head && headers_done_ && head_end != consumed) {
      fail(ParseError::malformed, "head end not where llhttp saw it");
      return Status::error;
    }
    if (err == HPE_PAUSED) llhttp_resume(&parser_);
    // A message with an Upgrade llhttp honoured ends its input: llhttp would take whatever follows
    // as the new protocol. The caller decides that (a tunnel, or the next request when the upgrade
    // was ignored), so the next message starts from a fresh llhttp state.
    if (err == HPE_PAUSED && message_done_ && parser_.upgrade) llhttp_reset(&parser_);
    if (err == HPE_PAUSED_UPGRADE) {
      message_done_ = true;
      llhttp_resume_after_upgrade(&parser_);
    }
    // A HEAD response ends in the same call as its headers: callers check headers_done().
    return message_done_ ? Status::message_complete : Status::headers_complete;
  }
  if (error_ == ParseError::none) error_ = ParseError::malformed;
  return Status::error;
}

Parser::Status Parser::finish() {
  if (message_done_) return Status::message_complete;
  if (decoding_chunked_) {
    fail(ParseError::malformed, "chunked body cut short");
    return Status::error;
  }
  auto err = llhttp_finish(&parser_);
  if (err == HPE_OK || err == HPE_PAUSED) return message_done_ ? Status::message_complete : Status::error;
  if (error_ == ParseError::none) error_ = ParseError::malformed;
  return Status::error;
}

std::string Parser::error_reason() const {
  switch (error_) {
    case ParseError::none:
      return {};
    case ParseError::headers_too_large:
      return "request header too large";
    case ParseError::target_too_long:
      return "request-URI too long";
    case ParseError::too_many_headers:
      return "too many headers";
    case ParseError::unknown_transfer_encoding:
    case ParseError::malformed:
      break;
  }
  if (error_detail_) return error_detail_;
  const char* reason = llhttp_get_error_reason(&parser_);
  return reason ? reason : "malformed message";
}

}  // namespace gh::http
