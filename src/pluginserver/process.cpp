#include "pluginserver/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace gh::pluginserver {

namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Characters with a meaning to sh that we refuse outside quotes rather than misinterpret.
bool is_shell_syntax(char c) {
  return std::string_view("|&;<>()$`*?").find(c) != std::string_view::npos;
}

struct Pipe {
  int read = -1, write = -1;
};

Pipe make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  return {fds[0], fds[1]};
}

// Environment for children: ours, with PATH replaced by kDefaultPath.
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "PATH=", 5) != 0) env.emplace_back(*e);
  env.push_back("PATH=" + std::string(kDefaultPath));
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, const Spawned& pipes,
                             int out_w, int err_w, pid_t parent, const SpawnOptions& options,
                             const std::string& not_found_msg) {
  if (options.new_process_group) setpgid(0, 0);
  if (options.parent_death_kill) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl took effect
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // SIG_IGN would survive exec
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, 0);
  dup2(out_w, 1);
  dup2(err_w, 2);
  (void)pipes;
  close_range(3, ~0U, 0);  // no gateway descriptor (listeners!) may leak into a server
  if (path == nullptr) {
    (void)!write(2, not_found_msg.data(), not_found_msg.size());
    _exit(127);
  }
  execve(path, argv, envp);
  int err = errno;
  (void)!write(2, not_found_msg.data(), not_found_msg.size());
  _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

}  // namespace

std::vector<std::string> split_command(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      auto end = command.find('\'', i + 1);
      if (end == std::string_view::npos)
        throw std::runtime_error("unterminated ' quote in command: " + std::string(command));
      word.append(command.substr(i + 1, end - i - 1));
      i = end;
      in_word = true;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (; j < command.size() && command[j] != '"'; ++j) {
        if (command[j] == '\\' && j + 1 < command.size() &&
            std::string_view("\"\\$`").find(command[j + 1]) != std::string_view::npos)
          ++j;
        else if (command[j] == '$' || command[j] == '`')
          throw std::runtime_error(
              "shell expansion is not supported in command (it is run without a shell): " +
              std::string(command));
        word.push_back(command[j]);
      }
      if (j >= command.size())
        throw std::runtime_error("unterminated \" quote in command: " + std::string(command));
      i = j;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 < command.size()) word.push_back(command[++i]);
      in_word = true;
    } else if (is_shell_syntax(c) || (!in_word && (c == '#' || c == '~'))) {
      throw std::runtime_error(
          std::string("shell syntax '") + c +
          "' is not supported in command (it is run without a shell; wrap it in a script): " +
          std::string(command));
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) throw std::runtime_error("empty command");
  return words;
}

std::optional<std::string> resolve_executable(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return access(program.c_str(), X_OK) == 0 ? std::optional(program) : std::nullopt;
  std::string_view path = kDefaultPath;
  while (!path.empty()) {
    auto colon = path.find(':');
    std::string candidate = std::string(path.substr(0, colon)) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

std::string quote_argument(std::string_view arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

Spawned spawn_process(const std::vector<std::string>& argv_in, const SpawnOptions& options) {
  if (argv_in.empty()) throw std::runtime_error("empty command");
  // A path is exec'd as given (execve reports not-found vs. not-executable); a name is looked up.
  auto resolved =
      argv_in[0].find('/') != std::string::npos ? std::optional(argv_in[0]) : resolve_executable(argv_in[0]);
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env = child_environment();
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env);
  const std::string not_found_msg = "gatehouse: " + argv_in[0] + ": command not found or not executable\n";

  Pipe out = make_pipe();
  Pipe err;
  try {
    err = make_pipe();
  } catch (...) {
    close(out.read);
    close(out.write);
    throw;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    for (int fd : {out.read, out.write, err.read, err.write}) close(fd);
    errno = saved;
    throw_errno("fork");
  }
  Spawned result{pid, out.read, err.read};
  if (pid == 0)
    exec_child(resolved ? resolved->c_str() : nullptr, c_argv.data(), c_env.data(), result, out.write,
               err.write, parent, options, not_found_msg);
  if (options.new_process_group) setpgid(pid, pid);  // also from here: no window where kill(-pid) misses
  close(out.write);
  close(err.write);
  return result;
}

int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    std::string text = "exited with code " + std::to_string(code);
    if (code == 127) text += " (command not found)";
    if (code == 126) text += " (command not executable)";
    return text;
  }
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigdescr_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  return "status " + std::to_string(status);
}

bool CommandResult::succeeded() const {
  return !timed_out && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          std::size_t max_output) {
  SpawnOptions options;
  Spawned child = spawn_process(argv, options);
  int pidfd = open_pidfd(child.pid);
  for (int fd : {child.stdout_fd, child.stderr_fd}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  CommandResult result;
  std::string* sinks[2] = {&result.out, &result.err};
  int fds[2] = {child.stdout_fd, child.stderr_fd};
  auto drain = [&](int i) {  // reads what is available; closes the pipe at EOF
    char buf[65536];
    while (fds[i] >= 0) {
      ssize_t n = read(fds[i], buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, std::min<std::size_t>(n, max_output - std::min(max_output, sinks[i]->size())));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fds[i]);
        fds[i] = -1;
      } else if (errno == EAGAIN) {
        return;
      }
    }
  };

  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool exited = false;
  while (!exited || fds[0] >= 0 || fds[1] >= 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(-child.pid, SIGKILL);
      kill(child.pid, SIGKILL);
      break;
    }
    pollfd pfds[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {exited ? -1 : pidfd, POLLIN, 0}};
    // Once the child has exited, output still held open by a grandchild is read for at most 100ms.
    int wait_ms = exited ? std::min<int>(100, left.count()) : static_cast<int>(left.count());
    int ready = poll(pfds, 3, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i)
      if (pfds[i].revents) drain(i);
    if (pfds[2].revents) exited = true;
    if (exited && ready == 0) break;
  }
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) {
      drain(i);
      if (fds[i] >= 0) close(fds[i]);
    }
  }
  while (waitpid(child.pid, &result.wait_status, 0) < 0 && errno == EINTR) {
  }
  if (pidfd >= 0) close(pidfd);
  return result;
}

std::string strip_ansi(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\x1b') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '[') {  // CSI: ESC [ params final-byte
      std::size_t j = i + 2;
      while (j < text.size() && !(text[j] >= 0x40 && text[j] <= 0x7e)) ++j;
      i = j;
    } else {
      ++i;  // two-character escape
    }
  }
  return out;
}

}  // namespace gh::pluginserver
