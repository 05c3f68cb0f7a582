"""Plugin servers through the gatehouse binary: configuration, discovery, validation, supervision.

Real processes only: the npm kong-pdk server (scripts/setup), the Python Unix-socket server in
tests/integration/pluginservers/unix_server.py, and shell scripts written by the tests.
"""
import functools
import http.client
import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
JS_PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js"
FIXTURE = ROOT / "tests" / "integration" / "pluginservers" / "unix_server.py"
EMPTY_YML = '_format_version: "3.0"\n'


def needs_js(test):
    """The real kong-pdk server must be installed (scripts/setup): its absence fails the test, never skips it."""
    def checked(*args, **kwargs):
        assert os.access(JS_SERVER, os.X_OK), "run scripts/setup (npm kong-pdk)"
        return test(*args, **kwargs)
    return functools.wraps(test)(checked)


def script(path, text):
    path = Path(path)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def js_conf(extra=""):
    return (f"plugins = bundled, js-hello, js-goodbye\n"
            f"pluginserver_names = js\n"
            f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --dump-all-plugins\n"
            + extra)


def eventually(condition, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def alive(pid):
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def children_of(pid):
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, IndexError, ProcessLookupError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return out


# ---- gatehouse plugins -c FILE (discovery only, nothing started) ----

@needs_js
def test_plugins_lists_every_plugin_of_the_real_js_server(make_gateway):
    gw = make_gateway(EMPTY_YML, conf_extra=js_conf())
    result = gw.cli("plugins")
    assert result.returncode == 0, result.stderr
    assert "server js" in result.stdout
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line.startswith("  js-")}
    assert lines["js-hello"][1:5] == ["0.1.0", "1000", "MsgPack:1", "access,response"]
    assert lines["js-goodbye"][1:5] == ["0.2.0", "5", "MsgPack:1", "log"]
    assert f"socket: {gw.prefix}/js.socket" in result.stdout


@needs_js
def test_plugins_json_with_environment_overrides(make_gateway):
    # The file names a query command that does not exist; KONG_* variables override it.
    gw = make_gateway(EMPTY_YML, conf_extra="pluginserver_names = js\npluginserver_js_query_cmd = /nonexistent -dump\n",
                      env={"KONG_PLUGINSERVER_JS_QUERY_CMD":
                           f"{JS_SERVER} --plugins-directory {JS_PLUGINS} --dump-all-plugins",
                           "KONG_PLUGINSERVER_JS_SOCKET": "/tmp/gh-js-override.sock"})
    result = gw.cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (server,) = doc["servers"]
    assert server["socket"] == "/tmp/gh-js-override.sock"
    names = sorted(p["name"] for p in server["plugins"])
    assert names == ["js-goodbye", "js-hello"]


def test_plugins_both_dump_shapes_with_log_noise(make_gateway, tmp_path):
    go = script(tmp_path / "go-hello", "#!/bin/sh\necho 'starting' >&2\n"
                "echo '{\"Protocol\":\"ProtoBuf:1\",\"SocketPath\":\"/x\",\"Plugins\":[{\"Name\":\"go-hello\","
                "\"Phases\":[\"access\",\"response\",\"log\"],\"Version\":\"0.1\",\"Priority\":1}]}'\n")
    noisy = script(tmp_path / "noisy", "#!/bin/sh\nprintf '\\033[33m[WARN]\\033[0m loading [x]\\n'\n"
                   "echo '[{\"Name\":\"py-hello\",\"Phases\":[\"access\"],\"Version\":\"0.1.0\",\"Priority\":100}]'\n"
                   "printf '\\033[32m[INFO]\\033[0m done\\n'\n")
    gw = make_gateway(EMPTY_YML, conf_extra=(
        f"pluginserver_names = Go-Hello, noisy\n"
        f"pluginserver_go_hello_query_cmd = {go} -dump\n"
        f"pluginserver_noisy_query_cmd = {noisy} --dump\n"))
    result = gw.cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    servers = {s["name"]: s for s in json.loads(result.stdout)["servers"]}
    assert servers["go-hello"]["plugins"][0]["protocol"] == "ProtoBuf:1"
    assert servers["go-hello"]["plugins"][0]["phases"] == ["access", "response", "log"]
    assert servers["noisy"]["plugins"][0] == {"name": "py-hello", "version": "0.1.0", "priority": 100,
                                              "phases": ["access"], "protocol": "MsgPack:1"}


