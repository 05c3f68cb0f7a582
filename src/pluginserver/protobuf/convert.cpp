#include "pluginserver/protobuf/convert.h"

#include <google/protobuf/descriptor.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace gh::pluginserver::protobuf {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using nlohmann::json;

std::optional<std::int64_t> json_integer(const json& j) {
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number_float()) {
    const double d = j.get<double>();
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

template <typename T>
std::optional<T> json_integer_as(const json& j) {
  const auto v = json_integer(j);
  if (!v || *v < std::numeric_limits<T>::min() || *v > std::numeric_limits<T>::max()) return std::nullopt;
  return static_cast<T>(*v);
}

std::string bytes_of(const json& j) {
  if (j.is_binary()) return {j.get_binary().begin(), j.get_binary().end()};
  return j.get<std::string>();
}

bool is_well_known(const google::protobuf::Descriptor* d) {
  return d == google::protobuf::Value::descriptor() || d == google::protobuf::Struct::descriptor() ||
         d == google::protobuf::ListValue::descriptor();
}

json well_known_to_json(const Message& m) {
  const auto* d = m.GetDescriptor();
  // Generated messages: the downcasts are safe because the descriptor identifies the class.
  if (d == google::protobuf::Value::descriptor())
    return to_json(static_cast<const google::protobuf::Value&>(m));
  if (d == google::protobuf::Struct::descriptor())
    return to_json(static_cast<const google::protobuf::Struct&>(m));
  return to_json(static_cast<const google::protobuf::ListValue&>(m));
}

bool well_known_from_json(const json& j, Message& m) {
  const auto* d = m.GetDescriptor();
  if (d == google::protobuf::Value::descriptor()) {
    to_value(j, static_cast<google::protobuf::Value&>(m));
    return true;
  }
  if (d == google::protobuf::Struct::descriptor())
    return to_struct(j, static_cast<google::protobuf::Struct&>(m));
  if (!j.is_array()) return false;
  auto& list = static_cast<google::protobuf::ListValue&>(m);
  for (const auto& item : j) to_value(item, *list.add_values());
  return true;
}

// One field value (element `index` of a repeated field, or the singular field when index < 0).
json field_to_json(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return lua_number(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return lua_number(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s =
          rep ? r->GetRepeatedStringReference(m, f, index, &scratch) : r->GetStringReference(m, f, &scratch);
      if (f->type() == FieldDescriptor::TYPE_BYTES)
        return json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
      return s;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      return is_well_known(sub.GetDescriptor()) ? well_known_to_json(sub) : message_to_json(sub);
    }
  }
  return nullptr;
}

// Sets (or, for a repeated field, appends) one value; false if `j` does not fit the field's type.
bool set_field(Message& m, const FieldDescriptor* f, const json& j) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      auto v = json_integer_as<std::int32_t>(j);
      if (!v) return false;
      rep ? r->AddInt32(&m, f, *v) : r->SetInt32(&m, f, *v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      auto v = json_integer(j);
      if (!v) return false;
      rep ? r->AddInt64(&m, f, *v) : r->SetInt64(&m, f, *v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      auto v = json_integer_as<std::uint32_t>(j);
      if (!v) return false;
      rep ? r->AddUInt32(&m, f, *v) : r->SetUInt32(&m, f, *v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      auto v = json_integer(j);
      if (!v || *v < 0) return false;
      rep ? r->AddUInt64(&m, f, static_cast<std::uint64_t>(*v))
          : r->SetUInt64(&m, f, static_cast<std::uint64_t>(*v));
      return true;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: {
      if (!j.is_number()) return false;
      const double d = j.get<double>();
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT)
        rep ? r->AddFloat(&m, f, static_cast<float>(d)) : r->SetFloat(&m, f, static_cast<float>(d));
      else
        rep ? r->AddDouble(&m, f, d) : r->SetDouble(&m, f, d);
      return true;
    }
    case FieldDescriptor::CPPTYPE_BOOL:
      if (!j.is_boolean()) return false;
      rep ? r->AddBool(&m, f, j.get<bool>()) : r->SetBool(&m, f, j.get<bool>());
      return true;
    case FieldDescriptor::CPPTYPE_ENUM: {
      auto v = json_integer_as<int>(j);
      if (!v) return false;
      rep ? r->AddEnumValue(&m, f, *v) : r->SetEnumValue(&m, f, *v);
      return true;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      if (!j.is_string() && !j.is_binary()) return false;
      rep ? r->AddString(&m, f, bytes_of(j)) : r->SetString(&m, f, bytes_of(j));
      return true;
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub = rep ? r->AddMessage(&m, f) : r->MutableMessage(&m, f);
      const bool ok =
          is_well_known(sub->GetDescriptor()) ? well_known_from_json(j, *sub) : json_to_message(j, *sub);
      if (!ok) rep ? r->RemoveLast(&m, f) : r->ClearField(&m, f);
      return ok;
    }
  }
  return false;
}

// map<K, V> fields are repeated entry messages {1: key, 2: value}; JSON gives them as an object.
void set_map_field(Message& m, const FieldDescriptor* f, const json& object) {
  const Reflection* r = m.GetReflection();
  const auto* key_field = f->message_type()->map_key();
  const auto* value_field = f->message_type()->map_value();
  for (const auto& [key, value] : object.items()) {
    Message* entry = r->AddMessage(&m, f);
    if (!set_field(*entry, key_field, key) || !set_field(*entry, value_field, value)) r->RemoveLast(&m, f);
  }
}

}  // namespace

