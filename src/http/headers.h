// An HTTP header list: order-preserving, repeated names allowed, case-insensitive lookup.
// Proxies must keep order and duplicates (Set-Cookie), so this is a vector, not a map.
#pragma once

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::http {

struct Header {
  std::string name;
  std::string value;
};

class Headers {
 public:
  using const_iterator = std::vector<Header>::const_iterator;

  // First value of `name` (case-insensitive), if any.
  std::optional<std::string_view> get(std::string_view name) const;
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  size_t count(std::string_view name) const;
  // Whether a comma-separated header (Connection, Transfer-Encoding, ...) lists `token`.
  bool has_token(std::string_view name, std::string_view token) const;

  void add(std::string name, std::string value) { list_.push_back({std::move(name), std::move(value)}); }
  // The same from views, built in place: one copy of each, no temporary strings to move.
  void append(std::string_view name, std::string_view value) {
    Header& header = list_.emplace_back();
    header.name.assign(name);
    header.value.assign(value);
  }
  // Replaces every `name` with one header, keeping the position of the first one.
  void set(std::string_view name, std::string value);
  // Removes every `name`; returns how many were removed.
  size_t remove(std::string_view name);

  size_t size() const { return list_.size(); }
  bool empty() const { return list_.empty(); }
  void clear() { list_.clear(); }  // keeps the capacity: lists are reused across requests
  void reserve(size_t n) { list_.reserve(n); }
  const_iterator begin() const { return list_.begin(); }
  const_iterator end() const { return list_.end(); }
  std::vector<Header>& entries() { return list_; }
  const std::vector<Header>& entries() const { return list_; }

 private:
  std::vector<Header> list_;
};

// Receives a header list one header at a time; `value` is only valid during the call (lists built
// on the fly, the request head being serialised, nghttp2's fields).
class HeaderSink {
 public:
  virtual void add(std::string_view name, std::string_view value) = 0;

 protected:
  ~HeaderSink() = default;
};

// Spare capacity for the header lists built once per request (the upstream list plugins edit):
// a finished request gives its list back, the next one of the same thread reuses it. A fresh
// list of 20-30 headers is a >1 KB block, which glibc serves from its large bins after
// consolidating its fast bins: ~1 us a request (docs/performance.md, issue #21).
Headers take_spare_headers(size_t capacity);  // empty, room for `capacity`
void give_back_headers(Headers&& headers);    // cleared and kept (a few per thread), or freed

// Appends the line "name: value\r\n" with one size change and two copies: heads are built from
// ~15 such lines per proxied request, and four appends per line were ~5% of its instructions.
inline void append_header_line(std::string& out, std::string_view name, std::string_view value) {
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

// RFC 9110 token characters (header names, transfer codings, chunk extension names).
bool is_token_char(unsigned char c);
// Header values set by plugins or configuration must not be able to inject lines.
bool is_valid_header_name(std::string_view name);
bool is_valid_header_value(std::string_view value);

}  // namespace gh::http
