// ByteStream::write_now: what it leaves in the buffer list is exactly what the socket did not take.
#include "net/byte_stream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using gh::net::ByteStream;

namespace {

// A connected TCP pair on loopback: `client` wrapped in a ByteStream, `server` plain.
struct Pair {
  asio::io_context io;
  asio::ip::tcp::socket server{io};
  ByteStream client{asio::ip::tcp::socket(io)};
  Pair() {
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    client.socket().connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
  std::string drain(size_t n) {
    std::string got(n, '\0');
    asio::read(server, asio::buffer(got));
    return got;
  }
};

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

}  // namespace

TEST(ByteStreamWriteNow, SmallListGoesOutWholeAndEmptiesTheList) {
  Pair p;
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", body = "ok";
  std::vector<asio::const_buffer> out{asio::buffer(head), asio::buffer(body)};
  boost::system::error_code ec;
  EXPECT_EQ(p.client.write_now(out, ec), head.size() + body.size());
  EXPECT_FALSE(ec);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.drain(head.size() + body.size()), head + body);
}

TEST(ByteStreamWriteNow, FullSendBufferLeavesExactlyTheUnsentBytes) {
  Pair p;
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.client.socket().native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  const std::string a = pattern(3000, 'a'), b = pattern(1 << 20, 'b'), c = pattern(5000, 'c');
  std::vector<asio::const_buffer> out{asio::buffer(a), asio::buffer(b), asio::buffer(c)};
  boost::system::error_code ec;
  const size_t sent = p.client.write_now(out, ec);
  EXPECT_FALSE(ec);  // would-block is not an error
  ASSERT_GT(sent, 0u);
  ASSERT_LT(sent, a.size() + b.size() + c.size());
  size_t left = 0;
  for (auto& buf : out) left += buf.size();
  EXPECT_EQ(sent + left, a.size() + b.size() + c.size());
  // The rest, written the slow way, completes the stream byte for byte.
  std::thread reader([&] { EXPECT_EQ(p.drain(a.size() + b.size() + c.size()), a + b + c); });
  asio::write(p.client.socket(), out);
  reader.join();
}

TEST(ByteStreamWriteNow, PeerGoneIsAnError) {
  Pair p;
  p.server.close();
  std::string data = pattern(1 << 16, 'x');
  boost::system::error_code ec;
  for (int i = 0; i < 50 && !ec; ++i) {  // the first send may still be accepted; a reset follows
    std::vector<asio::const_buffer> out{asio::buffer(data)};
    p.client.write_now(out, ec);
  }
  EXPECT_TRUE(ec);
}
