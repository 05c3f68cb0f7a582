// The `gatehouse` command line, mirroring the `kong` CLI (docs/cli.md). Everything else lives in
// the layers under src/.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"
#include "common/log.h"

namespace {

// Shown under `gatehouse --help`: one example per verb.
constexpr const char* kExamples = R"(Examples:
  gatehouse start -c /etc/kong/kong.conf        run the gateway (in the foreground unless nginx_daemon = on)
  gatehouse stop -p /usr/local/kong             stop it gracefully (SIGTERM, waits for the exit)
  gatehouse quit --wait 5 --timeout 30          graceful shutdown after 5 s, killed after 30 s
  gatehouse restart -c kong.conf                stop (when running), then start
  gatehouse reload -c kong.conf                 re-read kong.conf and kong.yml; exit 1 with the errors if refused
  gatehouse health -c kong.conf                 exit 0 when the gateway runs and answers
  gatehouse check kong.conf                     validate a kong.conf (and the kong.yml it names)
  gatehouse config check -c kong.conf           the same, Kong's older spelling
  gatehouse config parse kong.yml               validate a kong.yml alone
  gatehouse config init kong.yml                write a commented kong.yml template
  gatehouse prepare -p /tmp/gatehouse           create the prefix directories
  gatehouse plugins -c kong.conf --json         list the plugins each plugin server offers
  gatehouse version                             print the version
Without -c, /etc/kong/kong.conf (or /etc/kong.conf) is read when it exists, then KONG_* variables.)";

}  // namespace

int main(int argc, char** argv) {
  // Until a command sets up the configured error log, diagnostics (such as kong.conf warnings)
  // go to stderr: stdout carries command output (`plugins --json`, `version`).
  gh::log::init("info", "stderr");
  CLI::App app{"gatehouse: a Kong-compatible API gateway (DB-less) for Kong's external plugins"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(gh::app::kVersion));
  app.footer(kExamples);
  bool verbose = false, very_verbose = false;
  app.add_flag("-v", verbose, "verbose: info-level diagnostics on stderr");
  app.add_flag("--vv", very_verbose, "debug-level diagnostics on stderr");

  gh::app::Options opts;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("-c,--conf", opts.conf, "configuration file (kong.conf format)");
    cmd->add_option("-p,--prefix", opts.prefix, "override the prefix directory");
    cmd->add_flag("-v", verbose, "verbose: info-level diagnostics on stderr");
    cmd->add_flag("--vv", very_verbose, "debug-level diagnostics on stderr");
  };

  auto* start =
      app.add_subcommand("start", "start the gateway (returns once it serves when nginx_daemon = on)");
  add_common(start);
  auto* stop = app.add_subcommand("stop", "stop a running gateway gracefully (SIGTERM, waits for exit)");
  add_common(stop);
  auto* quit = app.add_subcommand("quit", "graceful shutdown (SIGQUIT) with an optional delay and a timeout");
  add_common(quit);
  int quit_wait = 0, quit_timeout = 10;
  quit->add_option("--wait", quit_wait, "seconds to wait before starting the shutdown")
      ->check(CLI::Range(0, 86400));
  quit->add_option("--timeout", quit_timeout, "seconds before the gateway is killed (default 10)")
      ->check(CLI::Range(1, 86400));
  auto* restart = app.add_subcommand("restart", "stop the gateway (when running), then start it");
  add_common(restart);
  auto* reload = app.add_subcommand("reload", "reload the configuration of a running gateway (SIGHUP)");
  add_common(reload);
  auto* health = app.add_subcommand("health", "exit 0 if the gateway is running and serving");
  add_common(health);
  auto* check =
      app.add_subcommand("check", "validate a kong.conf (and the kong.yml it names) without starting");
  check->add_option("conf", opts.conf, "the kong.conf to check")->required();
  check->add_option("-p,--prefix", opts.prefix, "override the prefix directory");
  check->add_flag("-v", verbose, "verbose: info-level diagnostics on stderr");
  check->add_flag("--vv", very_verbose, "debug-level diagnostics on stderr");
  auto* prepare = app.add_subcommand("prepare", "create the prefix directories (prefix, logs, pids)");
  add_common(prepare);
  auto* config = app.add_subcommand("config", "declarative configuration tools (check, parse, init)");
  auto* config_check =
      config->add_subcommand("check", "validate the configuration (kong.conf and kong.yml) without starting");
  add_common(config_check);
  std::string yml_file;
  auto* parse = config->add_subcommand("parse", "validate a kong.yml alone (no kong.conf)");
  parse->add_option("file", yml_file, "the kong.yml to parse")->required();
  parse->add_flag("-v", verbose, "verbose: info-level diagnostics on stderr");
  parse->add_flag("--vv", very_verbose, "debug-level diagnostics on stderr");
  auto* init = config->add_subcommand("init", "write a commented kong.yml template (default ./kong.yml)");
  init->add_option("file", yml_file, "where to write it");
  config->require_subcommand(1);
  auto* plugins = app.add_subcommand("plugins", "list the plugins each plugin server offers");
  add_common(plugins);
  plugins->add_flag("--json", opts.json, "print JSON");
  plugins->add_flag("--running", opts.running, "ask the running gateway (admin API) for server states");
  auto* version = app.add_subcommand("version", "print the version");

  CLI11_PARSE(app, argc, argv);
  if (very_verbose)
    opts.cli_log_level = "debug";
  else if (verbose)
    opts.cli_log_level = "info";
  gh::log::init(opts.cli_log_level, "stderr");

  if (*start) return gh::app::cmd_start(opts);
  if (*stop) return gh::app::cmd_stop(opts);
  if (*quit) return gh::app::cmd_quit(opts, quit_wait, quit_timeout);
  if (*restart) return gh::app::cmd_restart(opts);
  if (*reload) return gh::app::cmd_reload(opts);
  if (*health) return gh::app::cmd_health(opts);
  if (*check) return gh::app::cmd_check(opts);
  if (*prepare) return gh::app::cmd_prepare(opts);
  if (*config_check) return gh::app::cmd_config_check(opts);
  if (*parse) return gh::app::cmd_config_parse(yml_file, opts.cli_log_level);
  if (*init) return gh::app::cmd_config_init(yml_file);
  if (*plugins) return gh::app::cmd_plugins(opts);
  if (*version) {
    std::cout << "gatehouse " << gh::app::kVersion << "\n";
    return 0;
  }
  return 2;
}
