// Helpers for the plugin-server tests: a temporary directory with real scripts in it.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>

namespace gh::pluginserver::testing {

class TempDir {
 public:
  TempDir() {
    // Short paths: a Unix socket path must fit in 108 bytes.
    std::string pattern = "/tmp/ghps-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  // Writes an executable file (a script with its #! line).
  std::string script(const std::string& name, const std::string& content) const {
    std::string file = *this / name;
    std::ofstream(file) << content;
    chmod(file.c_str(), 0755);
    return file;
  }
  std::string file(const std::string& name, const std::string& content) const {
    std::string file = *this / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::string path_;
};

// Polls `condition` every 20ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// Alive and not a zombie (a killed grandchild stays a zombie until init reaps it).
inline bool process_alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = content.rfind(')');
  if (paren == std::string::npos || paren + 2 >= content.size()) return false;
  char state = content[paren + 2];
  return state != 'Z' && state != 'X';
}

inline std::string source_path(const std::string& relative) {
  return std::string(GATEHOUSE_SOURCE_DIR) + "/" + relative;
}

}  // namespace gh::pluginserver::testing
