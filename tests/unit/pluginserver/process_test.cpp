#include "pluginserver/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "test_util.h"

namespace gh::pluginserver {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

TEST(SplitCommand, SplitsLikeShellForSimpleQuoting) {
  EXPECT_EQ(split_command("  /usr/bin/go-hello   -kong-prefix /srv/kp "),
            (std::vector<std::string>{"/usr/bin/go-hello", "-kong-prefix", "/srv/kp"}));
  EXPECT_EQ(split_command(R"(exe 'a b' "c \"d\" \\e" f\ g --x=y)"),
            (std::vector<std::string>{"exe", "a b", R"(c "d" \e)", "f g", "--x=y"}));
  EXPECT_EQ(split_command(R"(exe '' "")"), (std::vector<std::string>{"exe", "", ""}));
  EXPECT_EQ(split_command("exe a#b"), (std::vector<std::string>{"exe", "a#b"}));
}

TEST(SplitCommand, RejectsWhatOnlyAShellWouldUnderstand) {
  for (const char* bad :
       {"exe | tee log", "exe > out", "exe; other", "exe && other", "exe $HOME", "exe `id`", "exe \"$HOME\"",
        "exe *.so", "exe 'unterminated", "exe \"unterminated", "", "   ", "exe # comment", "exe ~/dir"})
    EXPECT_THROW(split_command(bad), std::runtime_error) << bad;
}

TEST(ResolveExecutable, UsesTheLimitedDefaultPath) {
  EXPECT_EQ(resolve_executable("sh").value_or(""), "/usr/bin/sh");  // Debian: /usr/bin before /bin
  EXPECT_FALSE(resolve_executable("gatehouse-no-such-binary").has_value());
  EXPECT_EQ(resolve_executable("/bin/sh").value_or(""), "/bin/sh");
  EXPECT_FALSE(resolve_executable("/nonexistent/sh").has_value());
}

TEST(QuoteArgument, RoundTripsThroughSplitCommand) {
  std::string nasty = "it's a \"dir\" with spaces";
  EXPECT_EQ(split_command("exe " + quote_argument(nasty)), (std::vector<std::string>{"exe", nasty}));
}

TEST(RunCommand, CapturesStdoutAndStderrSeparatelyWithTheExitCode) {
  TempDir dir;
  auto script = dir.script("s.sh", "#!/bin/sh\necho out1\necho err1 >&2\necho out2\nexit 3\n");
  CommandResult r = run_command({script}, 5s);
  EXPECT_EQ(r.out, "out1\nout2\n");
  EXPECT_EQ(r.err, "err1\n");
  ASSERT_TRUE(WIFEXITED(r.wait_status));
  EXPECT_EQ(WEXITSTATUS(r.wait_status), 3);
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(describe_exit(r.wait_status), "exited with code 3");
}

TEST(RunCommand, ChildSeesTheLimitedPathAndNoShellInBetween) {
  TempDir dir;
  auto script = dir.script("env.sh", "#!/bin/sh\necho \"$PATH\"\necho $$ $PPID\n");
  CommandResult r = run_command({script}, 5s);
  ASSERT_TRUE(r.succeeded()) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), std::string(kDefaultPath));
  auto ppid = std::stoi(r.out.substr(r.out.rfind(' ') + 1));
  EXPECT_EQ(ppid, getpid());  // the script's parent is us, not a wrapping shell
}

TEST(RunCommand, MissingBinaryExits127WithAReason) {
  CommandResult r = run_command({"gatehouse-no-such-binary", "-dump"}, 5s);
  ASSERT_TRUE(WIFEXITED(r.wait_status));
  EXPECT_EQ(WEXITSTATUS(r.wait_status), 127);
  EXPECT_NE(r.err.find("gatehouse-no-such-binary"), std::string::npos);
  EXPECT_EQ(describe_exit(r.wait_status), "exited with code 127 (command not found)");
}

TEST(RunCommand, NonExecutableFileExits126) {
  TempDir dir;
  auto file = dir.file("plain.txt", "hello\n");
  CommandResult r = run_command({file}, 5s);
  ASSERT_TRUE(WIFEXITED(r.wait_status));
  EXPECT_EQ(WEXITSTATUS(r.wait_status), 126);  // like sh: found but not executable
}

TEST(RunCommand, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  auto pidfile = dir / "grandchild.pid";
  auto script =
      dir.script("hang.sh", "#!/bin/sh\nsleep 60 &\necho $! > " + pidfile + "\necho started\nwait\n");
  auto started = std::chrono::steady_clock::now();
  CommandResult r = run_command({script}, 500ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(r.out, "started\n");
  ASSERT_TRUE(WIFSIGNALED(r.wait_status));
  std::ifstream in(pidfile);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(testing::eventually([&] { return !testing::process_alive(grandchild); }));
}

TEST(RunCommand, OutputIsBoundedByMaxOutput) {
  TempDir dir;
  auto script = dir.script("big.sh", "#!/bin/sh\nhead -c 100000 /dev/zero\n");
  CommandResult r = run_command({script}, 5s, 1000);
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(r.out.size(), 1000u);
}

TEST(StripAnsi, RemovesColourCodes) {
  EXPECT_EQ(strip_ansi("\x1b[32m2024 [INFO]\x1b[0m hello \x1b[1;31mred\x1b[m"), "2024 [INFO] hello red");
  EXPECT_EQ(strip_ansi("plain [1] {2}"), "plain [1] {2}");
}

}  // namespace
}  // namespace gh::pluginserver
