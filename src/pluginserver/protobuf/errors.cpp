#include "pluginserver/protobuf/errors.h"

#include <fmt/format.h>

namespace gh::pluginserver::protobuf {

RpcError::RpcError(ErrorKind kind, const std::string& message)
    : wire::RpcError(kind, fmt::format("ProtoBuf:1 {}: {}", wire::to_string(kind), message)) {}

}  // namespace gh::pluginserver::protobuf
