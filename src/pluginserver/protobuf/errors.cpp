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
  }
  return "unknown";
}

RpcError::RpcError(ErrorKind kind, const std::string& message)
    : std::runtime_error(fmt::format("ProtoBuf:1 {}: {}", to_string(kind), message)), kind_(kind) {}

}  // namespace gh::pluginserver::protobuf
