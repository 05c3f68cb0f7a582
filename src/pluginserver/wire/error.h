// The one error type of the wire layer: every plugin-server protocol (MsgPack:1, ProtoBuf:1,
// Gatehouse:1) reports a failed exchange with the same kinds, so the layer above (plugins::Bridge)
// turns them into a failure policy input with one switch, whatever the protocol. Inside a client a
// failure is thrown (RpcError: it unwinds a read loop, and only when a server misbehaves); the
// bridge catches it at its edge and hands it up as a value (Error).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gh::pluginserver::wire {

enum class ErrorKind : uint8_t {
  instance_gone,  // the server lost the instance: MsgPack:1 said "no plugin instance"; ProtoBuf:1
                  // closed the connection during an event (go-pdk's answer to an unknown id).
                  // Start the instance again and retry the event (bounded).
  closed,         // MsgPack:1: the server closed or reset the connection before answering (a crash,
                  // a restart): the instance is lost too
  timeout,        // a deadline passed (connect, write, or waiting for the answer)
  transport,      // the socket could not be connected, or another socket error
  protocol,       // ProtoBuf:1/Gatehouse:1: the stream is out of step (oversized, truncated or
                  // undecodable frame, wrong sequence): the server is restarted
  bad_reply,      // MsgPack:1: not MessagePack-RPC as Kong speaks it (garbage, an over-limit object,
                  // wrong msgid, a malformed step): the connection is dropped, the server kept
  rejected,       // ProtoBuf:1: start/close_instance closed without a reply (bad config, unknown id)
  server_error,   // MsgPack:1: the server answered with another error string
};

// The kind's name in messages ("ProtoBuf:1 timeout: ...").
constexpr std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::instance_gone:
      return "instance gone";
    case ErrorKind::closed:
      return "connection closed";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::transport:
      return "transport";
    case ErrorKind::protocol:
      return "protocol";
    case ErrorKind::bad_reply:
      return "bad reply";
    case ErrorKind::rejected:
      return "rejected";
    case ErrorKind::server_error:
      return "server error";
  }
  return "unknown";
}

// The instance must be started again (and the event retried once).
constexpr bool instance_lost(ErrorKind kind) {
  return kind == ErrorKind::instance_gone || kind == ErrorKind::closed;
}

// A failed exchange as a value: what the bridges return on their hot path.
struct Error {
  ErrorKind kind;
  std::string message;
};

// A failed exchange inside a client (what() is the message for the log).
class RpcError : public std::runtime_error {
 public:
  RpcError(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }
  bool instance_lost() const noexcept { return wire::instance_lost(kind_); }
  Error error() const { return {kind_, what()}; }

 private:
  ErrorKind kind_;
};

}  // namespace gh::pluginserver::wire
