// Child processes for plugin servers: shell-like argv splitting (no shell is run), the limited
// PATH Kong's children get, spawning with exec semantics, and bounded "run and capture" for
// query commands. One mechanism shared by discovery (query commands) and the Supervisor.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::pluginserver {

// The PATH every start and query command runs with, and against which a bare command name is
// resolved. Kong's children inherit nginx's scrubbed environment, so /bin/sh falls back to its
// built-in default path; this is dash's default, i.e. what Kong's servers effectively see.
inline constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Splits a command line into argv the way /bin/sh would for simple commands: blanks separate
// words, '...' is literal, "..." allows \" \\ \$ \` escapes, a backslash outside quotes escapes
// the next character. Throws std::runtime_error for an unterminated quote, an empty command, or
// shell syntax we do not interpret (pipes, redirections, ;, &, $expansions, `...`, globs are
// rejected so that a command never silently means something else than under Kong's sh -c).
std::vector<std::string> split_command(std::string_view command);

// Resolves argv[0] against kDefaultPath when it has no '/'. Returns nullopt if nothing
// executable is found (the spawn then fails with exit status 127, as a shell would).
std::optional<std::string> resolve_executable(const std::string& program);

// Shell-quotes one argument (used to build the legacy go-pluginserver commands).
std::string quote_argument(std::string_view arg);

struct SpawnOptions {
  bool new_process_group = true;  // the server and anything it forks can be signalled together
  bool parent_death_kill = true;  // PR_SET_PDEATHSIG(SIGKILL): no server outlives the gateway
};

// A started child. Pipes are the read ends of its stdout and stderr (close-on-exec, blocking).
struct Spawned {
  pid_t pid = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// fork + execve of argv (argv[0] resolved with resolve_executable), environment = ours with
// PATH=kDefaultPath, stdin = /dev/null. Exec failures end the child with 127 (not found) or 126
// (not executable) after writing a one-line reason to its stderr. Throws std::system_error if
// fork or pipe fail. Note: PR_SET_PDEATHSIG fires when the *thread* that forked exits, so spawn
// from a thread that lives as long as the child should.
Spawned spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// pidfd_open(2) (Linux ≥ 5.3): a descriptor that becomes readable when `pid` exits. Through
// syscall() because glibc 2.36's <sys/pidfd.h> lacks extern "C". -1 on failure.
int open_pidfd(pid_t pid);

// Describes a waitpid status: "exited with code 1", "killed by signal 9 (Killed)", and
// "exited with code 127 (command not found)".
std::string describe_exit(int wait_status);

struct CommandResult {
  int wait_status = 0;  // as from waitpid
  bool timed_out = false;
  std::string out;  // stdout
  std::string err;  // stderr
  bool succeeded() const;
};

// Runs a command to completion (query commands): stdout and stderr captured separately, at most
// `max_output` bytes each; after `timeout` the process group is SIGKILLed and timed_out is set.
// Blocking: call it outside any io_context thread.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          std::size_t max_output = 16 * 1024 * 1024);

// Removes ANSI escape sequences (colour codes that the JS server writes even to pipes).
std::string strip_ansi(std::string_view text);

}  // namespace gh::pluginserver
