#include "http/parser.h"

#include <charconv>

namespace gh::http {

std::string_view RequestHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view RequestHead::query() const {
  std::string_view t = target;
  auto q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

Parser::Parser(Kind kind, ParseLimits limits) : kind_(kind), limits_(limits) {
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
  header_bytes_ = 0;
  in_value_ = false;
  headers_done_ = false;
  message_done_ = false;
  no_body_ = false;
  started_ = false;
}

void Parser::restart() {
  llhttp_reset(&parser_);
  error_ = ParseError::none;
  reset();
}

void Parser::clear_head(RequestHead& head) {
  RequestHead fresh;
  fresh.method = std::move(head.method);
  fresh.target = std::move(head.target);
  fresh.headers = std::move(head.headers);
  fresh.method.clear();
  fresh.target.clear();
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
  if (s.in_value_ || s.headers_->empty()) {
    if (s.headers_->size() >= s.limits_.max_headers) {
      s.error_ = ParseError::too_many_headers;
      return -1;
    }
    s.headers_->entries().emplace_back();  // built in place: no temporaries to move and destroy
    s.in_value_ = false;
  }
  s.headers_->entries().back().name.append(at, n);
  return s.count_header_bytes(n);
}

int Parser::on_header_value(llhttp_t* p, const char* at, size_t n) {
  auto& s = self(p);
  s.in_value_ = true;
  s.headers_->entries().back().value.append(at, n);
  return s.count_header_bytes(n);
}

int Parser::on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  // An empty value never triggers on_header_value; mark the field finished anyway.
  s.in_value_ = true;
  // llhttp 8.1 refuses every non-token byte in a name but a space ("Name :"), and lets a lone CR
  // inside a value through: smuggling vectors, refuse them (Parser.RejectsEveryNonTokenByteInNames
  // pins what llhttp checks, so this needs no full token scan).
  const auto& last = s.headers_->entries().back();
  if (last.name.find(' ') != std::string::npos || !is_valid_header_value(last.value)) {
    s.error_ = ParseError::malformed;
    return -1;
  }
  return 0;
}

int Parser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  s.headers_done_ = true;
  const bool chunked = (p->flags & F_CHUNKED) != 0;
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

Parser::Status Parser::feed(std::string_view data, size_t& consumed) {
  body_.clear();
  consumed = 0;
  if (error_ != ParseError::none) return Status::error;
  if (message_done_) return Status::message_complete;
  auto err = llhttp_execute(&parser_, data.data(), data.size());
  if (err == HPE_OK) {
    consumed = data.size();
    return Status::need_more;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    if (err == HPE_PAUSED) llhttp_resume(&parser_);
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
    case ParseError::malformed:
      break;
  }
  const char* reason = llhttp_get_error_reason(&parser_);
  return reason ? reason : "malformed message";
}

}  // namespace gh::http
