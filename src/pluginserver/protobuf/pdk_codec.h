// Turns a PDK call's argument frame into the JSON arguments the PDK table takes (§6.6) and a
// PdkResult into the reply frame (§6.7), following the shapes of the method table. One codec per
// connection: it keeps one instance of every message type and reuses it (Clear()), so that a
// call does not allocate messages.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pdk/handler.h"
#include "pluginserver/protobuf/methods.h"
#include "proto/pluginsocket.pb.h"

namespace gh::pluginserver::protobuf {

using pdk::PdkHandler;
using pdk::PdkResult;

class PdkCodec {
 public:
  // The positional Lua-call arguments as a JSON array. Bytes fields (ByteString, ExitArgs.body)
  // become JSON binary. Throws RpcError(protocol) if `payload` is not a valid `method.input`.
  nlohmann::json decode_args(const PdkMethod& method, std::string_view payload);

  // Appends the reply frame to `out`. Kong's rules: nil → zero-length frame (a Value: null_value
  // = 1); an error is lost (nil) except for RawBodyResult, which carries it in `error`. A value
  // of the wrong JSON type for the output message is also answered as nil.
  void encode_result(const PdkMethod& method, const PdkResult& result, std::string& out);

 private:
  // The reusable instance of an argument/result message type (cleared).
  google::protobuf::Message& scratch(const google::protobuf::Descriptor* type);
  void parse(const PdkMethod& method, std::string_view payload, google::protobuf::Message& into);
  nlohmann::json decode_value(const google::protobuf::Message& message) const;

  std::unordered_map<const google::protobuf::Descriptor*, std::unique_ptr<google::protobuf::Message>>
      scratch_;
};

}  // namespace gh::pluginserver::protobuf
