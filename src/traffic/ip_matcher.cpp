#include "traffic/ip_matcher.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace gh::traffic {

namespace {

struct Cidr {
  ParsedIp ip;
  unsigned prefix = 0;
};

std::optional<ParsedIp> parse_v4(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return std::nullopt;
  return ParsedIp{ntohl(a.s_addr), std::nullopt};
}

std::optional<ParsedIp> parse_v6(const std::string& text) {
  in6_addr a{};
  if (inet_pton(AF_INET6, text.c_str(), &a) != 1) return std::nullopt;
  Ip128 v{};
  for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | a.s6_addr[i];
  for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | a.s6_addr[i];
  return ParsedIp{std::nullopt, v};
}

std::optional<Cidr> parse_cidr(std::string_view entry) {
  if (entry.empty() || entry.size() > 64) return std::nullopt;
  size_t slash = entry.find('/');
  std::string address(entry.substr(0, slash));
  auto ip = parse_v4(address);
  unsigned max_prefix = 32;
  if (!ip) {
    ip = parse_v6(address);
    max_prefix = 128;
  }
  if (!ip) return std::nullopt;
  Cidr c{*ip, max_prefix};
  if (slash != std::string_view::npos) {
    std::string_view bits = entry.substr(slash + 1);
    unsigned prefix = 0;
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || ec != std::errc{} || end != bits.data() + bits.size() || prefix > max_prefix)
      return std::nullopt;
    c.prefix = prefix;
  }
  return c;
}

// The mask of the host bits of a /prefix inside a `width`-bit word (all ones for /0).
uint64_t host_mask(unsigned prefix, unsigned width) {
  if (prefix >= width) return 0;
  unsigned host_bits = width - prefix;
  return host_bits >= 64 ? ~uint64_t{0} : ((uint64_t{1} << host_bits) - 1);
}

template <class R>
void sort_and_merge(std::vector<R>& ranges, auto adjacent) {
  std::sort(ranges.begin(), ranges.end(), [](const R& a, const R& b) { return a.first < b.first; });
  std::vector<R> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && (r.first <= merged.back().last || adjacent(merged.back().last, r.first))) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  ranges.swap(merged);
}

template <class R, class T>
bool in_ranges(const std::vector<R>& ranges, const T& value) {
  // The last range starting at or before `value`.
  auto it = std::upper_bound(ranges.begin(), ranges.end(), value,
                             [](const T& v, const R& r) { return v < r.first; });
  return it != ranges.begin() && value <= std::prev(it)->last;
}

}  // namespace

std::optional<ParsedIp> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  if (auto v4 = parse_v4(s)) return v4;
  auto v6 = parse_v6(s);
  if (v6 && v6->v6->hi == 0 && (v6->v6->lo >> 32) == 0xffff)
    return ParsedIp{static_cast<uint32_t>(v6->v6->lo & 0xffffffffu), std::nullopt};
  return v6;
}

std::optional<std::string> IpMatcher::validate(std::string_view entry) {
  if (parse_cidr(entry)) return std::nullopt;
  return "invalid ip or cidr range: '" + std::string(entry) + "'";
}

IpMatcher::IpMatcher(const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    auto c = parse_cidr(entry);
    if (!c) continue;
    if (c->ip.v4) {
      uint32_t mask = static_cast<uint32_t>(host_mask(c->prefix, 32));
      uint32_t first = *c->ip.v4 & ~mask;
      v4_.push_back({first, first | mask});
    } else {
      Ip128 first = *c->ip.v6, last = *c->ip.v6;
      uint64_t hi_mask = c->prefix >= 64 ? 0 : host_mask(c->prefix, 64);
      uint64_t lo_mask = c->prefix >= 64 ? host_mask(c->prefix - 64, 64) : ~uint64_t{0};
      first.hi &= ~hi_mask;
      first.lo &= ~lo_mask;
      last.hi |= hi_mask;
      last.lo |= lo_mask;
      v6_.push_back({first, last});
    }
  }
  sort_and_merge(v4_, [](uint32_t last, uint32_t next) { return last != UINT32_MAX && last + 1 == next; });
  sort_and_merge(v6_, [](const Ip128&, const Ip128&) { return false; });
}

bool IpMatcher::contains(const ParsedIp& ip) const {
  if (ip.v4) return in_ranges(v4_, *ip.v4);
  if (ip.v6) return in_ranges(v6_, *ip.v6);
  return false;
}

bool IpMatcher::contains(std::string_view ip) const {
  auto parsed = parse_ip(ip);
  return parsed && contains(*parsed);
}

}  // namespace gh::traffic
