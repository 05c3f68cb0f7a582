// Conversions between the PDK's C++ types and Kong's protobuf messages. Internal to the library
// (shared by the wire implementation of Kong& and by the test kit's simulated gateway).
#pragma once

#include <gatehouse/pdk/types.h>
#include <google/protobuf/struct.pb.h>

#include "proto/pluginsocket.pb.h"

namespace gatehouse::pdk::convert {

namespace pb = kong_plugin_protocol;
namespace gpb = google::protobuf;

void to_proto(const Value& in, gpb::Value* out);
Value from_proto(const gpb::Value& in);

// Header/query maps: every value a ListValue of strings (go-pdk's shape). Reading accepts a
// string (one value) or a list of strings; anything else is dropped, as go-pdk does.
void to_proto(const Headers& in, gpb::Struct* out);
Headers headers_from_proto(const gpb::Struct& in);

void to_proto(const Consumer& in, pb::Consumer* out);
Consumer from_proto(const pb::Consumer& in);
void to_proto(const Credential& in, pb::AuthenticatedCredential* out);
Credential from_proto(const pb::AuthenticatedCredential& in);
void to_proto(const Route& in, pb::Route* out);
Route from_proto(const pb::Route& in);
void to_proto(const Service& in, pb::Service* out);
Service from_proto(const pb::Service& in);
void to_proto(const MemoryStats& in, pb::MemoryStats* out);
MemoryStats from_proto(const pb::MemoryStats& in);

}  // namespace gatehouse::pdk::convert
