// A header name known to be valid (an RFC 9110 token), so that writing a header with it need not
// check it again: the names plugins write are mostly constants, checked here by the compiler, or
// come from their configuration, checked once when the plugin is made. Checking every name of
// every write was ~10% of what five bundled plugins cost a request (docs/performance.md).
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace gh::http {

// RFC 9110 token characters, as a table: this runs for every header of every request.
inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

// A non-empty run of token characters (what a header name must be).
constexpr bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!kTokenChars[static_cast<unsigned char>(c)]) return false;
  return true;
}

class HeaderName {
 public:
  // A constant name: an invalid one does not compile.
  consteval explicit HeaderName(const char* name) : name_(name) {
    if (!is_token(name_)) throw "not a valid HTTP header name";
  }
  // A name known at run time, checked (nullopt: not a valid name). The result views `name`,
  // which must outlive it.
  static constexpr std::optional<HeaderName> check(std::string_view name) {
    if (!is_token(name)) return std::nullopt;
    return HeaderName(name, Checked{});
  }

  constexpr std::string_view view() const { return name_; }
  constexpr operator std::string_view() const { return name_; }

 private:
  struct Checked {};
  constexpr HeaderName(std::string_view name, Checked) : name_(name) {}
  std::string_view name_;
};

}  // namespace gh::http
