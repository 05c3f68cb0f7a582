"""The `gatehouse` command line through the real binary: --help, check, config parse/init, prepare,
quit, restart, nginx_daemon, KONG_DECLARATIVE_CONFIG_STRING, and the kong.conf settings gatehouse
refuses or warns about instead of accepting silently."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import GATEHOUSE, wait_port
from test_admin_api import admin, config_yml, proxy_get
from test_pluginservers import EMPTY_YML

VERBS = ["start", "stop", "quit", "restart", "reload", "health", "check", "prepare", "config", "plugins",
         "version"]


def run(*args, env=None, cwd=None, timeout=60):
    return subprocess.run([str(GATEHOUSE), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def test_help_lists_every_verb_with_a_description_and_an_example():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for verb in VERBS:
        assert re.search(rf"^\s+{verb}\s+\S", result.stdout, re.M), f"{verb} not described:\n{result.stdout}"
        assert f"gatehouse {verb}" in result.stdout, f"no example for {verb}"
    config_help = run("config", "--help").stdout
    for verb in ("check", "parse", "init"):
        assert re.search(rf"^\s+{verb}\s+\S", config_help, re.M), config_help


def test_check_and_config_parse(make_gateway, upstream, tmp_path):
    gw = make_gateway(config_yml(upstream.server_port))
    result = run("check", str(gw.conf))
    assert result.returncode == 0 and "is valid" in result.stdout and "3 services" in result.stdout, result

    parsed = run("config", "parse", str(gw.kong_yml))
    assert parsed.returncode == 0 and "parse successful: 3 services" in parsed.stdout, parsed
    broken = tmp_path / "broken.yml"
    broken.write_text('_format_version: "3.0"\nservices:\n  - name: x\n')
    parsed = run("config", "parse", str(broken))
    assert parsed.returncode == 1 and "broken.yml:3: services[0] (name 'x')" in parsed.stderr, parsed.stderr


def test_config_init_writes_a_template_that_loads_unchanged(tmp_path):
    result = run("config", "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    template = tmp_path / "kong.yml"
    assert "_format_version" in template.read_text() and "# services:" in template.read_text()
    assert run("config", "parse", str(template)).returncode == 0
    again = run("config", "init", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
    # The examples ("# ") load once uncommented; prose ("## ") stays a comment.
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line
                            for line in template.read_text().splitlines())
    examples = tmp_path / "examples.yml"
    examples.write_text(uncommented)
    parsed = run("config", "parse", str(examples))
    assert parsed.returncode == 0 and "1 services" in parsed.stdout, parsed.stderr + examples.read_text()


def test_prepare_creates_the_prefix(tmp_path):
    prefix = tmp_path / "p"
    result = run("prepare", "-p", str(prefix))
    assert result.returncode == 0, result.stderr
    assert (prefix / "logs").is_dir() and (prefix / "pids").is_dir()


def test_settings_gatehouse_cannot_honour_are_refused_or_warned(make_gateway):
    gw = make_gateway(EMPTY_YML, conf_extra="database = postgres\n")
    result = gw.cli("config", "check")
    assert result.returncode == 1
    assert "database: gatehouse runs without a database only (database = off), got 'postgres'" in result.stderr

    gw = make_gateway(EMPTY_YML, conf_extra="role = data_plane\n")
    result = gw.cli("config", "check")
    assert result.returncode == 1 and "gatehouse has no hybrid mode" in result.stderr, result.stderr
    gw = make_gateway(EMPTY_YML, conf_extra="router_flavor = expressions\n")
    assert gw.cli("config", "check").returncode == 1

    gw = make_gateway(EMPTY_YML, conf_extra="dns_resolver = 8.8.8.8\nrouter_flavor = traditional_compatible\n")
    result = gw.cli("config", "check")
    assert result.returncode == 0, result.stderr
    assert "dns_resolver = 8.8.8.8: gatehouse resolves names with the system resolver" in result.stderr
    assert "router_flavor" not in result.stderr

    env = dict(os.environ, KONG_DATABASE="postgres")
    result = run("config", "check", "-c", str(gw.conf), env=env)
    assert result.returncode == 1 and "environment (KONG_DATABASE)" in result.stderr, result.stderr


def test_declarative_config_string_is_read_as_kong_reads_it(make_gateway, upstream):
    text = config_yml(upstream.server_port, extra_routes='      - name: s\n        paths: ["/from-string"]\n')
    gw = make_gateway(EMPTY_YML, env={"KONG_DECLARATIVE_CONFIG_STRING": text})
    result = gw.cli("config", "check")
    assert result.returncode == 0 and "3 services, 3 routes" in result.stdout, result
    gw.start()
    assert proxy_get(gw, "/from-string/x") == 200

    bad = make_gateway(EMPTY_YML, env={"KONG_DECLARATIVE_CONFIG_STRING": "_format_version: '3.0'\nfoo: 1\n"})
    result = bad.cli("config", "check")
    assert result.returncode == 1 and "declarative_config_string:2: foo: unknown field" in result.stderr, result


def test_nginx_daemon_on_returns_once_the_gateway_serves(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port), conf_extra="nginx_daemon = on\n")
    pid_file = gw.prefix / "pids" / "gatehouse.pid"
    try:
        started = gw.cli("start")
        assert started.returncode == 0, started.stderr
        assert "gatehouse started" in started.stdout
        assert proxy_get(gw, "/api/x") == 200  # serving when `start` returned: no wait
        assert admin(gw, "GET", "/status/ready")[0] == 200
        pid = int(pid_file.read_text())
        assert os.getsid(pid) == pid  # a session of its own
        assert gw.cli("restart").returncode == 0
        new_pid = int(pid_file.read_text())
        assert new_pid != pid and proxy_get(gw, "/api/x") == 200
        quit_ = gw.cli("quit", "--timeout", "20")
        assert quit_.returncode == 0, quit_.stderr
        assert not pid_file.exists() and gw.cli("health").returncode != 0
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)

    failing = make_gateway("_format_version: '3.0'\nservices: 1\n", conf_extra="nginx_daemon = on\n")
    result = failing.cli("start")
    assert result.returncode == 1 and "services: expected a list" in result.stderr, result


def test_quit_waits_then_drains(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    started = time.monotonic()
    result = gw.cli("quit", "--wait", "1")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1
    assert gw.proc.wait(timeout=10) == 0
    assert not wait_port(gw.port, timeout=0.2)



def test_verbose_flags_say_where_the_configuration_comes_from(make_gateway):
    gw = make_gateway(EMPTY_YML, conf_extra="pg_password = hunter2\n")
    quiet = gw.cli("config", "check")
    assert quiet.returncode == 0 and "reading configuration file" not in quiet.stderr, quiet.stderr
    verbose = gw.cli("config", "check", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert f"reading configuration file at {gw.conf}" in verbose.stderr and "admin_listen =" not in verbose.stderr
    for args in (("config", "check", "--vv"), ("check", str(gw.conf), "--vv")):
        very = run(*args, "-c", str(gw.conf)) if args[0] == "config" else run(*args)
        assert very.returncode == 0, very.stderr
        assert f'admin_listen = "127.0.0.1:{gw.admin_port}"' in very.stderr, very.stderr
        assert 'pg_password = "******"' in very.stderr and "hunter2" not in very.stderr
    parsed = run("config", "parse", str(gw.kong_yml), "-v")
    assert parsed.returncode == 0 and "parse successful" in parsed.stdout, parsed.stderr
