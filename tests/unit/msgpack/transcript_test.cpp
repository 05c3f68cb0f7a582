// Acceptance against tests/data/conformance: recordings of a Kong-exact gateway talking to the real
// kong-python-pdk and npm kong-pdk servers (README there).
//  1. every line's bytes decode to its note (types kept strict);
//  2. every gateway message, rebuilt with our request writers, has Kong's bytes (map order aside);
//  3. replay: a server on a real Unix socket plays the srv>gw side while our Client plays the
//     gateway, answering PDK calls with the values the recording carries.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "pluginserver/msgpack/client.h"
#include "test_support.h"

namespace gh::pluginserver::msgpack {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using test::bytes_of;
using test::Line;

class Transcripts : public ::testing::TestWithParam<std::string> {};

TEST(TranscriptFiles, AllFourteenArePresent) {
  EXPECT_EQ(test::mp_transcripts().size(), 14u);
}

TEST_P(Transcripts, EveryLineDecodesToItsNote) {
  for (const Line& line : test::load_transcript(GetParam())) {
    if (line.close) continue;
    std::string why;
    EXPECT_TRUE(test::strict_equal(decode(line.bytes), line.note, &why)) << why;
  }
}

// The PdkResult the recorded gateway answered with, read back from its Step request parameter (the
// Step variant itself comes from the PDK table, as in production).
// Multimap data is turned back into what Kong's PDK returns (a single value as a string, a
// valueless flag as true) so that our fix_mmap has to redo Kong's work.
PdkResult recorded_result(const json& method, const json& param) {
  const std::string& m = method.get_ref<const std::string&>();
  if (m == "plugin.StepError") return PdkResult::fail(param["Data"].get<std::string>());
  PdkResult r;
  if (!param.contains("Data")) return r;  // nil
  json data = param["Data"];
  if (m == "plugin.StepMultiMap" && data.is_object()) {
    for (auto& [k, v] : data.items()) {
      if (v.is_array() && v.size() == 1 && v[0].is_string())
        v = v[0];
      else if (v.is_array() && v.empty())
        v = true;
    }
  }
  r.status = PdkResult::Status::ok;
  r.value = std::move(data);
  return r;
}

// Our bytes for one recorded gateway request, built with the production writers.
std::string rebuild_request(const json& note) {
  std::string out;
  Writer w(out);
  const std::string& method = note[2].get_ref<const std::string&>();
  const json& param = note[3][0];
  write_request_head(w, note[1].get<uint32_t>(), method);
  if (method == "plugin.StartInstance")
    write_start_instance_param(w, param["Name"].get<std::string>(), param["Config"].get<std::string>());
  else if (method == "plugin.HandleEvent")
    write_handle_event_param(w, param["InstanceId"].get<int64_t>(), param["EventName"].get<std::string>());
  else if (method == "plugin.CloseInstance")
    w.integer(param.get<int64_t>());
  else
    write_step_param(w, param["EventId"].get<int64_t>(), recorded_result(note[2], param), method);
  return out;
}

bool has_multi_key_map(const json& v) {
  if (v.is_object() && v.size() > 1) return true;
  if (v.is_structured())
    for (const auto& e : v)
      if (has_multi_key_map(e)) return true;
  return false;
}

TEST_P(Transcripts, GatewayMessagesHaveKongsBytes) {
  int total = 0;
  for (const Line& line : test::load_transcript(GetParam())) {
    if (line.close || !line.gateway()) continue;
    std::string ours = rebuild_request(line.note);
    ++total;
    EXPECT_TRUE(test::same_modulo_map_order(bytes_of(ours), bytes_of(line.bytes)))
        << "expected " << line.note.dump() << "\n kong: " << test::hex(line.bytes)
        << "\n ours: " << test::hex(ours);
    // Bytes may differ only by the order of a multi-key map inside a PDK result (headers, entities).
    if (ours != line.bytes) {
      EXPECT_TRUE(has_multi_key_map(line.note[3][0].value("Data", json()))) << line.note.dump();
    }
  }
  EXPECT_GT(total, 0);
}

// ---------------------------------------------------------------- replay over a real socket

struct Replay {
  std::vector<Line> lines;
  size_t cursor = 0;  // next line the server plays
  std::vector<std::string> failures;
  unsigned pdk_calls = 0;
};

// Answers each PDK call with what the recording's next gateway line carries, after checking the
// call is the one the recording's server asked for.
class RecordedPdk : public PdkHandler {
 public:
  explicit RecordedPdk(Replay& rp) : rp_(rp) {}
  asio::awaitable<PdkResult> run(const gh::pdk::PdkFunction*, std::string_view method, json args) override {
    ++rp_.pdk_calls;
    const Line& asked = rp_.lines.at(rp_.cursor - 1);
    const json& data = asked.note[3]["Data"];
    std::string why;
    if (data["Method"] != method)
      rp_.failures.push_back("PDK method " + std::string(method) + " != " + data.dump());
    if (!test::strict_equal(args, data["Args"], &why)) rp_.failures.push_back("PDK args: " + why);
    if (rp_.cursor >= rp_.lines.size() || !rp_.lines[rp_.cursor].gateway()) {
      PdkResult r;
      r.status = PdkResult::Status::terminal;  // the recording gateway sent nothing: kong.response.exit
      co_return r;
    }
    const json& next = rp_.lines[rp_.cursor].note;
    co_return recorded_result(next[2], next[3][0]);
  }

