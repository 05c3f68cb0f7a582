// libFuzzer target for the MsgPack:1 bridge answering a plugin server (src/pluginserver/msgpack/
// client.*, connection.*) and the PDK dispatch behind it (src/pdk/): a hostile server on a real
// Unix socket answers the gateway's plugin.StartInstance, plugin.HandleEvent and every Step with the
// input's MessagePack objects, so the fuzzer chooses the PDK calls ({EventId, Data: {Method, Args}})
// with any method name and any arguments, errors, notifications and junk. The gateway side is the
// real msgpack::Client with the real PDK table bound to a real request context (the conformance
// request of tests/unit/pdk/pdk_fixture.h), in the phase the first byte chooses.
//
// The server answers each request with the input's next objects up to one that is not a
// notification; a response ([1, msgid, error, result]) gets the request's msgid unless the first
// byte asks for the raw bytes (mismatched ids); notifications ([2, ...]) and anything else go as
// they are; when the input runs out it sends the bytes after the last complete object and closes.
// The client must finish with an outcome or an RpcError, never another exception (PdkHandler::call
// never throws), a crash, a leak or a wait; every message it sends must be MessagePack.
//
// Built by scripts/build fuzz (CMakeLists.txt here), run by scripts/fuzz; seeds: the plugin
// server's side of every MsgPack:1 conformance transcript (make_corpus.py); dictionary:
// msgpack_bridge_fuzz.dict (the protocol's keys and the PDK's method names, MessagePack-encoded).
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_support.h"
#include "pdk/pdk_fixture.h"
#include "pluginserver/msgpack/client.h"

namespace asio = boost::asio;
namespace mp = gh::pluginserver::msgpack;
using asio::local::stream_protocol;
using namespace std::chrono_literals;

namespace {

const char* const kPhases[] = {"access", "rewrite", "response", "log"};
constexpr uint8_t kStartInstance = 0x10;  // choice bits
constexpr uint8_t kCloseInstance = 0x20;
constexpr uint8_t kRawIds = 0x80;

// What the server says, in order: the input's complete objects, then whatever bytes follow them.
struct Script {
  std::vector<std::span<const uint8_t>> objects;
  std::string_view junk;
  size_t next = 0;
  bool raw_ids = false;
};

Script script_of(std::string_view input, mp::StreamDecoder& decoder, bool raw_ids) {
  Script script;
  script.raw_ids = raw_ids;
  decoder.feed({reinterpret_cast<const uint8_t*>(input.data()), input.size()});
  try {
    while (auto object = decoder.next()) script.objects.push_back(*object);
  } catch (const mp::DecodeError&) {
  }
  script.junk = input.substr(input.size() - decoder.buffered());
  return script;
}

void append(std::string& out, std::span<const uint8_t> bytes) {
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Appends `object` as the answer to request `msgid`: a response gets that msgid (unless the script
// keeps raw ids), anything else goes as it is. True when it ends the answer (not a notification).
bool append_answer(std::string& out, std::span<const uint8_t> object, int64_t msgid, bool raw_ids) {
  try {
    mp::Reader r(object, 32);
    const uint32_t n = r.peek() == mp::Type::array ? r.read_array() : 0;
    const int64_t type = n > 0 && r.peek() == mp::Type::integer ? r.read_int() : -1;
    if (n == 3 && type == 2) return append(out, object), false;  // a notification
    if (n != 4 || type != 1 || raw_ids) return append(out, object), true;
    r.skip();  // the msgid it had
    auto error = r.read_raw();
    auto result = r.read_raw();
    mp::Writer w(out);
    w.array_header(4);
    w.integer(1);
    w.integer(msgid);
    append(out, error);
    append(out, result);
  } catch (const mp::DecodeError&) {
    append(out, object);
  }
  return true;
}

// The gateway's request [0, msgid, method, [param]]: it must always decode.
int64_t msgid_of(std::span<const uint8_t> request) {
  try {
    mp::Reader r(request);
    gh::fuzz::require(r.read_array() == 4 && r.read_int() == 0);
    return r.read_int();
  } catch (const mp::DecodeError&) {
    std::abort();
  }
}

// Answers each request with the script's next objects up to the first that is not a notification;
// when the script runs out, sends the junk and closes (the gateway must not wait any longer).
asio::awaitable<void> serve(stream_protocol::socket conn, Script& script) {
  mp::StreamDecoder requests;
  while (true) {
    std::optional<std::span<const uint8_t>> request;
    try {
      while (!(request = requests.next())) {
        auto room = requests.prepare();
        auto [ec, n] = co_await conn.async_read_some(asio::buffer(room.data(), room.size()),
                                                     asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;  // the gateway closed this connection
        requests.commit(n);
      }
    } catch (const mp::DecodeError&) {
      std::abort();  // the gateway sent bytes that are not MessagePack
    }
    const int64_t msgid = msgid_of(*request);
    std::string out;
    bool answered = false;
    while (!answered && script.next < script.objects.size())
      answered = append_answer(out, script.objects[script.next++], msgid, script.raw_ids);
    if (!answered) out.append(std::exchange(script.junk, {}));
    auto [ec, n] = co_await asio::async_write(conn, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
    if (ec || !answered) co_return;
  }
}

asio::awaitable<void> hostile_server(stream_protocol::acceptor& acceptor, Script& script) {
  while (true) {  // a connection the gateway dropped is followed by a new one
    auto conn = co_await acceptor.async_accept(asio::use_awaitable);
    co_await serve(std::move(conn), script);
  }
}

asio::awaitable<void> gateway(mp::Client& client, gh::pdk::testing::Fixture& fixture, uint8_t choice) {
  gh::pdk::RequestPdk pdk(fixture.ctx, fixture.plugin);
  try {
    int64_t instance = 1;
    if (choice & kStartInstance) instance = (co_await client.start_instance("fuzzed", "{}")).id;
    auto outcome = co_await client.handle_event(instance, kPhases[choice % 4], pdk);
    gh::fuzz::require(outcome.pdk_calls < (1u << 20));
    if (choice & kCloseInstance) co_await client.close_instance(instance);
  } catch (const mp::RpcError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [choice, input] = gh::fuzz::split_choice(data, size);
  static const std::string path = gh::fuzz::temporary_directory("msgpack-bridge") + "/s.sock";
  asio::io_context io;
  ::unlink(path.c_str());
  stream_protocol::acceptor acceptor(io, stream_protocol::endpoint(path));
  gh::pdk::testing::Fixture fixture(kPhases[choice % 4]);
  if (choice % 4 >= 2) fixture.with_service_response();  // response, log: the upstream has answered
  mp::ClientOptions options;
  options.call_timeout = 10s;  // never reached: the server answers every request or closes
  options.limits = mp::DecodeLimits{1 << 20, 32};
  mp::Client client(std::make_shared<mp::ConnectionPool>(io.get_executor(), nullptr, 1, options.limits), path,
                    options);
  std::optional<std::exception_ptr> gateway_end;
  mp::StreamDecoder input_objects(mp::DecodeLimits{1 << 20, 32});
  Script script = script_of(input, input_objects, choice & kRawIds);
  asio::co_spawn(io, hostile_server(acceptor, script), asio::detached);
  asio::co_spawn(io, gateway(client, fixture, choice), [&](std::exception_ptr e) {
    gateway_end = e;
    io.stop();  // the server may still wait for a pooled connection to close
  });
  io.run_for(20s);
  gh::fuzz::require(gateway_end.has_value());           // it ended (not left waiting)
  if (*gateway_end) gh::fuzz::fail_with(*gateway_end);  // and without an unexpected exception
  return 0;
}
