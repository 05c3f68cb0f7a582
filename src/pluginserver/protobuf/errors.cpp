#include "pluginserver/protobuf/errors.h"

#include <fmt/format.h>

namespace gh::pluginserver::protobuf {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::transport:
      return "transport";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::instance_gone:
      return "instance gone";
    case ErrorKind::rejected:
      return "rejected";
    case ErrorKind::protocol:
      return "protocol";
    case ErrorKind::closed:
    case ErrorKind::bad_reply:
    case ErrorKind::server_error:
      break;  // MsgPack:1's
  }
  return "unknown";
}

RpcError::RpcError(ErrorKind kind, const std::string& message)
    : wire::RpcError(kind, fmt::format("ProtoBuf:1 {}: {}", to_string(kind), message)) {}

}  // namespace gh::pluginserver::protobuf
