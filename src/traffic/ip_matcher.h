// ip-restriction's address lists: IPv4 and IPv6 addresses and CIDR blocks, compiled once per
// plugin configuration into sorted, merged ranges so a lookup is a binary search (a 10,000-entry
// list costs ~14 comparisons, not 10,000).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::traffic {

// An IPv6 address (IPv4 addresses are kept apart, as 32-bit numbers) as two 64-bit halves, so
// ranges compare as integers.
struct Ip128 {
  uint64_t hi = 0, lo = 0;
  friend auto operator<=>(const Ip128&, const Ip128&) = default;
};

// One parsed address: an IPv4 address (v4 set) or an IPv6 one (v6 set). An IPv4-mapped IPv6
// address (::ffff:a.b.c.d) is read as the IPv4 address it carries, as a dual-stack socket
// reports IPv4 clients that way.
struct ParsedIp {
  std::optional<uint32_t> v4;
  std::optional<Ip128> v6;
};
std::optional<ParsedIp> parse_ip(std::string_view text);

class IpMatcher {
 public:
  // Kong's typedefs.ip_or_cidr: "a.b.c.d", "a.b.c.d/n" (0-32), IPv6 and "v6/n" (0-128); bits
  // beyond the prefix are ignored ("192.168.129.23/17" is 192.168.128.0/17). Returns the message
  // Kong gives for a bad entry ("invalid ip or cidr range: 'x'"), or nullopt when it is valid.
  static std::optional<std::string> validate(std::string_view entry);

  // Builds the matcher; entries must have passed validate() (bad ones are skipped).
  explicit IpMatcher(const std::vector<std::string>& entries);
  IpMatcher() = default;

  bool empty() const { return v4_.empty() && v6_.empty(); }
  bool contains(const ParsedIp& ip) const;
  bool contains(std::string_view ip) const;

 private:
  template <class T>
  struct Range {
    T first, last;
  };
  std::vector<Range<uint32_t>> v4_;
  std::vector<Range<Ip128>> v6_;
};

}  // namespace gh::traffic
