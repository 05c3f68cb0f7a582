#include "net/listener.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/log.h"

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

bool AcceptFailures::needs_pause(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return false;
  const int e = ec.value();
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

boost::asio::awaitable<void> AcceptFailures::handle(const boost::system::error_code& ec,
                                                    std::string_view what) {
  const bool pause = needs_pause(ec);
  uint64_t held_back = 0;
  if (throttle_.allow(held_back)) {
    std::string more = held_back ? " (" + std::to_string(held_back) + " more since the last line)" : "";
    if (pause)
      spdlog::critical("accept() failed on {}: {}{}; not accepting for {}ms", what, ec.message(), more,
                       kPause.count());
    else
      spdlog::error("accept() failed on {}: {}{}", what, ec.message(), more);
  }
  if (!pause) co_return;
  timer_.expires_after(kPause);
  co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      spdlog::debug("open file limit raised from {} to {}", limit.rlim_cur, raised.rlim_cur);
      limit = raised;
    } else {
      spdlog::warn("could not raise the open file limit from {} to {}: {}", limit.rlim_cur, limit.rlim_max,
                   std::strerror(errno));
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace gh::net
