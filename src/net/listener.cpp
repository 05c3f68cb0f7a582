#include "net/listener.h"

#include <sys/socket.h>

#include <boost/asio/socket_base.hpp>
#include <system_error>

namespace gh::net {

boost::asio::ip::tcp::acceptor open_listener(boost::asio::any_io_executor ex, const ListenOptions& options) {
  namespace ip = boost::asio::ip;
  auto where = options.host + ":" + std::to_string(options.port);
  boost::system::error_code ec;
  auto address = ip::make_address(options.host == "*" ? "0.0.0.0" : options.host, ec);
  if (ec) throw std::system_error(ec, where + ": invalid listen address");
  ip::tcp::endpoint endpoint(address, options.port);
  ip::tcp::acceptor acceptor(ex);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec && options.reuseport) {
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec.assign(errno, boost::system::system_category());
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(options.backlog, ec);
  if (ec) throw std::system_error(ec, where);
  return acceptor;
}

}  // namespace gh::net
