#include "tls/certificate_store.h"

#include "common/strings.h"

namespace gh::tls {

void CertificateStore::add(const std::string& sni, std::shared_ptr<const CertificateEntry> entry) {
  by_name_[sni] = std::move(entry);
}

const CertificateEntry* CertificateStore::lookup(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

const CertificateEntry* CertificateStore::find(std::string_view server_name) const {
  std::string name = to_lower(server_name);
  if (!name.empty() && name.back() == '.') name.pop_back();  // "example.com." is example.com
  if (!name.empty()) {
    if (const auto* exact = lookup(name)) return exact;
    // Kong replaces exactly one label: "*.example.com" serves a.example.com, not a.b.example.com.
    if (auto first_dot = name.find('.'); first_dot != std::string::npos) {
      if (const auto* wild = lookup("*" + name.substr(first_dot))) return wild;
      if (const auto* wild = lookup(name.substr(0, name.rfind('.')) + ".*")) return wild;
    }
  }
  if (const auto* catch_all = lookup("*")) return catch_all;
  return default_.get();
}

}  // namespace gh::tls
