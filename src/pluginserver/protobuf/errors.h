// Errors of the ProtoBuf:1 bridge (names aligned with msgpack::RpcError where they mean the same). Every
// failure of a Client operation is an `RpcError` whose `kind()` tells the instance layer what to do (see
// docs/protocol-protobuf.md, "Errors").
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace gh::pluginserver::protobuf {

enum class ErrorKind {
  transport,      // the socket could not be connected (server not running or not ready yet)
  timeout,        // the server did not answer (connect, write or next frame) within the deadline
  instance_gone,  // the server closed the connection during an event: Kong's "closed" → restart
                  // the instance and retry the event (bounded). go-pdk does this for an unknown
                  // (e.g. purged) instance id instead of replying with an error.
  rejected,       // the server closed the connection instead of answering StartInstance /
                  // CloseInstance (go-pdk: bad config JSON, unknown instance, ...)
  protocol,       // the server sent something that is not ProtoBuf:1: oversized or truncated
                  // frame, undecodable message, wrong sequence, missing return field
};

std::string_view to_string(ErrorKind kind);

class RpcError : public std::runtime_error {
 public:
  RpcError(ErrorKind kind, const std::string& message);
  ErrorKind kind() const noexcept { return kind_; }
  // The server lost the instance: start it again and retry the event (bounded). Same name as
  // msgpack::RpcError::instance_lost(), so the instance layer treats both bridges alike.
  bool instance_lost() const noexcept { return kind_ == ErrorKind::instance_gone; }

 private:
  ErrorKind kind_;
};

}  // namespace gh::pluginserver::protobuf
