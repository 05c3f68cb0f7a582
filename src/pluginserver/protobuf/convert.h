// Conversions between protobuf messages and the JSON values the PDK table speaks
// (kong-gateway-side.md §6.6 arguments, §6.7 results). Lua-level semantics: a number that is
// integral becomes a JSON integer (Lua has one number type; Kong's MessagePack encoder sends
// such numbers as integers too), a null becomes JSON null.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>

#include <nlohmann/json.hpp>

namespace gh::pluginserver::protobuf {

// A protobuf double as the PDK table sees a Lua number: integral values become JSON integers.
nlohmann::json lua_number(double d);

// google.protobuf.Value → JSON: struct → object, list → array, scalars as themselves,
// null_value (or no kind) → null. Note: Kong passes a `false` bool_value as nil and a null as the
// string "NULL_VALUE" (a Lua `or` chain); we pass false and null (documented deviation).
nlohmann::json to_json(const google::protobuf::Value& value);
nlohmann::json to_json(const google::protobuf::Struct& value);
nlohmann::json to_json(const google::protobuf::ListValue& value);

// JSON → google.protobuf.Value: object → struct_value, array → list_value, string and binary →
// string_value, number → number_value, bool → bool_value, null → null_value.
void to_value(const nlohmann::json& json, google::protobuf::Value& out);
// JSON object → Struct (header/query maps: a single value is a string_value, repeated values a
// list_value of strings). Returns false (leaving `out` empty) if `json` is not an object.
bool to_struct(const nlohmann::json& json, google::protobuf::Struct& out);

// Any message → JSON object by field name (Kong decodes input messages to tables the same way):
// only fields that are present; repeated → array; map → object; bytes → binary; int64 → integer.
nlohmann::json message_to_json(const google::protobuf::Message& message);
// JSON object → message by field name, as Kong's lua-protobuf encodes a PDK table into an output
// message (Route, Service, Consumer, ...): unknown keys and values of the wrong type are dropped.
// Returns false if `json` is not an object.
bool json_to_message(const nlohmann::json& json, google::protobuf::Message& out);

}  // namespace gh::pluginserver::protobuf