// Lua has a single number type: 201.0 and 201 are the same value, and Kong's MessagePack encoder
// sends integral numbers as integers. Doing the same keeps both bridges handing the PDK table
// identical arguments.
json lua_number(double d) {
  constexpr double kInt64Limit = 9223372036854775808.0;  // 2^63
  if (std::isfinite(d) && std::trunc(d) == d && d >= -kInt64Limit && d < kInt64Limit)
    return static_cast<std::int64_t>(d);
  return d;
}

json to_json(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return lua_number(value.number_value());
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kBoolValue:
      return value.bool_value();
    case google::protobuf::Value::kStructValue:
      return to_json(value.struct_value());
    case google::protobuf::Value::kListValue:
      return to_json(value.list_value());
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      return nullptr;
  }
  return nullptr;
}

json to_json(const google::protobuf::Struct& value) {
  json out = json::object();
  for (const auto& [key, field] : value.fields()) out[key] = to_json(field);
  return out;
}

json to_json(const google::protobuf::ListValue& value) {
  json out = json::array();
  for (const auto& item : value.values()) out.push_back(to_json(item));
  return out;
}

void to_value(const json& j, google::protobuf::Value& out) {
  switch (j.type()) {
    case json::value_t::boolean:
      out.set_bool_value(j.get<bool>());
      return;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      out.set_number_value(j.get<double>());
      return;
    case json::value_t::string:
      out.set_string_value(j.get_ref<const std::string&>());
      return;
    case json::value_t::binary:
      out.set_string_value(bytes_of(j));
      return;
    case json::value_t::object:
      to_struct(j, *out.mutable_struct_value());
      return;
    case json::value_t::array: {
      auto* list = out.mutable_list_value();  // an empty array stays a list (Kong: an empty struct)
      for (const auto& item : j) to_value(item, *list->add_values());
      return;
    }
    case json::value_t::null:
    case json::value_t::discarded:
      out.set_null_value(google::protobuf::NULL_VALUE);
      return;
  }
}

bool to_struct(const json& j, google::protobuf::Struct& out) {
  if (!j.is_object()) return false;
  auto& fields = *out.mutable_fields();
  for (const auto& [key, value] : j.items()) to_value(value, fields[key]);
  return true;
}

json message_to_json(const Message& message) {
  json out = json::object();
  const Reflection* r = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(message, &fields);
  for (const auto* f : fields) {
    if (f->is_map()) {
      json map = json::object();
      for (int i = 0, n = r->FieldSize(message, f); i < n; ++i) {
        const Message& entry = r->GetRepeatedMessage(message, f, i);
        json key = field_to_json(entry, f->message_type()->map_key(), -1);
        map[key.is_string() ? key.get<std::string>() : key.dump()] =
            field_to_json(entry, f->message_type()->map_value(), -1);
      }
      out[f->name()] = std::move(map);
    } else if (f->is_repeated()) {
      json list = json::array();
      for (int i = 0, n = r->FieldSize(message, f); i < n; ++i) list.push_back(field_to_json(message, f, i));
      out[f->name()] = std::move(list);
    } else {
      out[f->name()] = field_to_json(message, f, -1);
    }
  }
  return out;
}

bool json_to_message(const json& j, Message& out) {
  if (!j.is_object()) return false;
  const auto* descriptor = out.GetDescriptor();
  for (const auto& [key, value] : j.items()) {
    const FieldDescriptor* f = descriptor->FindFieldByName(key);
    if (f == nullptr || value.is_null()) continue;  // unknown key, or Lua nil
    if (f->is_map()) {
      if (value.is_object()) set_map_field(out, f, value);
    } else if (f->is_repeated()) {
      if (!value.is_array()) continue;
      for (const auto& item : value) set_field(out, f, item);
    } else {
      set_field(out, f, value);
    }
  }
  return true;
}

}  // namespace gh::pluginserver::protobuf
