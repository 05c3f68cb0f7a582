// The embedded plugin server: a C++ plugin executable behaves like a go-pdk one.
//
//   int main(int argc, char** argv) {
//     return gatehouse::pdk::serve<MyPlugin, MyConfig>(argc, argv, "1.0.0", 1000);
//   }
//
// MyPlugin is constructed from a decoded MyConfig (once per plugin instance, i.e. per config
// version) and may define any of certificate, rewrite, access, response, preread, log taking a
// Kong&; the phases reported by -dump are exactly the handlers it defines. Handlers of one
// instance can run concurrently (one gateway connection per event), like go-pdk's, so keep them
// free of unsynchronised mutable state. MyConfig defaults to MyPlugin (config struct with handlers).
// MyPlugin may also declare the reads of each phase (`pdk::Reads reads(std::string_view phase)`,
// <gatehouse/pdk/reads.h>), which Gatehouse:1 then sends with the instance's very first event.
//
// Flags (go-pdk's): -dump, -kong-prefix DIR (default /usr/local/kong), -help. Without -dump the
// process listens on <prefix>/<executable name>.socket until SIGTERM/SIGINT.
#pragma once

#include <gatehouse/pdk/kong.h>
#include <gatehouse/pdk/reads.h>
#include <gatehouse/pdk/schema.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::pdk {

namespace detail {

class Instance {
 public:
  virtual ~Instance() = default;
  // Runs one phase handler (the server only asks for phases listed in PluginSpec::phases).
  virtual void handle(std::string_view phase, Kong& kong) = 0;
  // The reads the plugin declares for `phase`; nullopt when it declares none (no `reads` member).
  virtual std::optional<Reads> declared_reads(std::string_view /*phase*/) { return std::nullopt; }
};

struct PluginSpec {
  std::string version;
  int priority = 0;
  std::vector<std::string> phases;
  SchemaJson config_schema;
  // Decodes a StartInstance config (JSON text) and builds the plugin; throws on a bad config.
  std::function<std::unique_ptr<Instance>(const Value& config)> start;
};

int run_server(int argc, char** argv, const PluginSpec& spec);

// The name a plugin reports: the basename of the running executable (go-pdk's os.Executable()).
std::string executable_name();

template <class P>
concept HasCertificate = requires(P& p, Kong& k) {
  p.certificate(k);
};
template <class P>
concept HasRewrite = requires(P& p, Kong& k) {
  p.rewrite(k);
};
template <class P>
concept HasAccess = requires(P& p, Kong& k) {
  p.access(k);
};
template <class P>
concept HasResponse = requires(P& p, Kong& k) {
  p.response(k);
};
template <class P>
concept HasPreread = requires(P& p, Kong& k) {
  p.preread(k);
};
template <class P>
concept HasLog = requires(P& p, Kong& k) {
  p.log(k);
};

// `pdk::Reads reads(std::string_view phase)`: static, const or not.
template <class P>
concept DeclaresReads = requires(P& p, std::string_view phase) {
  { p.reads(phase) } -> std::same_as<Reads>;
};

}  // namespace detail

// Phases in go-pdk's order, derived from the handlers the class defines.
template <class Plugin>
std::vector<std::string> phases_of() {
  std::vector<std::string> phases;
  if constexpr (detail::HasCertificate<Plugin>) phases.emplace_back("certificate");
  if constexpr (detail::HasRewrite<Plugin>) phases.emplace_back("rewrite");
  if constexpr (detail::HasAccess<Plugin>) phases.emplace_back("access");
  if constexpr (detail::HasResponse<Plugin>) phases.emplace_back("response");
  if constexpr (detail::HasPreread<Plugin>) phases.emplace_back("preread");
  if constexpr (detail::HasLog<Plugin>) phases.emplace_back("log");
  return phases;
}

// Runs `phase` on a plugin if it defines that handler; returns false otherwise.
template <class Plugin>
bool run_phase(Plugin& plugin, std::string_view phase, Kong& kong) {
  if constexpr (detail::HasCertificate<Plugin>)
    if (phase == "certificate") return plugin.certificate(kong), true;
  if constexpr (detail::HasRewrite<Plugin>)
    if (phase == "rewrite") return plugin.rewrite(kong), true;
  if constexpr (detail::HasAccess<Plugin>)
    if (phase == "access") return plugin.access(kong), true;
  if constexpr (detail::HasResponse<Plugin>)
    if (phase == "response") return plugin.response(kong), true;
  if constexpr (detail::HasPreread<Plugin>)
    if (phase == "preread") return plugin.preread(kong), true;
  if constexpr (detail::HasLog<Plugin>)
    if (phase == "log") return plugin.log(kong), true;
  return false;
}

template <class Plugin, Record Config = Plugin>
requires std::constructible_from<Plugin, Config>
int serve(int argc, char** argv, std::string version, int priority) {
  struct Instance final : detail::Instance {
    explicit Instance(Config config) : plugin(std::move(config)) {}
    void handle(std::string_view phase, Kong& kong) override { run_phase(plugin, phase, kong); }
    std::optional<Reads> declared_reads([[maybe_unused]] std::string_view phase) override {
      if constexpr (detail::DeclaresReads<Plugin>)
        return plugin.reads(phase);
      else
        return std::nullopt;
    }
    Plugin plugin;
  };
  detail::PluginSpec spec;
  spec.version = std::move(version);
  spec.priority = priority;
  spec.phases = phases_of<Plugin>();
  spec.config_schema = config_schema<Config>();
  spec.start = [](const Value& config) -> std::unique_ptr<detail::Instance> {
    return std::make_unique<Instance>(decode_config<Config>(config));
  };
  return detail::run_server(argc, argv, spec);
}

}  // namespace gatehouse::pdk
