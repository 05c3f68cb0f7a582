#include "net/resolver.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gh::net {

const std::vector<boost::asio::ip::address>* Resolver::cached(const std::string& host) {
  if (auto it = cache_.find(host); it != cache_.end()) {
    if (it->second.expires > std::chrono::steady_clock::now()) return &it->second.addresses;
    return nullptr;
  }
  boost::system::error_code ec;
  auto literal = boost::asio::ip::make_address(host, ec);
  if (ec) return nullptr;
  // A literal never expires; remembering it saves parsing it again on every request.
  auto& entry = cache_[host];
  entry = Entry{{literal}, std::chrono::steady_clock::time_point::max()};
  return &entry.addresses;
}

boost::asio::awaitable<std::vector<boost::asio::ip::address>> Resolver::resolve(const std::string& host,
                                                                                std::string& error) {
  if (const auto* known = cached(host)) co_return *known;
  const auto now = std::chrono::steady_clock::now();

  auto [rec, results] =
      co_await resolver_.async_resolve(host, "", boost::asio::as_tuple(boost::asio::use_awaitable));
  std::vector<boost::asio::ip::address> out;
  if (rec) {
    error = rec.message();
    co_return out;
  }
  for (const auto& r : results) out.push_back(r.endpoint().address());
  if (out.empty())
    error = "no address";
  else
    cache_[host] = Entry{out, now + ttl_};
  co_return out;
}

}  // namespace gh::net
