#include "traffic/ip_matcher.h"

#include <algorithm>

#include "common/strings.h"
#include "conf/error.h"
#include "conf/properties.h"

namespace gh::traffic {

namespace {

// The same parser as kong.conf's trusted_ips (conf::Cidr), so both agree on what an address is.
std::optional<conf::Cidr> parse_cidr(std::string_view entry) {
  if (entry.empty() || entry.size() > 64 || entry != trim(entry)) return std::nullopt;
  try {
    return conf::Cidr::parse(entry);
  } catch (const conf::ConfigError&) {
    return std::nullopt;
  }
}

Ip128 to_parsed_v6(const boost::asio::ip::address_v6& v6) {
  Ip128 v{};
  auto bytes = v6.to_bytes();
  for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | bytes[static_cast<size_t>(i)];
  for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | bytes[static_cast<size_t>(i)];
  return v;
}

ParsedIp to_parsed(const boost::asio::ip::address& address) {
  if (address.is_v4()) return ParsedIp{address.to_v4().to_uint(), std::nullopt};
  auto v6 = address.to_v6();
  if (v6.is_v4_mapped())
    return ParsedIp{boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_uint(), std::nullopt};
  return ParsedIp{std::nullopt, to_parsed_v6(v6)};
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
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return to_parsed(address);
}

std::optional<std::string> IpMatcher::validate(std::string_view entry) {
  if (parse_cidr(entry)) return std::nullopt;
  return "invalid ip or cidr range: '" + std::string(entry) + "'";
}

IpMatcher::IpMatcher(const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    auto c = parse_cidr(entry);
    if (!c) continue;
    // A mapped IPv6 network (::ffff:a.b.c.d/n) is kept as IPv6: only addresses are unmapped.
    ParsedIp ip =
        c->network.is_v4() ? to_parsed(c->network) : ParsedIp{std::nullopt, to_parsed_v6(c->network.to_v6())};
    unsigned prefix = c->prefix_length;
    if (ip.v4) {
      uint32_t mask = static_cast<uint32_t>(host_mask(prefix, 32));
      uint32_t first = *ip.v4 & ~mask;
      v4_.push_back({first, first | mask});
    } else {
      Ip128 first = *ip.v6, last = *ip.v6;
      uint64_t hi_mask = prefix >= 64 ? 0 : host_mask(prefix, 64);
      uint64_t lo_mask = prefix >= 64 ? host_mask(prefix - 64, 64) : ~uint64_t{0};
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
