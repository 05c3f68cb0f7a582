#include "convert.h"

namespace gatehouse::pdk::convert {

namespace {
template <class Repeated>
std::vector<std::string> to_vector(const Repeated& r) {
  return {r.begin(), r.end()};
}
template <class Repeated>
void assign(const std::vector<std::string>& v, Repeated* r) {
  r->Assign(v.begin(), v.end());
}
}  // namespace

void to_proto(const Value& in, gpb::Value* out) {
  switch (in.type()) {
    case Value::value_t::null:
    case Value::value_t::discarded:
      out->set_null_value(gpb::NULL_VALUE);
      break;
    case Value::value_t::boolean:
      out->set_bool_value(in.get<bool>());
      break;
    case Value::value_t::number_integer:
    case Value::value_t::number_unsigned:
    case Value::value_t::number_float:
      out->set_number_value(in.get<double>());
      break;
    case Value::value_t::string:
      out->set_string_value(in.get_ref<const std::string&>());
      break;
    case Value::value_t::object: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      for (const auto& [k, v] : in.items()) to_proto(v, &(*fields)[k]);
      break;
    }
    case Value::value_t::array:
    case Value::value_t::binary: {
      auto* list = out->mutable_list_value();
      for (const auto& v : in) to_proto(v, list->add_values());
      break;
    }
  }
}

Value from_proto(const gpb::Value& in) {
  switch (in.kind_case()) {
    case gpb::Value::kNumberValue:
      return in.number_value();
    case gpb::Value::kStringValue:
      return in.string_value();
    case gpb::Value::kBoolValue:
      return in.bool_value();
    case gpb::Value::kStructValue: {
      Value object = Value::object();
      for (const auto& [k, v] : in.struct_value().fields()) object[k] = from_proto(v);
      return object;
    }
    case gpb::Value::kListValue: {
      Value array = Value::array();
      for (const auto& v : in.list_value().values()) array.push_back(from_proto(v));
      return array;
    }
    case gpb::Value::kNullValue:
    case gpb::Value::KIND_NOT_SET:
      break;
  }
  return nullptr;
}

void to_proto(const Headers& in, gpb::Struct* out) {
  auto* fields = out->mutable_fields();
  for (const auto& [name, values] : in) {
    auto* list = (*fields)[name].mutable_list_value();
    for (const auto& v : values) list->add_values()->set_string_value(v);
  }
}

Headers headers_from_proto(const gpb::Struct& in) {
  Headers out;
  for (const auto& [name, value] : in.fields()) {
    if (value.has_string_value()) {
      out[name].push_back(value.string_value());
    } else if (value.has_list_value()) {
      auto& values = out[name];
      for (const auto& v : value.list_value().values())
        if (v.has_string_value()) values.push_back(v.string_value());
    }
    // bool_value (a valueless query flag such as "?debug") and others: dropped, like go-pdk.
  }
  return out;
}

void to_proto(const Consumer& in, pb::Consumer* out) {
  out->set_id(in.id);
  out->set_created_at(in.created_at);
  out->set_username(in.username);
  out->set_custom_id(in.custom_id);
  assign(in.tags, out->mutable_tags());
}

Consumer from_proto(const pb::Consumer& in) {
  return {in.id(), in.created_at(), in.username(), in.custom_id(), to_vector(in.tags())};
}

void to_proto(const Credential& in, pb::AuthenticatedCredential* out) {
  out->set_id(in.id);
  out->set_consumer_id(in.consumer_id);
}

Credential from_proto(const pb::AuthenticatedCredential& in) {
  return {in.id(), in.consumer_id()};
}

