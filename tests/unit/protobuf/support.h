// Test support for the ProtoBuf:1 bridge: conformance transcripts (tests/data/conformance,
// README there), a scripted plugin server on a real Unix socket, and running coroutines.
#pragma once

#include <google/protobuf/message.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gh::pluginserver::protobuf::test {

// ---- transcripts ----------------------------------------------------------------------------

// One decoded `note` (README §1): what the frame is.
struct Note {
  enum class Kind { rpc, method, args, reply, end, close };
  Kind kind = Kind::rpc;
  bool zero_length = false;  // "(zero-length frame)"
  std::string type;          // full message type name, empty for "nil" / method / end / close
  std::string text;          // protobuf text format inside the braces (or the method name)
};

struct Line {
  bool gateway_to_server = false;  // dir == "gw>srv"
  std::string frame;               // the bytes, length prefix included (empty on close lines)
  std::string note_text;
  Note note;
  int conn = 0;
};

std::vector<std::string> go_pb_transcripts();  // file names, e.g. "go-pb-access.jsonl"
std::vector<Line> load_transcript(const std::string& file);
// The frame's payload; fails the test if the length prefix does not match.
std::string payload_of(const Line& line);
// A new message of the note's type filled from its text (nullptr + test failure if unparsable).
std::unique_ptr<google::protobuf::Message> message_from_note(const Note& note);
std::unique_ptr<google::protobuf::Message> new_message(const std::string& full_type_name);
// Parses `bytes` as `type`; nullptr if it does not parse.
std::unique_ptr<google::protobuf::Message> parse_as(const std::string& full_type_name,
                                                    const std::string& bytes);
// Structural comparison; returns a description of the difference, empty if equal.
std::string differences(const google::protobuf::Message& expected, const google::protobuf::Message& actual);

// ---- frames -----------------------------------------------------------------------------------

std::string frame(const std::string& payload);
std::string frame(const google::protobuf::Message& message);
// A kong_plugin_protocol.String carrying `v`, serialized without a frame: the argument bytes of a
// PDK call such as kong.request.get_header.
std::string string_message(const std::string& v);

// ---- a scripted plugin server -------------------------------------------------------------------

// Listens on a fresh Unix socket path; the script runs on its own thread with blocking sockets.
// Failures inside the script are recorded (ScriptFailure) and reported by failures().
class ScriptServer {
 public:
  ScriptServer();
  ~ScriptServer();
  const std::string& path() const { return path_; }

  void run(std::function<void(ScriptServer&)> script);
  void join();  // waits for the script; idempotent
  std::vector<std::string> failures();
  void fail(const std::string& what);
  int accepts() const { return accepts_; }

  // Script helpers (server thread). Each waits at most `timeout`.
  int accept(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // A frame's payload, or nullopt when the peer closed the connection before a new frame.
  std::optional<std::string> read_frame(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the peer closes `fd` within `timeout` without sending anything.
  bool peer_closes_silently(int fd, std::chrono::milliseconds timeout);
  void write_all(int fd, const std::string& bytes);
  void close_fd(int fd);

 private:
  bool read_exact(int fd, char* into, std::size_t n, std::chrono::milliseconds timeout, bool& eof);

  std::string path_;
  int listen_fd_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<int> open_fds_;
  int accepts_ = 0;
};

// ---- coroutines ---------------------------------------------------------------------------------

// Runs `op` on `io` until it completes (not until `io` is out of work: idle pooled connections
// may keep a deadline timer pending); rethrows its exception.
template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> op) {
  auto future = boost::asio::co_spawn(io, std::move(op), boost::asio::use_future);
  io.restart();
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready && io.run_one() > 0) {
  }
  return future.get();
}

}  // namespace gh::pluginserver::protobuf::test
