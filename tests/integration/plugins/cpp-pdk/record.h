// What cpp-pdk-probe reports back to the test: every kong.* call it made, under its wire name
// (plus "#variant" when one method is called with different arguments), with its result or the
// error it threw. The test compares the results with what it sent, and the names with the rpcs of
// pluginsocket.proto.
#pragma once

#include <gatehouse/pdk/pdk.h>

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace gatehouse::pdk {

// JSON shapes of the PDK's plain structs (found by ADL: they live in the structs' namespace).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Consumer, id, created_at, username, custom_id, tags)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Credential, id, consumer_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Route, id, created_at, updated_at, name, protocols, methods, hosts, paths,
                                   headers, https_redirect_status_code, regex_priority, strip_path,
                                   preserve_host, snis, sources, destinations, tags, service_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Service, id, created_at, updated_at, name, retries, protocol, host, port,
                                   path, connect_timeout, write_timeout, read_timeout, tags,
                                   client_certificate_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemoryStats::DictStats, allocated_slabs, capacity)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemoryStats::WorkerVm, http_allocated_gc, pid)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemoryStats, kong, kong_db_cache, workers_lua_vms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(UriCaptures, unnamed, named)

}  // namespace gatehouse::pdk

namespace cpp_pdk_probe {

namespace pdk = gatehouse::pdk;

template <class T>
pdk::Value to_value(const std::optional<T>& value) {
  return value ? pdk::Value(*value) : pdk::Value(nullptr);
}
template <class T>
pdk::Value to_value(const T& value) {
  return pdk::Value(value);
}

class Record {
 public:
  // Runs one PDK call and keeps what it returned (null for a void call) or the error it threw.
  template <class Call>
  void operator()(const std::string& label, Call&& call) {
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<Call>>) {
        call();
        values_[label] = nullptr;
      } else {
        values_[label] = to_value(call());
      }
    } catch (const std::exception& e) {
      errors_[label] = e.what();
    }
  }

  // Extra facts for the test that are not a PDK result (e.g. which phase ran).
  void note(const std::string& key, pdk::Value value) { notes_[key] = std::move(value); }

  bool empty() const { return values_.empty() && errors_.empty(); }
  // The step answered the client itself (kong.response.exit): nothing more may be sent.
  void mark_sent() { sent_ = true; }
  bool sent() const { return sent_; }

  // ASCII-only JSON: it travels in a response header.
  std::string dump() const {
    pdk::Value all = {{"values", values_}, {"errors", errors_}, {"notes", notes_}};
    return all.dump(-1, ' ', true);
  }

 private:
  pdk::Value values_ = pdk::Value::object();
  pdk::Value errors_ = pdk::Value::object();
  pdk::Value notes_ = pdk::Value::object();
  bool sent_ = false;
};

}  // namespace cpp_pdk_probe