void to_proto(const Route& in, pb::Route* out) {
  out->set_id(in.id);
  out->set_created_at(in.created_at);
  out->set_updated_at(in.updated_at);
  out->set_name(in.name);
  assign(in.protocols, out->mutable_protocols());
  assign(in.methods, out->mutable_methods());
  assign(in.hosts, out->mutable_hosts());
  assign(in.paths, out->mutable_paths());
  assign(in.headers, out->mutable_headers());
  out->set_https_redirect_status_code(in.https_redirect_status_code);
  out->set_regex_priority(in.regex_priority);
  out->set_strip_path(in.strip_path);
  out->set_preserve_host(in.preserve_host);
  assign(in.snis, out->mutable_snis());
  assign(in.sources, out->mutable_sources());
  assign(in.destinations, out->mutable_destinations());
  assign(in.tags, out->mutable_tags());
  if (!in.service_id.empty()) out->mutable_service()->set_id(in.service_id);
}

Route from_proto(const pb::Route& in) {
  Route r;
  r.id = in.id();
  r.created_at = in.created_at();
  r.updated_at = in.updated_at();
  r.name = in.name();
  r.protocols = to_vector(in.protocols());
  r.methods = to_vector(in.methods());
  r.hosts = to_vector(in.hosts());
  r.paths = to_vector(in.paths());
  r.headers = to_vector(in.headers());
  r.https_redirect_status_code = in.https_redirect_status_code();
  r.regex_priority = in.regex_priority();
  r.strip_path = in.strip_path();
  r.preserve_host = in.preserve_host();
  r.snis = to_vector(in.snis());
  r.sources = to_vector(in.sources());
  r.destinations = to_vector(in.destinations());
  r.tags = to_vector(in.tags());
  r.service_id = in.service().id();
  return r;
}

void to_proto(const Service& in, pb::Service* out) {
  out->set_id(in.id);
  out->set_created_at(in.created_at);
  out->set_updated_at(in.updated_at);
  out->set_name(in.name);
  out->set_retries(in.retries);
  out->set_protocol(in.protocol);
  out->set_host(in.host);
  out->set_port(in.port);
  out->set_path(in.path);
  out->set_connect_timeout(in.connect_timeout);
  out->set_write_timeout(in.write_timeout);
  out->set_read_timeout(in.read_timeout);
  assign(in.tags, out->mutable_tags());
  if (!in.client_certificate_id.empty()) out->mutable_client_certificate()->set_id(in.client_certificate_id);
}

Service from_proto(const pb::Service& in) {
  Service s;
  s.id = in.id();
  s.created_at = in.created_at();
  s.updated_at = in.updated_at();
  s.name = in.name();
  s.retries = in.retries();
  s.protocol = in.protocol();
  s.host = in.host();
  s.port = in.port();
  s.path = in.path();
  s.connect_timeout = in.connect_timeout();
  s.write_timeout = in.write_timeout();
  s.read_timeout = in.read_timeout();
  s.tags = to_vector(in.tags());
  s.client_certificate_id = in.client_certificate().id();
  return s;
}

void to_proto(const MemoryStats& in, pb::MemoryStats* out) {
  auto dict = [](const MemoryStats::DictStats& d, pb::MemoryStats::LuaSharedDicts::DictStats* o) {
    o->set_allocated_slabs(d.allocated_slabs);
    o->set_capacity(d.capacity);
  };
  dict(in.kong, out->mutable_lua_shared_dicts()->mutable_kong());
  dict(in.kong_db_cache, out->mutable_lua_shared_dicts()->mutable_kong_db_cache());
  for (const auto& vm : in.workers_lua_vms) {
    auto* o = out->add_workers_lua_vms();
    o->set_http_allocated_gc(vm.http_allocated_gc);
    o->set_pid(vm.pid);
  }
}

MemoryStats from_proto(const pb::MemoryStats& in) {
  auto dict = [](const pb::MemoryStats::LuaSharedDicts::DictStats& d) {
    return MemoryStats::DictStats{d.allocated_slabs(), d.capacity()};
  };
  MemoryStats m;
  m.kong = dict(in.lua_shared_dicts().kong());
  m.kong_db_cache = dict(in.lua_shared_dicts().kong_db_cache());
  for (const auto& vm : in.workers_lua_vms()) m.workers_lua_vms.push_back({vm.http_allocated_gc(), vm.pid()});
  return m;
}

}  // namespace gatehouse::pdk::convert
