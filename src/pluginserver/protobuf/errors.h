// Errors of the ProtoBuf:1 bridge: every failure of a Client operation is an `RpcError` whose `kind()`
// tells the instance layer what to do (see docs/protocol-protobuf.md, "Errors").
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "pluginserver/wire/error.h"

namespace gh::pluginserver::protobuf {

// The wire layer's one type (pluginserver/wire/error.h); ProtoBuf:1 uses transport, timeout,
// instance_gone (the server closed the connection during an event: go-pdk's answer to an unknown
// or purged instance id), rejected and protocol.
using wire::ErrorKind;
using wire::to_string;

// wire::RpcError with the protocol and kind in front of the message ("ProtoBuf:1 timeout: ...").
class RpcError : public wire::RpcError {
 public:
  RpcError(ErrorKind kind, const std::string& message);
};

}  // namespace gh::pluginserver::protobuf
