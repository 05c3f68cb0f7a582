// The `gatehouse` command line, mirroring the `kong` CLI: start, stop, reload, health,
// config check, plugins, version. Everything else lives in the layers under src/.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"
#include "common/log.h"

int main(int argc, char** argv) {
  // Until a command sets up the configured error log, diagnostics (such as kong.conf warnings)
  // go to stderr: stdout carries command output (`plugins --json`, `version`).
  gh::log::init("info", "stderr");
  CLI::App app{"gatehouse: an API gateway for Kong-compatible external plugins"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(gh::app::kVersion));

  gh::app::Options opts;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("-c,--conf", opts.conf, "configuration file (kong.conf format)");
    cmd->add_option("-p,--prefix", opts.prefix, "override the prefix directory");
  };

  auto* start = app.add_subcommand("start", "start the gateway in the foreground");
  add_common(start);
  auto* stop = app.add_subcommand("stop", "stop a running gateway gracefully (SIGTERM, waits for exit)");
  add_common(stop);
  auto* reload = app.add_subcommand("reload", "reload the configuration of a running gateway (SIGHUP)");
  add_common(reload);
  auto* health = app.add_subcommand("health", "exit 0 if the gateway is running and serving");
  add_common(health);
  auto* config = app.add_subcommand("config", "configuration tools");
  auto* check =
      config->add_subcommand("check", "validate the configuration (kong.conf and kong.yml) without starting");
  add_common(check);
  config->require_subcommand(1);
  auto* plugins = app.add_subcommand("plugins", "list the plugins each plugin server offers");
  add_common(plugins);
  plugins->add_flag("--json", opts.json, "print JSON");
  plugins->add_flag("--running", opts.running, "ask the running gateway (admin API) for server states");
  auto* version = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);

  if (*start) return gh::app::cmd_start(opts);
  if (*stop) return gh::app::cmd_stop(opts);
  if (*reload) return gh::app::cmd_reload(opts);
  if (*health) return gh::app::cmd_health(opts);
  if (*check) return gh::app::cmd_config_check(opts);
  if (*plugins) return gh::app::cmd_plugins(opts);
  if (*version) {
    std::cout << "gatehouse " << gh::app::kVersion << "\n";
    return 0;
  }
  return 2;
}
