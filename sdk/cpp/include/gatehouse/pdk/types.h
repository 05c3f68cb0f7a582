// Value types of the C++ PDK: what kong.* calls take and return. No protobuf here: the wire
// encoding lives in the library (src/), so plugins compile against plain C++ and nlohmann-json.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gatehouse::pdk {

// A dynamic value (kong.ctx.shared, kong.nginx.get_ctx, kong.log.* arguments): protobuf's
// google.protobuf.Value maps one to one onto JSON (null, number, string, bool, object, array).
using Value = nlohmann::json;

// Header and query multimaps, as Kong returns them: name -> values (lower-case header names).
using Headers = std::map<std::string, std::vector<std::string>>;

// Every failure of a kong.* call: a closed connection, a reply that does not decode, an error
// the gateway reported (kong.request.get_raw_body), or a typed getter given another type.
class PdkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Consumer {
  std::string id;
  std::int64_t created_at = 0;
  std::string username;
  std::string custom_id;
  std::vector<std::string> tags;
  bool operator==(const Consumer&) const = default;
};

struct Credential {  // Kong's AuthenticatedCredential
  std::string id;
  std::string consumer_id;
  bool operator==(const Credential&) const = default;
};

struct Route {
  std::string id;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::string name;
  std::vector<std::string> protocols, methods, hosts, paths, headers;
  int https_redirect_status_code = 0;
  int regex_priority = 0;
  bool strip_path = false;
  bool preserve_host = false;
  std::vector<std::string> snis, sources, destinations, tags;
  std::string service_id;
  bool operator==(const Route&) const = default;
};

struct Service {
  std::string id;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
  std::string name;
  int retries = 0;
  std::string protocol;
  std::string host;
  int port = 0;
  std::string path;
  int connect_timeout = 0;
  int write_timeout = 0;
  int read_timeout = 0;
  std::vector<std::string> tags;
  std::string client_certificate_id;
  bool operator==(const Service&) const = default;
};

struct MemoryStats {
  struct DictStats {
    std::int64_t allocated_slabs = 0;
    std::int64_t capacity = 0;
    bool operator==(const DictStats&) const = default;
  };
  struct WorkerVm {
    std::int64_t http_allocated_gc = 0;
    std::int64_t pid = 0;
    bool operator==(const WorkerVm&) const = default;
  };
  DictStats kong;
  DictStats kong_db_cache;
  std::vector<WorkerVm> workers_lua_vms;
  bool operator==(const MemoryStats&) const = default;
};

struct UriCaptures {
  std::vector<std::string> unnamed;
  std::map<std::string, std::string> named;
  bool operator==(const UriCaptures&) const = default;
};

}  // namespace gatehouse::pdk
