// Gateway-side CPU per PDK call (Client step loop) vs bare Unix-socket round trips (blocking, and
// on the same Asio event loop), all against one in-process server thread. Not built by CMake:
//   g++ -std=c++20 -O2 -DNDEBUG -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -Isrc \
//     tests/unit/msgpack/bench/roundtrip_bench.cpp src/pluginserver/msgpack/*.cpp src/common/strings.cpp \
//     -o /tmp/roundtrip_bench -lspdlog -lfmt -pthread
//   /tmp/roundtrip_bench <pdk calls per event = 8> <events = 20000>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <thread>

#include "pluginserver/msgpack/client.h"

using namespace gh::pluginserver::msgpack;
using gh::pdk::PdkHandler;
using gh::pdk::PdkResult;
namespace asio = boost::asio;

static double thread_cpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Server: answers HandleEvent/Step with N PDK calls then "ret"; in bare mode echoes a fixed reply.
static void serve(int lfd, int calls) {
  while (true) {
    int fd = accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    std::thread([fd, calls] {
      StreamDecoder dec;
      int step = 0;
      std::string out;
      while (true) {
        std::optional<std::span<const uint8_t>> obj;
        while (!(obj = dec.next())) {
          auto sp = dec.prepare();
          ssize_t n = read(fd, sp.data(), sp.size());
          if (n <= 0) {
            close(fd);
            return;
          }
          dec.commit(n);
        }
        Reader r(*obj);
        r.read_array();
        r.read_int();
        int64_t id = r.read_int();
        auto m = r.read_str();
        out.clear();
        Writer w(out);
        w.array_header(4);
        w.unsigned_integer(1);
        w.unsigned_integer(id);
        w.nil();
        if (m == "plugin.HandleEvent") step = 0;
        w.map_header(2);
        w.str("Data");
        if (step++ < calls) {
          w.map_header(2);
          w.str("Method");
          w.str("kong.request.get_header");
          w.str("Args");
          w.array_header(1);
          w.str("host");
        } else
          w.str("ret");
        w.str("EventId");
        w.integer(0);
        if (write(fd, out.data(), out.size()) < 0) {
          close(fd);
          return;
        }
      }
    }).detach();
  }
}

struct Pdk : PdkHandler {
  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view, nlohmann::json) override {
    co_return PdkResult::ok("example.com");
  }
};

int main(int argc, char** argv) {
  int calls = argc > 1 ? atoi(argv[1]) : 8, events = argc > 2 ? atoi(argv[2]) : 20000;
  std::string path = "/tmp/gh-roundtrip-bench.sock";
  unlink(path.c_str());
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strcpy(a.sun_path, path.c_str());
  bind(lfd, (sockaddr*)&a, sizeof a);
  listen(lfd, 16);
  std::thread(serve, lfd, calls).detach();

  // bare: blocking write of a Step-sized request, blocking read of a full reply
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    connect(fd, (sockaddr*)&a, sizeof a);
    std::string req;
    Writer w(req);
    write_request_head(w, 1, "plugin.Step");
    write_step_param(w, 0, PdkResult::ok("example.com"));
    std::string he;
    Writer w2(he);
    write_request_head(w2, 1, "plugin.HandleEvent");
    write_handle_event_param(w2, 0, "access");
    char buf[4096];
    StreamDecoder dec;
    auto rt = [&](const std::string& r) {
      if (write(fd, r.data(), r.size()) < 0) abort();
      while (!dec.next()) {
        auto sp = dec.prepare();
        dec.commit(read(fd, sp.data(), sp.size()));
      }
    };
    (void)buf;
    int n = events * (calls + 1);
    for (int i = 0; i < 2000; ++i) rt(i % (calls + 1) == 0 ? he : req);
    double t0 = thread_cpu();
    for (int i = 0; i < n; ++i) rt(i % (calls + 1) == 0 ? he : req);
    double t1 = thread_cpu();
    printf("bare blocking round trip: %.2f us CPU\n", (t1 - t0) / n * 1e6);
    close(fd);
  }
  {  // bare round trip on the same event loop: immediate send, async_read_some, no parsing
    asio::io_context io(1);
    asio::local::stream_protocol::socket sock(io);
    sock.connect(asio::local::stream_protocol::endpoint(path));
    sock.non_blocking(true);
    std::string req;
    Writer w(req);
    write_request_head(w, 1, "plugin.Step");
    write_step_param(w, 0, PdkResult::ok("example.com"));
    std::string he;
    Writer w2(he);
    write_request_head(w2, 1, "plugin.HandleEvent");
    write_handle_event_param(w2, 0, "access");
    double t0 = 0, t1 = 0;
    int n = events * (calls + 1);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          StreamDecoder dec;
          for (int i = -2000; i < n; ++i) {
            if (i == 0) t0 = thread_cpu();
            const std::string& r = (i + 2000) % (calls + 1) == 0 ? he : req;
            sock.write_some(asio::buffer(r));
            while (!dec.next()) {
              auto sp = dec.prepare();
              dec.commit(
                  co_await sock.async_read_some(asio::buffer(sp.data(), sp.size()), asio::use_awaitable));
            }
          }
          t1 = thread_cpu();
        },
        asio::detached);
    io.run();
    printf("bare asio round trip: %.2f us CPU\n", (t1 - t0) / n * 1e6);
  }
  {
    asio::io_context io(1);
    ClientOptions o;
    o.call_timeout = std::chrono::milliseconds(5000);
    Client c(std::make_shared<ConnectionPool>(io.get_executor()), path, o);
    Pdk pdk;
    double t0 = 0, t1 = 0;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < 500; ++i) co_await c.handle_event(0, "access", pdk);
          t0 = thread_cpu();
          for (int i = 0; i < events; ++i) co_await c.handle_event(0, "access", pdk);
          t1 = thread_cpu();
        },
        asio::detached);
    io.run();
    printf("Client, %d PDK calls/event: %.2f us CPU per round trip\n", calls,
           (t1 - t0) / (events * (calls + 1)) * 1e6);
  }
  fflush(stdout);
  _exit(0);  // the server threads block in accept/read
}
