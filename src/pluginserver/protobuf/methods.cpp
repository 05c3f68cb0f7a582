#include "pluginserver/protobuf/methods.h"

#include <google/protobuf/empty.pb.h>
#include <google/protobuf/struct.pb.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "pdk/handler.h"
#include "proto/pluginsocket.pb.h"

namespace gh::pluginserver::protobuf {
namespace {

namespace kp = kong_plugin_protocol;
using google::protobuf::Descriptor;

bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

ArgShape arg_shape(const Descriptor* d) {
  if (d == google::protobuf::Empty::descriptor()) return ArgShape::none;
  if (d == kp::String::descriptor() || d == kp::Int::descriptor() || d == kp::Number::descriptor() ||
      d == kp::Bool::descriptor())
    return ArgShape::scalar;
  if (d == kp::ByteString::descriptor()) return ArgShape::bytes;
  if (d == kp::KV::descriptor()) return ArgShape::key_value;
  if (d == google::protobuf::ListValue::descriptor()) return ArgShape::list;
  if (d == google::protobuf::Struct::descriptor()) return ArgShape::map;
  if (d == kp::Target::descriptor()) return ArgShape::target;
  if (d == kp::ExitArgs::descriptor()) return ArgShape::exit;
  if (d == kp::ConsumerSpec::descriptor()) return ArgShape::consumer_spec;
  if (d == kp::AuthenticateArgs::descriptor()) return ArgShape::authenticate;
  return ArgShape::table;
}

ResultShape result_shape(const Descriptor* d) {
  if (d == google::protobuf::Empty::descriptor()) return ResultShape::none;
  if (d == kp::String::descriptor()) return ResultShape::string;
  if (d == kp::Int::descriptor()) return ResultShape::integer;
  if (d == kp::Number::descriptor()) return ResultShape::number;
  if (d == kp::Bool::descriptor()) return ResultShape::boolean;
  if (d == kp::ByteString::descriptor()) return ResultShape::bytes;
  if (d == google::protobuf::Value::descriptor()) return ResultShape::value;
  if (d == google::protobuf::Struct::descriptor()) return ResultShape::map;
  if (d == kp::RawBodyResult::descriptor()) return ResultShape::raw_body;
  return ResultShape::table;
}

std::vector<PdkMethod> build_table() {
  const auto* service = kp::RpcCall::descriptor()->file()->FindServiceByName("Kong");
  if (service == nullptr) throw std::logic_error("pluginsocket.proto has no service Kong");
  std::vector<PdkMethod> table;
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    std::string name = m->options().GetExtension(kp::MethodName);
    if (name.empty()) name = derive_wire_name(m->name());
    const pdk::PdkFunction* function = pdk::find_pdk_function(name);
    table.push_back({std::move(name), m->name(), m->input_type(), m->output_type(),
                     arg_shape(m->input_type()), result_shape(m->output_type()), function});
  }
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return table;
}

const std::vector<PdkMethod>& table() {
  static const std::vector<PdkMethod> methods = build_table();
  return methods;
}

}  // namespace

std::span<const PdkMethod> pdk_methods() {
  return table();
}

const PdkMethod* find_pdk_method(std::string_view wire_name) {
  const auto& methods = table();
  auto it = std::lower_bound(methods.begin(), methods.end(), wire_name,
                             [](const PdkMethod& m, std::string_view name) { return m.name < name; });
  return it != methods.end() && it->name == wire_name ? &*it : nullptr;
}

std::string derive_wire_name(std::string_view rpc) {
  std::string dotted = "Kong.";
  dotted += rpc;
  std::replace(dotted.begin(), dotted.end(), '_', '.');
  std::string out;
  out.reserve(dotted.size() + 8);
  for (std::size_t i = 0; i < dotted.size();) {
    // Lua pattern ([a-z]%d*)([A-Z]): a lower-case letter, digits, then an upper-case letter.
    std::size_t j = i + 1;
    if (is_lower(dotted[i])) {
      while (j < dotted.size() && is_digit(dotted[j])) ++j;
      if (j < dotted.size() && is_upper(dotted[j])) {
        out.append(dotted, i, j - i);
        out += '_';
        out += dotted[j];
        i = j + 1;
        continue;
      }
    }
    out += dotted[i];
    ++i;
  }
  for (char& c : out)
    if (is_upper(c)) c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace gh::pluginserver::protobuf