def test_plugins_query_failure_names_server_and_exit_code(make_gateway, tmp_path):
    bad = script(tmp_path / "bad", "#!/bin/sh\necho 'cannot open plugins dir' >&2\nexit 4\n")
    gw = make_gateway(EMPTY_YML, conf_extra=f"pluginserver_names = bad\npluginserver_bad_query_cmd = {bad}\n")
    result = gw.cli("plugins")
    assert result.returncode != 0
    assert "pluginserver 'bad'" in result.stderr
    assert "exited with code 4" in result.stderr
    assert "cannot open plugins dir" in result.stderr


def test_plugins_legacy_go_plugins_dir(make_gateway, tmp_path):
    # A fake go-pluginserver answering -dump-plugin-info with MessagePack (fixmap of 4 entries).
    info = (b"\x84\xa4Name\xa8go-hello\xa7Version\xa30.2\xa8Priority\x01\xa6Phases\x91\xa6access")
    (tmp_path / "go-hello.info").write_bytes(info)
    exe = script(tmp_path / "go-pluginserver",
                 "#!/bin/sh\n[ \"$3\" = -dump-plugin-info ] || exit 2\n"
                 "[ -f \"$2/$4.info\" ] || exit 1\ncat \"$2/$4.info\"\n")
    gw = make_gateway(EMPTY_YML, conf_extra=(f"plugins = bundled, go-hello\ngo_plugins_dir = {tmp_path}\n"
                                             f"go_pluginserver_exe = {exe}\n"))
    result = gw.cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    (server,) = json.loads(result.stdout)["servers"]
    assert server["name"] == "go-pluginserver"
    assert server["socket"] == f"{gw.prefix}/go_pluginserver.sock"
    assert server["plugins"][0]["name"] == "go-hello"
    assert server["plugins"][0]["version"] == "0.2"


# ---- gatehouse start: validation and supervision ----

def fixture_server_conf(tmp_path, name="fx", plugin="fx-plugin", extra_args=""):
    """A supervised plugin server: the Python socket fixture, with a query script for its dump."""
    query = script(tmp_path / f"{name}-dump", "#!/bin/sh\n"
                   f"echo '[{{\"Name\":\"{plugin}\",\"Phases\":[\"access\"],\"Version\":\"1.0.0\",\"Priority\":10,"
                   f"\"Schema\":{{\"name\":\"{plugin}\",\"fields\":[{{\"config\":{{\"type\":\"record\",\"fields\":"
                   f"[{{\"level\":{{\"type\":\"integer\",\"default\":1,\"between\":[1,5]}}}}]}}}}]}}}}]'\n")
    sock = tmp_path / f"{name}.socket"
    return sock, (f"pluginserver_{name}_query_cmd = {query}\n"
                  f"pluginserver_{name}_start_cmd = /usr/bin/python3 {FIXTURE} {sock} {extra_args}\n"
                  f"pluginserver_{name}_socket = {sock}\n")


def server_status(gw, name):
    """The server's entry in `gatehouse plugins --running --json` (the admin API), or None."""
    try:
        result = gw.cli("plugins", "--running", "--json", timeout=10)
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        return None
    for server in json.loads(result.stdout)["servers"]:
        if server["name"] == name:
            return server
    return None


def started_pids(gw, name):
    """Pids of the server's processes, in start order, from the error log."""
    return [int(m) for m in re.findall(rf"\[pluginserver\] started {name}, pid (\d+)", gw.logs())]


def ready_count(gw, name):
    return gw.logs().count(f"pluginserver '{name}' is ready")


