// Native plugins: C++ compiled into the gateway, calling the PDK in process (pdk/kong.h). A
// native plugin is a NativePluginSpec registered with a NativeRegistration in its own folder
// src/plugins/bundled/<name>/ (docs/architecture.md, "How to add a native plugin"). It is enabled
// as Kong enables its bundled plugins: by the `bundled` keyword of the `plugins` property (the
// default) or by its name, and its kong.yml configs are validated by its schema with the
// validator external plugins' schemas use.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/phase.h"
#include "pdk/kong.h"
#include "plugins/shared_memory.h"

namespace gh::plugins {

// One plugin entity's handler, made from its validated config when a snapshot is built and
// shared by every worker (so: no per-request state in members; use kong.ctx.plugin; anything
// mutable must be thread-safe). Override the phases the spec declares; a PdkError or other
// exception escaping a phase fails the plugin (Kong: a Lua error), and the runner applies the
// failure policy (fail closed: 500).
class NativeHandler {
 public:
  virtual ~NativeHandler() = default;
  virtual boost::asio::awaitable<void> certificate(pdk::Kong& kong);
  virtual boost::asio::awaitable<void> rewrite(pdk::Kong& kong);
  virtual boost::asio::awaitable<void> access(pdk::Kong& kong);
  virtual boost::asio::awaitable<void> response(pdk::Kong& kong);
  virtual boost::asio::awaitable<void> preread(pdk::Kong& kong);
  virtual boost::asio::awaitable<void> log(pdk::Kong& kong);

  // The handler of `phase` (the runner's dispatch).
  boost::asio::awaitable<void> run(core::Phase phase, pdk::Kong& kong);

  // A phase whose work never waits (it reads and edits the request, counts, answers: no I/O, no
  // body read) is best done here, as a plain call: true when the phase's work is done. False,
  // having done nothing, hands the phase to the coroutine above. The runner always asks this
  // first; a coroutine phase costs two coroutine frames and their resumptions per plugin (about
  // 10% of what a cheap plugin costs a request: docs/performance.md, "Session 14").
  virtual bool run_now(core::Phase phase, pdk::Kong& kong);
};

struct NativePluginSpec {
  std::string name;     // Kong's plugin name, e.g. "key-auth"
  std::string version;  // shown by `gatehouse plugins`
  int priority = 0;     // Kong's PRIORITY of the plugin's handler
  core::PhaseMask phases = 0;
  // Kong's plugin schema as external servers report it: {"name": ..., "fields": [{"config":
  // {"type": "record", "fields": [...]}}]} (pluginserver/schema.h says what is supported).
  nlohmann::json schema;
  // The handler of one entity, from its config with the schema's defaults filled, and the
  // gateway's shared memory for a plugin that keeps state across requests, workers and reloads
  // (proxy-cache's stores, rate-limiting's counters). May throw std::exception for what the
  // schema cannot say: the configuration is then refused with it.
  std::function<std::unique_ptr<NativeHandler>(const nlohmann::json& config, SharedMemory& memory)> make;
  // Whether the log handler reads the response's headers (kong.response.get_header(s),
  // kong.log.serialize): a streamed response's headers are copied for the log phase only when a
  // plugin of the phase does (prometheus does not).
  bool log_reads_response_headers = true;
};

// Every native plugin registered (sorted by name). Filled during static initialisation,
// read-only afterwards.
const std::vector<NativePluginSpec>& native_plugins();
const NativePluginSpec* find_native_plugin(std::string_view name);

// A static object of this type in the plugin's .cpp registers it:
//   static const plugins::NativeRegistration kRegistration{spec()};
// Registering a name twice aborts at start-up (a build mistake, not a runtime condition).
struct NativeRegistration {
  explicit NativeRegistration(NativePluginSpec spec);
};

// The native plugins the `plugins` property enables: all of them for `bundled` (the default),
// plus those named. `plugins = off` enables none.
std::vector<const NativePluginSpec*> enabled_native_plugins(const std::vector<std::string>& plugins_property);

}  // namespace gh::plugins
