#include "plugins/native.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace gh::plugins {

namespace {
// Function-local: registrations run during static initialisation, in no defined order.
std::vector<NativePluginSpec>& catalog() {
  static std::vector<NativePluginSpec> plugins;
  return plugins;
}
}  // namespace

boost::asio::awaitable<void> NativeHandler::certificate(pdk::Kong&) {
  co_return;
}
boost::asio::awaitable<void> NativeHandler::rewrite(pdk::Kong&) {
  co_return;
}
boost::asio::awaitable<void> NativeHandler::access(pdk::Kong&) {
  co_return;
}
boost::asio::awaitable<void> NativeHandler::response(pdk::Kong&) {
  co_return;
}
boost::asio::awaitable<void> NativeHandler::preread(pdk::Kong&) {
  co_return;
}
boost::asio::awaitable<void> NativeHandler::log(pdk::Kong&) {
  co_return;
}

boost::asio::awaitable<void> NativeHandler::run(core::Phase phase, pdk::Kong& kong) {
  switch (phase) {
    case core::Phase::certificate:
      return certificate(kong);
    case core::Phase::rewrite:
      return rewrite(kong);
    case core::Phase::access:
      return access(kong);
    case core::Phase::response:
      return response(kong);
    case core::Phase::preread:
      return preread(kong);
    case core::Phase::log:
      break;
  }
  return log(kong);
}

bool NativeHandler::run_now(core::Phase, pdk::Kong&) {
  return false;
}

const std::vector<NativePluginSpec>& native_plugins() {
  return catalog();
}

const NativePluginSpec* find_native_plugin(std::string_view name) {
  const auto& all = catalog();
  auto it = std::lower_bound(all.begin(), all.end(), name,
                             [](const NativePluginSpec& s, std::string_view n) { return s.name < n; });
  return it != all.end() && it->name == name ? &*it : nullptr;
}

NativeRegistration::NativeRegistration(NativePluginSpec spec) {
  auto& all = catalog();
  auto it = std::lower_bound(all.begin(), all.end(), spec.name,
                             [](const NativePluginSpec& s, const std::string& n) { return s.name < n; });
  if (it != all.end() && it->name == spec.name) {
    std::fprintf(stderr, "native plugin '%s' registered twice\n", spec.name.c_str());
    std::abort();
  }
  all.insert(it, std::move(spec));
}

std::vector<const NativePluginSpec*> enabled_native_plugins(
    const std::vector<std::string>& plugins_property) {
  const bool bundled =
      std::find(plugins_property.begin(), plugins_property.end(), "bundled") != plugins_property.end();
  std::vector<const NativePluginSpec*> enabled;
  for (const auto& spec : catalog()) {
    const bool named =
        std::find(plugins_property.begin(), plugins_property.end(), spec.name) != plugins_property.end();
    if (bundled || named) enabled.push_back(&spec);
  }
  return enabled;
}

}  // namespace gh::plugins
