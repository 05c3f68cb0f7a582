// The bodies of the `gatehouse` subcommands. Each returns the process exit code.
#pragma once

#include <string>
#include <string_view>

#include "common/version.h"

namespace gh::app {

using gh::kVersion;

struct Options {
  std::string conf;    // -c: kong.conf-format file ("" = defaults + KONG_* environment)
  std::string prefix;  // -p: overrides the `prefix` property
  bool json = false;
  bool running = false;
  // The CLI's own diagnostics on stderr: warn, or info (-v) / debug (--vv) as Kong's -v / --vv.
  std::string cli_log_level = "warn";
};

int cmd_start(const Options& opts);
int cmd_stop(const Options& opts);
int cmd_reload(const Options& opts);
int cmd_health(const Options& opts);
int cmd_config_check(const Options& opts);
int cmd_plugins(const Options& opts);
int cmd_check(const Options& opts);
int cmd_config_parse(const std::string& file, const std::string& cli_log_level = "warn");
int cmd_config_init(const std::string& file);
int cmd_prepare(const Options& opts);
int cmd_quit(const Options& opts, int wait_seconds, int timeout_seconds);
int cmd_restart(const Options& opts);

}  // namespace gh::app
