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
  if (!indexed_) return find_by(consumers, &Consumer::id, id);
  auto it = consumer_by_id_.find(id);
  return it == consumer_by_id_.end() ? nullptr : &consumers[it->second];
}

const Consumer* Declarative::find_consumer_by_username(std::string_view username) const {
  if (username.empty()) return nullptr;
  if (!indexed_) return find_by(consumers, &Consumer::username, username);
  auto it = consumer_by_username_.find(username);
  return it == consumer_by_username_.end() ? nullptr : &consumers[it->second];
}

void Declarative::index_consumers() {
  consumer_by_id_.clear();
  consumer_by_username_.clear();
  for (size_t i = 0; i < consumers.size(); ++i) {
    consumer_by_id_.emplace(consumers[i].id, i);
    if (!consumers[i].username.empty()) consumer_by_username_.emplace(consumers[i].username, i);
  }
  indexed_ = true;
}

}  // namespace gh::conf
