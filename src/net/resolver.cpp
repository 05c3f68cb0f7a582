#include "net/resolver.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gh::net {

boost::asio::awaitable<std::vector<boost::asio::ip::address>> Resolver::resolve(const std::string& host,
                                                                                std::string& error) {
  boost::system::error_code ec;
  auto literal = boost::asio::ip::make_address(host, ec);
  if (!ec) co_return std::vector<boost::asio::ip::address>{literal};

  const auto now = std::chrono::steady_clock::now();
  if (auto it = cache_.find(host); it != cache_.end() && it->second.expires > now)
    co_return it->second.addresses;

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
