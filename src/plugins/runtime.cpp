#include "plugins/runtime.h"

#include <chrono>

#include "common/log.h"
#include "conf/error.h"
#include "pluginserver/config.h"
#include "pluginserver/registry.h"

namespace gh::plugins {

SeqAllocator& process_seqs() {
  static SeqAllocator seqs;
  return seqs;
}

std::shared_ptr<const PluginSet> load_plugins(const conf::Properties& properties, conf::Declarative& config) {
  std::vector<pluginserver::ServerConfig> servers;
  std::vector<std::string> enabled;
  try {
    servers = pluginserver::servers_from_properties(properties.values, properties.prefix);
    enabled = pluginserver::enabled_plugins(properties.values);
  } catch (const std::exception& e) {
    throw conf::ConfigError(properties.source_file + ": " + e.what());
  }
  auto registry = std::make_shared<pluginserver::Registry>();
  if (!servers.empty() || !enabled.empty()) {
    try {
      *registry = pluginserver::discover(servers, enabled);
    } catch (const std::exception& e) {
      throw conf::ConfigError(e.what());
    }
  }
  // Kong refuses plugin entities whose plugin is not enabled.
  std::string problems;
  for (const auto& p : config.plugins) {
    if (!registry->find(p.name))
      problems +=
          "\n  plugin '" + p.name + "' (id " + p.id + ") is not enabled: add it to the 'plugins' property";
  }
  for (const auto& error : pluginserver::validate_plugins(*registry, config.plugins))
    problems += "\n  " + error;
  if (!problems.empty()) throw conf::ConfigError("invalid plugin configuration:" + problems);
  return std::make_shared<PluginSet>(config, registry, process_seqs());
}

PluginRuntime::PluginRuntime(boost::asio::io_context& control) : control_(control) {}

PluginRuntime::~PluginRuntime() {
  stop();
}

void PluginRuntime::start(std::vector<pluginserver::ServerConfig> servers) {
  std::chrono::milliseconds ready_timeout{0};
  for (const auto& s : servers) ready_timeout = std::max(ready_timeout, s.ready_timeout);
  supervisor_ = std::make_unique<pluginserver::Supervisor>(control_, std::move(servers));
  supervisor_->start();
  if (!supervisor_->wait_ready(ready_timeout))
    throw std::runtime_error(
        "plugin servers did not become ready (their sockets never accepted a connection); "
        "see the log above");
}

void PluginRuntime::apply(std::vector<pluginserver::ServerConfig> servers) {
  if (supervisor_) supervisor_->apply(std::move(servers));
}

void PluginRuntime::stop() {
  if (supervisor_) supervisor_->stop();
}

bool PluginRuntime::ready(std::string_view server) const {
  return !supervisor_ || supervisor_->is_ready(server);
}

void PluginRuntime::report_unresponsive(std::string_view server) {
  if (supervisor_) supervisor_->report_unresponsive(server);
}

nlohmann::json PluginRuntime::status() const {
  return supervisor_ ? supervisor_->status() : nlohmann::json::array();
}

}  // namespace gh::plugins
