// Test helpers: temporary directories, child processes, and a gateway-side frame client.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pdk_test {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gh-pdk-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A child process, killed (SIGKILL) and reaped on destruction if still running.
class Process {
 public:
  explicit Process(std::vector<std::string> argv, const std::string& stderr_file = "/dev/null") {
    pid_ = fork();
    if (pid_ == 0) {
      int err = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (err >= 0) dup2(err, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !exit_code_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Waits up to `limit` for the exit; the exit code, or 128+signal, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exit_code_ && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_)
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Runs a command to completion; returns {exit code, stdout}.
inline std::pair<int, std::string> run_capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, out};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline int connect_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Waits until something accepts connections on `path`.
inline bool wait_for_socket(const std::string& path,
                            std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = connect_unix(path);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The gateway's end of one plugin connection, with read timeouts so a broken server fails the
// test instead of hanging it.
class GatewayConn {
 public:
  explicit GatewayConn(const std::string& socket_path) : fd_(connect_unix(socket_path)) {
    if (fd_ < 0) throw std::runtime_error("cannot connect to " + socket_path);
  }
  ~GatewayConn() {
    if (fd_ >= 0) close(fd_);
  }
  GatewayConn(const GatewayConn&) = delete;

  void write_raw(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<size_t>(n);
    }
  }
  void write_frame(const std::string& payload) {
    std::string frame(4, '\0');
    uint32_t n = static_cast<uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>(n >> (8 * i));
    write_raw(frame + payload);
  }
  // true when `n` bytes arrived; false on EOF; throws on timeout.
  bool read_exact(std::string& out, size_t n, std::chrono::milliseconds limit) {
    out.resize(n);
    size_t off = 0;
    while (off < n) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(limit.count())) <= 0)
        throw std::runtime_error("timeout reading from plugin");
      ssize_t got = recv(fd_, out.data() + off, n - off, 0);
      if (got <= 0) return false;
      off += static_cast<size_t>(got);
    }
    return true;
  }
  // The next frame's payload; nullopt on EOF.
  std::optional<std::string> read_frame(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::string header, payload;
    if (!read_exact(header, 4, limit)) return std::nullopt;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= uint32_t(static_cast<unsigned char>(header[i])) << (8 * i);
    if (!read_exact(payload, n, limit)) return std::nullopt;
    return payload;
  }
  // true when the peer sends nothing within `limit` (and has not closed either).
  bool silent_for(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(limit.count())) == 0;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace pdk_test
