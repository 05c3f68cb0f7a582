#include "conf/entities.h"

#include <algorithm>

namespace gh::conf {

namespace {

// Linear scans: configurations hold at most thousands of entities and these lookups happen at
// load time or are cached by their callers (the router keeps pointers).
template <typename T, typename Key>
const T* find_by(const std::vector<T>& items, Key T::*field, std::string_view value) {
  auto it = std::find_if(items.begin(), items.end(), [&](const T& item) { return item.*field == value; });
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

const Service* Declarative::find_service(std::string_view id) const {
  return find_by(services, &Service::id, id);
}
const Route* Declarative::find_route(std::string_view id) const {
  return find_by(routes, &Route::id, id);
}
const Upstream* Declarative::find_upstream_by_name(std::string_view name) const {
  return find_by(upstreams, &Upstream::name, name);
}
const Certificate* Declarative::find_certificate(std::string_view id) const {
  return find_by(certificates, &Certificate::id, id);
}
const CaCertificate* Declarative::find_ca_certificate(std::string_view id) const {
  return find_by(ca_certificates, &CaCertificate::id, id);
}
const Consumer* Declarative::find_consumer(std::string_view id) const {
  return find_by(consumers, &Consumer::id, id);
}

}  // namespace gh::conf