def test_start_fails_for_enabled_plugin_not_installed(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    gw = make_gateway(EMPTY_YML, conf_extra=f"plugins = bundled, fx-plugin, nowhere\npluginserver_names = fx\n{conf}")
    gw.start(expect_ok=False)
    assert gw.proc.wait(timeout=30) != 0
    assert "nowhere plugin is enabled but not installed" in gw.logs()


def test_start_rejects_bad_plugin_config_with_plugin_entity_and_field(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    kong_yml = EMPTY_YML + "plugins:\n  - name: fx-plugin\n    config:\n      level: 9\n"
    gw = make_gateway(kong_yml, conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n{conf}")
    gw.start(expect_ok=False)
    assert gw.proc.wait(timeout=30) != 0
    logs = gw.logs()
    assert "fx-plugin" in logs and "config.level: value should be between 1 and 5" in logs, logs


def test_supervised_server_restarted_after_sigkill_and_stop_leaves_no_child(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    gw = make_gateway(EMPTY_YML, conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n{conf}")
    gw.start()
    assert eventually(lambda: ready_count(gw, "fx") == 1), gw.logs()
    (first,) = started_pids(gw, "fx")
    assert first in children_of(gw.proc.pid)  # exec semantics: the server is the gateway's own child
    assert f"[fx:{first}] listening on {sock}" in gw.logs()

    os.kill(first, signal.SIGKILL)
    assert eventually(lambda: ready_count(gw, "fx") == 2), gw.logs()
    second = started_pids(gw, "fx")[1]
    assert second != first and alive(second)
    assert f"pluginserver 'fx' (pid {first}) terminated: killed by signal 9" in gw.logs()

    assert gw.stop() == 0
    assert not alive(second)
    assert f"successfully stopped pluginserver 'fx', pid {second}" in gw.logs()


def test_running_gateway_reports_server_state(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    gw = make_gateway(EMPTY_YML, conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n{conf}")
    gw.start()
    status = eventually(lambda: (s := server_status(gw, "fx")) and s["ready"] and s)
    assert status, gw.logs()
    assert status["state"] == "running" and status["restarts"] == 0
    assert status["plugins"][0]["name"] == "fx-plugin"
    os.kill(status["pid"], signal.SIGKILL)
    status = eventually(lambda: (s := server_status(gw, "fx")) and s["ready"] and s["restarts"] == 1 and s)
    assert status, gw.logs()
    assert status["last_exit"] == "killed by signal 9 (Killed)"
    text = gw.cli("plugins", "--running").stdout
    assert "state=running" in text and "restarts=1" in text and "fx-plugin" in text


def test_gateway_sigkill_leaves_no_server_behind(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    gw = make_gateway(EMPTY_YML, conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n{conf}")
    gw.start()
    assert eventually(lambda: ready_count(gw, "fx") == 1), gw.logs()
    (pid,) = started_pids(gw, "fx")
    gw.proc.kill()
    gw.proc.wait()
    assert eventually(lambda: not alive(pid)), "the plugin server outlived the gateway"


def test_crashing_server_backs_off_while_gateway_keeps_serving(make_gateway, tmp_path, upstream):
    # The server comes up, then dies after 0.4 s, every time: restarted at once, then after 1 s, 2 s, 4 s ...
    sock, conf = fixture_server_conf(tmp_path, name="crash", plugin="crash-plugin")
    conf = conf.replace("start_cmd = /usr/bin/python3", "start_cmd = /usr/bin/timeout 0.4 /usr/bin/python3")
    kong_yml = (EMPTY_YML + f"services:\n  - name: up\n    url: http://127.0.0.1:{upstream.server_address[1]}\n"
                "    routes:\n      - name: r\n        paths: [\"/ok\"]\n")
    gw = make_gateway(kong_yml, conf_extra=f"plugins = bundled, crash-plugin\npluginserver_names = crash\n{conf}")
    gw.start()
    assert eventually(lambda: "restarting pluginserver 'crash' in 4000ms" in gw.logs(), timeout=15), gw.logs()
    logs = gw.logs()
    assert "restarting pluginserver 'crash' in 0ms (restart #1)" in logs
    assert "restarting pluginserver 'crash' in 1000ms (restart #2)" in logs
    assert "restarting pluginserver 'crash' in 2000ms (restart #3)" in logs
    assert "terminated: exited with code 124" in logs  # timeout(1)'s status
    assert len(started_pids(gw, "crash")) == 4  # not one start per second as in Kong
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request("GET", "/ok")
    assert conn.getresponse().status == 200
