// The ProtoBuf:1 PDK method table (kong-gateway-side.md §6.5): wire name → input and output
// message, built once from `service Kong` of sdk/cpp/proto/pluginsocket.proto exactly as Kong
// builds its dispatch table (MethodName option, else the name derived from the rpc name). What
// to do with each message type (§6.6 argument unwrapping, §6.7 result wrapping) is keyed by the
// message type, so adding an rpc to the proto is all it takes to serve a new method. Each method
// is bound to its PDK table entry once (`function`): a call looks its name up once.
#pragma once

#include <google/protobuf/descriptor.h>

#include <span>
#include <string>
#include <string_view>

namespace gh::pdk {
struct PdkFunction;
}

namespace gh::pluginserver::protobuf {

// How an input message becomes the Lua-call arguments (§6.6).
enum class ArgShape {
  none,           // google.protobuf.Empty: f()
  scalar,         // String/Int/Number/Bool: f(v)
  bytes,          // ByteString: f(v) with v as JSON binary
  key_value,      // KV: f(k, value(v))
  list,           // google.protobuf.ListValue: f(v1, v2, ...)
  map,            // google.protobuf.Struct: f(table)
  target,         // Target: f(host, port)
  exit,           // ExitArgs: f(status, body, headers)
  consumer_spec,  // ConsumerSpec: f(id, by_username)
  authenticate,   // AuthenticateArgs: f(consumer, credential)
  table,          // any other message: f(decoded table)
};

// How the Lua result becomes the output message (§6.7).
enum class ResultShape {
  none,      // google.protobuf.Empty: always a zero-length frame
  string,    // String{v}
  integer,   // Int{v}
  number,    // Number{v}
  boolean,   // Bool{v}
  bytes,     // ByteString{v}
  value,     // google.protobuf.Value (nil → null_value = 1, bytes 08 01, like Kong)
  map,       // google.protobuf.Struct
  raw_body,  // RawBodyResult: content | body_filepath | error
  table,     // an entity message (Route, Service, Consumer, ...) encoded by field name
};

struct PdkMethod {
  std::string name;  // wire name, e.g. "kong.request.get_header"
  std::string rpc;   // rpc in service Kong, e.g. "Request_GetHeader"
  const google::protobuf::Descriptor* input;
  const google::protobuf::Descriptor* output;
  ArgShape args;
  ResultShape result;
  const pdk::PdkFunction* function;  // its PDK table entry (null: the gateway does not serve it)
};

// Every rpc of service Kong, sorted by wire name (74 with Kong's schema).
std::span<const PdkMethod> pdk_methods();
// nullptr for a name the schema does not define.
const PdkMethod* find_pdk_method(std::string_view wire_name);

// Kong's rule: ("Kong." .. rpc):gsub("_", "."):gsub("([a-z]%d*)([A-Z])", "%1_%2"):lower().
std::string derive_wire_name(std::string_view rpc);

}  // namespace gh::pluginserver::protobuf
