// Asynchronous name resolution with a small per-worker cache. getaddrinfo runs on Asio's
// resolver thread, so a slow DNS server never blocks a worker's event loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

namespace gh::net {

class Resolver {
 public:
  explicit Resolver(boost::asio::any_io_executor ex, std::chrono::seconds ttl = std::chrono::seconds(30))
      : resolver_(ex), ttl_(ttl) {}

  // Addresses of `host` (an IP literal resolves without a lookup). Empty on failure; `error`
  // says why.
  boost::asio::awaitable<std::vector<boost::asio::ip::address>> resolve(const std::string& host,
                                                                        std::string& error);
  // The addresses of `host` when known without a lookup (an IP literal, or a fresh cache entry),
  // else null. Synchronous: the per-request fast path, no coroutine and no copy.
  const std::vector<boost::asio::ip::address>* cached(const std::string& host);

 private:
  struct Entry {
    std::vector<boost::asio::ip::address> addresses;
    std::chrono::steady_clock::time_point expires;
  };
  boost::asio::ip::tcp::resolver resolver_;
  std::chrono::seconds ttl_;
  std::unordered_map<std::string, Entry> cache_;
};

}  // namespace gh::net
