#include "proxy/request_body.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace gh::proxy {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path root = fs::temp_directory_path() / ("spooled-body-" + std::to_string(::getpid()));
  fs::path dir = root / "client_body_temp";  // created by the first spill
  TempDir() {
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~TempDir() { fs::remove_all(root); }
  size_t files() const {
    return fs::exists(dir) ? static_cast<size_t>(std::distance(fs::directory_iterator(dir), {})) : 0;
  }
};

std::string read_back(const SpooledBody& body) {
  std::string out(body.size(), '\0');
  uint64_t offset = 0;
  while (offset < body.size()) {
    long n = body.read_at(offset, out.data() + offset, 7);  // odd sizes: offsets must be honoured
    if (n <= 0) break;
    offset += static_cast<uint64_t>(n);
  }
  out.resize(offset);
  return out;
}

TEST(SpooledBody, StaysInMemoryUpToTheBufferSize) {
  TempDir tmp;
  SpooledBody body(8, tmp.dir.string());
  ASSERT_TRUE(body.append("abcd"));
  ASSERT_TRUE(body.append("efgh"));
  ASSERT_TRUE(body.finish());
  EXPECT_FALSE(body.in_file());
  EXPECT_EQ(body.memory(), "abcdefgh");
  EXPECT_EQ(tmp.files(), 0u);
}

// Past the buffer the whole body (the bytes already in memory too) goes to a 0600 file, memory
// holds at most one buffer, and the file disappears with the body.
TEST(SpooledBody, SpillsTheWholeBodyToAPrivateFileRemovedAfterwards) {
  TempDir tmp;
  std::string expected;
  std::string path;
  {
    SpooledBody body(16, tmp.dir.string());
    for (int i = 0; i < 100; ++i) {
      std::string piece = std::to_string(i) + (i % 7 == 0 ? std::string(40, 'x') : "-");
      expected += piece;
      ASSERT_TRUE(body.append(piece));
      EXPECT_LE(body.memory().size(), 16u);
    }
    ASSERT_TRUE(body.finish());
    ASSERT_TRUE(body.in_file());
    EXPECT_EQ(body.size(), expected.size());
    EXPECT_TRUE(body.memory().empty());
    path = body.path();
    EXPECT_EQ(fs::path(path).parent_path(), tmp.dir);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), expected.size());
    EXPECT_EQ(read_back(body), expected);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(tmp.files(), 0u);
}

TEST(SpooledBody, AZeroBufferKeepsNothingInMemory) {
  TempDir tmp;
  SpooledBody body(0, tmp.dir.string());
  ASSERT_TRUE(body.append("a"));
  ASSERT_TRUE(body.finish());
  EXPECT_TRUE(body.in_file());
  EXPECT_EQ(read_back(body), "a");
}

// What the upstream senders read: never past the body's end, and 0 (not a short count) when the
// file was cut under it.
TEST(SpooledBody, ReadToSendStopsAtTheBodysEndAndReportsATruncatedFile) {
  TempDir tmp;
  SpooledBody body(0, tmp.dir.string());
  ASSERT_TRUE(body.append("0123456789"));
  ASSERT_TRUE(body.finish());
  char out[64];
  ASSERT_EQ(body.read_to_send(4, out, sizeof out), 6u);
  EXPECT_EQ(std::string(out, 6), "456789");
  ASSERT_EQ(::truncate(body.path().c_str(), 5), 0);
  EXPECT_EQ(body.read_to_send(4, out, sizeof out), 1u);
  EXPECT_EQ(body.read_to_send(5, out, sizeof out), 0u);
}

TEST(SpooledBody, AnUnwritableDirectoryIsAnError) {
  SpooledBody body(4, "/proc/no-such-dir/client_body_temp");
  EXPECT_TRUE(body.append("abc"));
  EXPECT_FALSE(body.append("defgh"));
  EXPECT_NE(body.error().find("/proc/no-such-dir/client_body_temp"), std::string::npos);
}

}  // namespace
}  // namespace gh::proxy
