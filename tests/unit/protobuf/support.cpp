#include "support.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pluginserver/protobuf/framing.h"
#include "proto/pluginsocket.pb.h"
#include "test_data.h"

namespace gh::pluginserver::protobuf::test {
namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

// "Type{text}" → type and text.
void split_typed(std::string rest, Note& note) {
  const auto brace = rest.find('{');
  if (brace == std::string::npos || rest.back() != '}') return;  // "nil"
  note.type = rest.substr(0, brace);
  note.text = rest.substr(brace + 1, rest.size() - brace - 2);
}

Note parse_note(const std::string& text, bool close) {
  Note note;
  if (close) {
    note.kind = Note::Kind::close;
    return note;
  }
  if (starts_with(text, "method ")) {
    note.kind = Note::Kind::method;
    note.text = text.substr(7);
    return note;
  }
  if (starts_with(text, "end of event")) {
    note.kind = Note::Kind::end;
    note.zero_length = true;
    return note;
  }
  std::string rest = text;
  note.kind = Note::Kind::rpc;
  if (starts_with(rest, "args ")) {
    note.kind = Note::Kind::args;
    rest = rest.substr(5);
  } else if (starts_with(rest, "reply ")) {
    note.kind = Note::Kind::reply;
    rest = rest.substr(6);
  }
  if (starts_with(rest, "(zero-length frame) ")) {
    note.zero_length = true;
    rest = rest.substr(20);
  }
  split_typed(rest, note);
  return note;
}

std::atomic<int> socket_counter{0};

}  // namespace

std::vector<std::string> go_pb_transcripts() {
  return gh::test::conformance_transcripts({"go-pb-"});
}

std::vector<Line> load_transcript(const std::string& file) {
  std::istringstream in(gh::test::read_conformance_file(file));
  std::vector<Line> lines;
  std::string text;
  while (std::getline(in, text)) {
    if (text.empty()) continue;
    const auto j = nlohmann::json::parse(text);
    Line line;
    line.gateway_to_server = j.at("dir") == "gw>srv";
    line.frame = from_hex(j.at("hex").get<std::string>());
    line.note_text = j.at("note").get<std::string>();
    line.conn = j.at("conn").get<int>();
    line.note = parse_note(line.note_text, j.value("event", "") == "close");
    lines.push_back(std::move(line));
  }
  return lines;
}

std::string payload_of(const Line& line) {
  if (line.frame.size() < kFrameHeaderSize) {
    ADD_FAILURE() << "frame shorter than its header: " << line.note_text;
    return {};
  }
  const auto* b = reinterpret_cast<const unsigned char*>(line.frame.data());
  const std::size_t length = b[0] | b[1] << 8 | b[2] << 16 | static_cast<std::size_t>(b[3]) << 24;
  EXPECT_EQ(length, line.frame.size() - kFrameHeaderSize) << "length prefix of " << line.note_text;
  return line.frame.substr(kFrameHeaderSize);
}

std::unique_ptr<google::protobuf::Message> new_message(const std::string& full_type_name) {
  // Linking the generated code registers its types in the generated pool.
  kong_plugin_protocol::RpcCall::descriptor();
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(full_type_name);
  if (descriptor == nullptr) return nullptr;
  return std::unique_ptr<google::protobuf::Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
}

std::unique_ptr<google::protobuf::Message> message_from_note(const Note& note) {
  auto message = new_message(note.type);
  if (!message) {
    ADD_FAILURE() << "unknown message type in note: " << note.type;
    return nullptr;
  }
  if (!google::protobuf::TextFormat::ParseFromString(note.text, message.get())) {
    ADD_FAILURE() << "note is not valid text format for " << note.type << ": " << note.text;
    return nullptr;
  }
  return message;
}

std::unique_ptr<google::protobuf::Message> parse_as(const std::string& full_type_name,
                                                    const std::string& bytes) {
  auto message = new_message(full_type_name);
  if (!message || !message->ParseFromString(bytes)) return nullptr;
  return message;
}

std::string differences(const google::protobuf::Message& expected, const google::protobuf::Message& actual) {
  std::string report;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&report);
  if (differ.Compare(expected, actual)) return {};
  return report.empty() ? "differ" : report;
}

std::string frame(const std::string& payload) {
  std::string out;
  append_frame(out, payload);
  return out;
}

std::string frame(const google::protobuf::Message& message) {
  std::string out;
  append_frame(out, message);
  return out;
}

std::string string_message(const std::string& v) {
  kong_plugin_protocol::String s;
  s.set_v(v);
  return s.SerializeAsString();
}

ScriptServer::ScriptServer() {
  path_ = "/tmp/gh-pb-test-" + std::to_string(::getpid()) + "-" + std::to_string(socket_counter++) + ".sock";
  ::unlink(path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0)
    ADD_FAILURE() << "cannot listen on " << path_ << ": " << std::strerror(errno);
}

ScriptServer::~ScriptServer() {
  join();
  for (int fd : open_fds_) ::close(fd);
  ::close(listen_fd_);
  ::unlink(path_.c_str());
}

void ScriptServer::run(std::function<void(ScriptServer&)> script) {
  thread_ = std::thread([this, script = std::move(script)] {
    try {
      script(*this);
    } catch (const std::exception& e) {
      fail(std::string("script stopped: ") + e.what());
    }
  });
}

void ScriptServer::join() {
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> ScriptServer::failures() {
  join();
  std::lock_guard lock(mutex_);
  return failures_;
}

void ScriptServer::fail(const std::string& what) {
  std::lock_guard lock(mutex_);
  failures_.push_back(what);
}

int ScriptServer::accept(std::chrono::milliseconds timeout) {
  pollfd p{listen_fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
    throw std::runtime_error("no connection to accept");
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("accept: ") + std::strerror(errno));
  std::lock_guard lock(mutex_);
  open_fds_.push_back(fd);
  ++accepts_;
  return fd;
}

bool ScriptServer::read_exact(int fd, char* into, std::size_t n, std::chrono::milliseconds timeout,
                              bool& eof) {
  std::size_t got = 0;
  eof = false;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) throw std::runtime_error("timed out reading");
    const auto r = ::recv(fd, into + got, n - got, 0);
    if (r <= 0) {
      eof = true;
      return false;
    }
    got += static_cast<std::size_t>(r);
  }
  return true;
}

std::optional<std::string> ScriptServer::read_frame(int fd, std::chrono::milliseconds timeout) {
  char header[4];
  bool eof = false;
  if (!read_exact(fd, header, 4, timeout, eof)) return std::nullopt;
  const auto* b = reinterpret_cast<const unsigned char*>(header);
  const std::size_t length = b[0] | b[1] << 8 | b[2] << 16 | static_cast<std::size_t>(b[3]) << 24;
  std::string payload(length, '\0');
  if (length > 0 && !read_exact(fd, payload.data(), length, timeout, eof))
    throw std::runtime_error("connection closed inside a frame");
  return payload;
}

bool ScriptServer::peer_closes_silently(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  char byte;
  return ::recv(fd, &byte, 1, 0) == 0;
}

void ScriptServer::write_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto r = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (r < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(r);
  }
}

void ScriptServer::close_fd(int fd) {
  std::lock_guard lock(mutex_);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

}  // namespace gh::pluginserver::protobuf::test
