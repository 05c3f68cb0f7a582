#include "pluginserver/protobuf/pdk_codec.h"

#include <google/protobuf/empty.pb.h>

#include <cmath>
#include <limits>

#include "pluginserver/protobuf/convert.h"
#include "pluginserver/protobuf/errors.h"
#include "pluginserver/protobuf/framing.h"

namespace gh::pluginserver::protobuf {
namespace {

namespace kp = kong_plugin_protocol;
using nlohmann::json;

json binary(const std::string& bytes) {
  return json::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

std::string bytes_of(const json& j) {
  if (j.is_binary()) return {j.get_binary().begin(), j.get_binary().end()};
  return j.get<std::string>();
}

// The Lua value a call produced, or nullptr for nil (Kong keeps only the first return value, so
// a `nil, err` failure is nil too).
const json* result_value(const PdkResult& r) {
  if (r.status != PdkResult::Status::ok || r.value.is_null()) return nullptr;
  return &r.value;
}

std::optional<std::string> as_text(const json& j) {
  if (j.is_string() || j.is_binary()) return bytes_of(j);
  if (j.is_number() || j.is_boolean()) return j.dump();  // Lua's tostring for scalars
  return std::nullopt;
}

std::optional<std::int32_t> as_int32(const json& j) {
  if (!j.is_number()) return std::nullopt;
  const double d = std::trunc(j.get<double>());
  if (!(d >= std::numeric_limits<std::int32_t>::min() && d <= std::numeric_limits<std::int32_t>::max()))
    return std::nullopt;
  return static_cast<std::int32_t>(d);
}

}  // namespace

google::protobuf::Message& PdkCodec::scratch(const google::protobuf::Descriptor* type) {
  auto& slot = scratch_[type];
  if (!slot) slot.reset(google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  slot->Clear();
  return *slot;
}

void PdkCodec::parse(const PdkMethod& method, std::string_view payload, google::protobuf::Message& into) {
  if (!into.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    throw RpcError(ErrorKind::protocol, "arguments of " + method.name + " are not a valid " +
                                            std::string(method.input->full_name()));
}

json PdkCodec::decode_value(const google::protobuf::Message& message) const {
  // The scalar wrappers: value in field 1 `v` (proto3: absent = default). Typed access, no
  // reflection: this runs for most PDK calls.
  const auto* type = message.GetDescriptor();
  if (type == kp::String::descriptor()) return static_cast<const kp::String&>(message).v();
  if (type == kp::Int::descriptor()) return static_cast<const kp::Int&>(message).v();
  if (type == kp::Bool::descriptor()) return static_cast<const kp::Bool&>(message).v();
  return lua_number(static_cast<const kp::Number&>(message).v());
}

json PdkCodec::decode_args(const PdkMethod& method, std::string_view payload) {
  auto& message = scratch(method.input);
  parse(method, payload, message);
  switch (method.args) {
    case ArgShape::none:
      return json::array();
    case ArgShape::scalar:
      return json::array({decode_value(message)});
    case ArgShape::bytes:
      return json::array({binary(static_cast<const kp::ByteString&>(message).v())});
    case ArgShape::key_value: {
      const auto& kv = static_cast<const kp::KV&>(message);
      return json::array({kv.k(), kv.has_v() ? to_json(kv.v()) : json()});
    }
    case ArgShape::list:
      return to_json(static_cast<const google::protobuf::ListValue&>(message));
    case ArgShape::map:
      return json::array({to_json(static_cast<const google::protobuf::Struct&>(message))});
    case ArgShape::target: {
      const auto& t = static_cast<const kp::Target&>(message);
      return json::array({t.host(), t.port()});
    }
    case ArgShape::exit: {
      const auto& e = static_cast<const kp::ExitArgs&>(message);
      return json::array({e.status(), binary(e.body()), e.has_headers() ? to_json(e.headers()) : json()});
    }
    case ArgShape::consumer_spec: {
      const auto& s = static_cast<const kp::ConsumerSpec&>(message);
      return json::array({s.id(), s.by_username()});
    }
    case ArgShape::authenticate: {
      const auto& a = static_cast<const kp::AuthenticateArgs&>(message);
      return json::array({a.has_consumer() ? message_to_json(a.consumer()) : json(),
                          a.has_credential() ? message_to_json(a.credential()) : json()});
    }
    case ArgShape::table:
      return json::array({message_to_json(message)});
  }
  return json::array();
}

void PdkCodec::encode_result(const PdkMethod& method, const PdkResult& result, std::string& out) {
  const json* value = result_value(result);
  auto& message = scratch(method.output);
  bool filled = false;  // false → the zero-length frame (nil / default message)
  switch (method.result) {
    case ResultShape::none:
      break;
    case ResultShape::string:
      if (auto text = value ? as_text(*value) : std::nullopt) {
        static_cast<kp::String&>(message).set_v(std::move(*text));
        filled = true;
      }
      break;
    case ResultShape::integer:
      if (auto number = value ? as_int32(*value) : std::nullopt) {
        static_cast<kp::Int&>(message).set_v(*number);
        filled = true;
      }
      break;
    case ResultShape::number:
      if (value && value->is_number()) {
        static_cast<kp::Number&>(message).set_v(value->get<double>());
        filled = true;
      }
      break;
    case ResultShape::boolean:
      if (value && value->is_boolean()) {
        static_cast<kp::Bool&>(message).set_v(value->get<bool>());
        filled = true;
      }
      break;
    case ResultShape::bytes:
      if (value && (value->is_string() || value->is_binary())) {
        static_cast<kp::ByteString&>(message).set_v(bytes_of(*value));
        filled = true;
      }
      break;
    case ResultShape::value:
      if (!value) {
        // Kong encodes a nil Value as null_value = 1 (the enum value 1, not NULL_VALUE = 0).
        append_frame(out, std::string_view("\x08\x01", 2));
        return;
      }
      to_value(*value, static_cast<google::protobuf::Value&>(message));
      filled = true;
      break;
    case ResultShape::map:
      filled = value && to_struct(*value, static_cast<google::protobuf::Struct&>(message));
      break;
    case ResultShape::raw_body: {
      auto& raw = static_cast<kp::RawBodyResult&>(message);
      // A body in a file comes as an error (MsgPack's answer) that carries the file's path.
      const json& path =
          result.value.is_object() ? result.value.value("body_filepath", json()) : result.value;
      if (value && (value->is_string() || value->is_binary()))
        raw.set_content(bytes_of(*value));
      else if (result.value.is_object() && path.is_string())
        raw.set_body_filepath(path.get<std::string>());
      else
        raw.set_error(result.status == PdkResult::Status::error && !result.error.empty()
                          ? result.error
                          : "Can't read request body");
      filled = true;
      break;
    }
    case ResultShape::table:
      filled = value && json_to_message(*value, message);
      break;
  }
  if (filled)
    append_frame(out, message);
  else
    append_frame(out, std::string_view());
}

}  // namespace gh::pluginserver::protobuf
