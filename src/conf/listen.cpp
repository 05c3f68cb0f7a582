// ListenAddress and Cidr: the two small value types of the properties file.
#include <charconv>

#include "common/strings.h"
#include "conf/error.h"
#include "conf/properties.h"

namespace gh::conf {

namespace {

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  while (true) {
    text = trim(text);
    if (text.empty()) break;
    auto end = text.find_first_of(" \t");
    words.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end);
  }
  return words;
}

template <typename Int>
std::optional<Int> parse_number(std::string_view text) {
  Int out{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

// "host:port" or "[v6]:port" → host (without brackets) and port text.
std::pair<std::string, std::string_view> split_host_port(std::string_view address, std::string_view entry) {
  if (address.starts_with("[")) {
    auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':')
      throw ConfigError("invalid address '" + std::string(entry) + "' (expected [ipv6]:port)");
    return {std::string(address.substr(1, close - 1)), address.substr(close + 2)};
  }
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos)
    throw ConfigError("missing port in '" + std::string(entry) + "' (expected host:port)");
  return {std::string(address.substr(0, colon)), address.substr(colon + 1)};
}

}  // namespace

ListenAddress ListenAddress::parse(std::string_view entry) {
  auto words = split_words(entry);
  if (words.empty()) throw ConfigError("empty listen address");
  ListenAddress out;
  auto [host, port_text] = split_host_port(words[0], entry);
  if (host.empty() || host == "*") host = "0.0.0.0";
  out.host = host;
  auto port = parse_number<unsigned>(port_text);
  if (!port || *port > 65535) throw ConfigError("invalid port '" + std::string(port_text) + "'");
  out.port = static_cast<uint16_t>(*port);

  for (size_t i = 1; i < words.size(); ++i) {
    auto flag = words[i];
    if (flag == "ssl")
      out.ssl = true;
    else if (flag == "http2")
      out.http2 = true;
    else if (flag == "reuseport")
      out.reuseport = true;
    else if (flag == "proxy_protocol")
      out.proxy_protocol = true;
    else if (flag.starts_with("backlog=")) {
      auto backlog = parse_number<int>(flag.substr(8));
      if (!backlog || *backlog < 1) throw ConfigError("invalid backlog '" + std::string(flag) + "'");
      out.backlog = *backlog;
    } else if (flag == "deferred" || flag == "bind" || flag.starts_with("ipv6only=") ||
               flag.starts_with("so_keepalive=")) {
      // nginx socket tweaks Kong passes through; they have no gatehouse equivalent.
    } else {
      throw ConfigError("unknown listen flag '" + std::string(flag) + "' in '" + std::string(entry) + "'");
    }
  }
  return out;
}

std::string ListenAddress::to_string() const {
  // Appends rather than `"[" + host + "]"`: g++ 12 -O3 reports a false -Wrestrict on the latter
  // (GCC bug 105329).
  std::string out;
  if (host.find(':') != std::string::npos) {
    out.append("[").append(host).append("]");
  } else {
    out = host;
  }
  out.append(":").append(std::to_string(port));
  if (ssl) out += " ssl";
  if (http2) out += " http2";
  if (proxy_protocol) out += " proxy_protocol";
  if (reuseport) out += " reuseport";
  if (backlog != 511) out += " backlog=" + std::to_string(backlog);
  return out;
}

bool ListenAddress::loopback() const {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

std::vector<std::string> admin_listen_warnings(const std::vector<ListenAddress>& admin_listen) {
  std::vector<std::string> warnings;
  for (const auto& address : admin_listen)
    if (!address.loopback() && !address.ssl)
      warnings.push_back("admin_listen " + address.to_string() +
                         " is reachable from other hosts over plain HTTP: the admin API has no "
                         "authentication and shows the whole configuration (plugin configs included). "
                         "Listen on 127.0.0.1, or add `ssl` and restrict who can connect");
  return warnings;
}

Cidr Cidr::parse(std::string_view text) {
  text = trim(text);
  auto slash = text.find('/');
  auto address_text = std::string(text.substr(0, slash));
  boost::system::error_code ec;
  Cidr out;
  out.network = boost::asio::ip::make_address(address_text, ec);
  if (ec) throw ConfigError("invalid IP address or CIDR '" + std::string(text) + "'");
  unsigned max_length = out.network.is_v4() ? 32 : 128;
  out.prefix_length = max_length;
  if (slash != std::string_view::npos) {
    auto length = parse_number<unsigned>(text.substr(slash + 1));
    if (!length || *length > max_length)
      throw ConfigError("invalid prefix length in '" + std::string(text) + "'");
    out.prefix_length = *length;
  }
  return out;
}

bool Cidr::contains(const boost::asio::ip::address& address) const {
  // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is compared as the IPv4 address it carries.
  boost::asio::ip::address candidate = address;
  if (candidate.is_v6() && candidate.to_v6().is_v4_mapped() && network.is_v4())
    candidate = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, candidate.to_v6());
  if (candidate.is_v4() != network.is_v4()) return false;

  auto compare_bytes = [&](const auto& a, const auto& b) {
    unsigned remaining = prefix_length;
    for (size_t i = 0; i < a.size() && remaining > 0; ++i) {
      unsigned bits = remaining >= 8 ? 8 : remaining;
      unsigned mask = (0xFFu << (8 - bits)) & 0xFFu;
      if ((a[i] & mask) != (b[i] & mask)) return false;
      remaining -= bits;
    }
    return true;
  };
  if (network.is_v4()) return compare_bytes(network.to_v4().to_bytes(), candidate.to_v4().to_bytes());
  return compare_bytes(network.to_v6().to_bytes(), candidate.to_v6().to_bytes());
}

}  // namespace gh::conf
