// uds_roundtrip: the reference point of the plugin benchmark (bench/plugins). Two processes connected
// by a Unix stream socket ping-pong a small message; prints wall µs and CPU µs per round trip for the
// side that asks (the plugin server's role) and the side that answers (the gateway's role).
//
// The gateway's CPU per classic PDK call is one answered round trip plus decoding, dispatching and
// encoding, so the answering side's CPU here is the floor it is compared with. Blocking read/write,
// no epoll: the cheapest a round trip can be. Pin it like the gateway (`taskset -c 0`) so both
// processes share one CPU, as gatehouse and the plugin servers it spawns do in the benchmark.
//
//   uds_roundtrip [round_trips=200000] [message_bytes=64]
//   → one line: round_trips=… bytes=… wall_us=… asker_cpu_us=… answerer_cpu_us=…
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// Reads or writes exactly `size` bytes; false on EOF or error (the peer went away).
bool transfer_all(int fd, char* data, size_t size, bool reading) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = reading ? read(fd, data + done, size - done) : write(fd, data + done, size - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double cpu_seconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The answering process: echoes every message until the asker closes its end.
[[noreturn]] void answer_forever(int fd, size_t message_bytes) {
  std::vector<char> buffer(message_bytes);
  while (transfer_all(fd, buffer.data(), buffer.size(), true) &&
         transfer_all(fd, buffer.data(), buffer.size(), false)) {
  }
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const long round_trips = argc > 1 ? std::atol(argv[1]) : 200000;
  const long message_bytes = argc > 2 ? std::atol(argv[2]) : 64;
  if (round_trips <= 0 || message_bytes <= 0) {
    std::fprintf(stderr, "usage: uds_roundtrip [round_trips>0] [message_bytes>0]\n");
    return 2;
  }
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    std::perror("socketpair");
    return 1;
  }
  const pid_t answerer = fork();
  if (answerer < 0) {
    std::perror("fork");
    return 1;
  }
  if (answerer == 0) {
    close(fds[0]);
    answer_forever(fds[1], static_cast<size_t>(message_bytes));
  }
  close(fds[1]);
  std::vector<char> message(static_cast<size_t>(message_bytes), 'x');
  const double asker_cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = std::chrono::steady_clock::now();
  for (long i = 0; i < round_trips; ++i) {
    if (!transfer_all(fds[0], message.data(), message.size(), false) ||
        !transfer_all(fds[0], message.data(), message.size(), true)) {
      std::fprintf(stderr, "the answering process went away after %ld round trips\n", i);
      return 1;
    }
  }
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
  const double asker_cpu = cpu_seconds(RUSAGE_SELF) - asker_cpu_before;
  close(fds[0]);  // EOF ends the answerer; its CPU time is ours once it has been reaped
  int status = 0;
  waitpid(answerer, &status, 0);
  const double answerer_cpu = cpu_seconds(RUSAGE_CHILDREN);
  const double per_trip_us = 1e6 / static_cast<double>(round_trips);
  std::printf("round_trips=%ld bytes=%ld wall_us=%.3f asker_cpu_us=%.3f answerer_cpu_us=%.3f\n", round_trips,
              message_bytes, wall.count() * per_trip_us, asker_cpu * per_trip_us, answerer_cpu * per_trip_us);
  return 0;
}
