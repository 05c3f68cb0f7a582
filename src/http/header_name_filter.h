// A one-word summary of a set of header names, answering "might the set have this name?" with
// no false "no": a plugin's kong.service.request.set_header asks whether the forwarded list has
// the name (to replace it in place), mostly for names no client sends (X-Consumer-*), and
// building that list's headers of one name through a virtual sink cost ~150 instructions each
// time (docs/performance.md, session 14).
#pragma once

#include <cstdint>
#include <string_view>

namespace gh::http {

class HeaderNameFilter {
 public:
  // The filter that might have every name (a source that cannot summarize its names).
  static constexpr HeaderNameFilter everything() { return HeaderNameFilter(~uint64_t{0}); }
  constexpr HeaderNameFilter() = default;

  constexpr void add(std::string_view name) { bits_ |= bit(name); }
  constexpr void add(HeaderNameFilter other) { bits_ |= other.bits_; }
  // False: no name added equals `name` (case-insensitively). True: one might.
  constexpr bool might_have(std::string_view name) const { return (bits_ & bit(name)) != 0; }

 private:
  constexpr explicit HeaderNameFilter(uint64_t bits) : bits_(bits) {}
  // One of 64 bits from the length and three case-folded bytes: names equal ignoring case get
  // the same bit (|0x20 folds letters; it may merge two other token bytes, which only makes
  // the answer more conservative). The multiply spreads the fields over the top six bits.
  static constexpr uint64_t bit(std::string_view name) {
    if (name.empty()) return 1;
    auto fold = [](char c) { return static_cast<uint64_t>(static_cast<unsigned char>(c) | 0x20); };
    const uint64_t key = (uint64_t{name.size()} << 24) | (fold(name.front()) << 16) |
                         (fold(name[name.size() / 2]) << 8) | fold(name.back());
    return uint64_t{1} << ((key * 0x9E3779B97F4A7C15ULL) >> 58);
  }

  uint64_t bits_ = 0;
};

}  // namespace gh::http