 private:
  Replay& rp_;
};

// Reads one complete object; nullopt on EOF or when `timeout` passes first.
asio::awaitable<std::optional<std::string>> read_object(stream_protocol::socket& sock, StreamDecoder& dec,
                                                        std::chrono::milliseconds timeout) {
  asio::steady_timer timer(sock.get_executor());
  timer.expires_after(timeout);
  while (true) {
    if (auto obj = dec.next()) co_return std::string(reinterpret_cast<const char*>(obj->data()), obj->size());
    auto space = dec.prepare();
    auto r = co_await (
        sock.async_read_some(asio::buffer(space.data(), space.size()), asio::as_tuple(asio::use_awaitable)) ||
        timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) co_return std::nullopt;
    auto [ec, n] = std::get<0>(r);
    if (ec) co_return std::nullopt;
    dec.commit(n);
  }
}

// [1, msgid, error, result] with the msgid replaced (README §5), the rest kept byte for byte.
std::string with_msgid(const std::string& response, uint32_t msgid) {
  Reader r(bytes_of(response));
  r.read_array();
  r.skip();
  r.skip();
  std::string out;
  Writer w(out);
  w.array_header(4);
  w.unsigned_integer(1);
  w.unsigned_integer(msgid);
  out.append(response, r.position());
  return out;
}

// Checks our request against the recorded one (msgid aside) and returns our msgid.
uint32_t check_request(const std::string& ours, const Line& line, Replay& rp) {
  Reader a(bytes_of(ours)), b(bytes_of(line.bytes));
  bool same = a.read_array() == 4 && b.read_array() == 4;
  same = same && a.read_int() == 0 && b.read_int() == 0;
  const auto msgid = static_cast<uint32_t>(a.read_int());
  b.skip();
  same = same && a.read_str() == b.read_str();
  auto pa = a.read_raw(), pb = b.read_raw();
  same = same && test::same_modulo_map_order(pa, pb) && a.at_end();
  if (!same) rp.failures.push_back("expected " + line.note.dump() + "\n got " + decode(ours).dump());
  return msgid;
}

asio::awaitable<void> play_server(stream_protocol::acceptor& acceptor, Replay& rp) {
  auto sock = co_await acceptor.async_accept(asio::use_awaitable);
  StreamDecoder dec;
  uint32_t msgid = 0;
  while (rp.cursor < rp.lines.size()) {
    const Line& line = rp.lines[rp.cursor];
    if (line.close) {
      ++rp.cursor;
      if (!line.gateway()) {  // the server closes: the gateway must come back on a new connection
        sock.close();
        sock = co_await acceptor.async_accept(asio::use_awaitable);
        dec.clear();
      }
      continue;
    }
    if (line.gateway()) {
      auto ours = co_await read_object(sock, dec, 5s);
      if (!ours) {
        rp.failures.push_back("no request where the recording has " + line.note.dump());
        co_return;
      }
      if (dec.buffered() != 0) rp.failures.push_back("bytes after a request (pipelining)");
      msgid = check_request(*ours, line, rp);
      ++rp.cursor;
    } else {
      ++rp.cursor;  // before writing: the PdkHandler looks at the line after this one
      co_await asio::async_write(sock, asio::buffer(with_msgid(line.bytes, msgid)), asio::use_awaitable);
    }
  }
  // After the last recorded line the gateway must send nothing (e.g. no Step after exit).
  if (auto extra = co_await read_object(sock, dec, 300ms))
    rp.failures.push_back("unexpected message after the recording: " + decode(*extra).dump());
}

struct DriveResult {
  unsigned events = 0, terminated = 0, instance_gone = 0;
};

// Plays the gateway's top-level calls in the recording's order through the Client.
asio::awaitable<void> drive(Client& client, Replay& rp, DriveResult& out) {
  RecordedPdk pdk(rp);
  for (size_t i = 0; i < rp.lines.size(); ++i) {
    const Line& line = rp.lines[i];
    if (line.close || !line.gateway()) continue;
    const std::string& method = line.note[2].get_ref<const std::string&>();
    const json& param = line.note[3][0];
    if (method.starts_with("plugin.Step")) continue;  // played inside handle_event
    const json& response = rp.lines.at(i + 1).note;
    try {
      if (method == "plugin.StartInstance") {
        InstanceStatus st = co_await client.start_instance(param["Name"].get<std::string>(),
                                                           param["Config"].get<std::string>());
        if (st.id != response[3]["Id"].get<int64_t>()) rp.failures.push_back("StartInstance id");
        if (st.name != response[3]["Name"]) rp.failures.push_back("StartInstance name");
      } else if (method == "plugin.CloseInstance") {
        co_await client.close_instance(param.get<int64_t>());
      } else if (method == "plugin.HandleEvent") {
        EventOutcome o = co_await client.handle_event(param["InstanceId"].get<int64_t>(),
                                                      param["EventName"].get<std::string>(), pdk);
        ++out.events;
        out.terminated += o.terminated;
      }
      if (!response[2].is_null()) rp.failures.push_back("no error raised for " + response.dump());
    } catch (const RpcError& e) {
      if (response[2].is_null()) rp.failures.push_back(std::string("unexpected error: ") + e.what());
      if (e.kind() == ErrorKind::instance_gone && e.instance_lost()) ++out.instance_gone;
    }
  }
}

TEST_P(Transcripts, ReplayAgainstOurClient) {
  test::TempDir dir;
  Replay rp;
  rp.lines = test::load_transcript(GetParam());
  asio::io_context io;
  const std::string path = (dir.path / "mp.sock").string();
  stream_protocol::acceptor acceptor(io, stream_protocol::endpoint(path));
  ClientOptions options;
  options.call_timeout = 5s;
  Client client(std::make_shared<ConnectionPool>(io.get_executor()), path, options);
  DriveResult result;
  std::vector<std::string> crashes;
  int running = 2;
  auto record = [&](std::exception_ptr e) {
    if (--running == 0) io.stop();  // idle pooled connections keep deadline timers pending
    try {
      if (e) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      crashes.push_back(ex.what());
    }
  };
  asio::co_spawn(io, play_server(acceptor, rp), record);
  asio::co_spawn(io, drive(client, rp, result), record);
  io.run_for(30s);

  EXPECT_TRUE(crashes.empty()) << crashes.front();
  for (const auto& f : rp.failures) ADD_FAILURE() << f;
  EXPECT_EQ(rp.cursor, rp.lines.size()) << "the recording was not played to its end";

  unsigned expected_calls = 0, expected_exits = 0, expected_gone = 0;
  for (const Line& l : rp.lines) {
    if (l.close || l.gateway() || !l.note[3].is_object()) {
      if (!l.close && !l.gateway() && l.note[2].is_string()) ++expected_gone;
      continue;
    }
    const json& data = l.note[3].value("Data", json());
    if (data.is_object() && data.contains("Method")) {
      ++expected_calls;
      expected_exits += data["Method"] == "kong.response.exit";
    }
  }
  EXPECT_EQ(rp.pdk_calls, expected_calls);
  EXPECT_EQ(result.terminated, expected_exits);
  EXPECT_EQ(result.instance_gone, expected_gone);
  EXPECT_GT(result.events, 0u);
  if (GetParam().find("close-restart") != std::string::npos) {
    EXPECT_EQ(result.instance_gone, 1u);
  }
  if (GetParam().find("exit") != std::string::npos) {
    EXPECT_EQ(result.terminated, 1u);
  }
  // Sequential calls reuse one pooled connection (the recording server accepts only once).
  EXPECT_EQ(client.pool().idle_count(path), 1u);
}

INSTANTIATE_TEST_SUITE_P(Conformance, Transcripts, ::testing::ValuesIn(test::mp_transcripts()),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.size() - 6);
                           for (auto& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace gh::pluginserver::msgpack
