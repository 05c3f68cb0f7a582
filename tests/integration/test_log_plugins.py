"""The log plugins (file-log, tcp-log, udp-log, http-log), natively, against real log servers
(tests/support/log_collectors.py): Kong's log entry (kong.log.serialize) arrives after the response,
files follow a rotation (rename + SIGUSR1, or a reload), a log server that is down, hangs or refuses
never slows requests, its queue stays bounded and counts its drops, and a server that comes back
gets the retried entries. A real gatehouse, a real upstream.
"""
import json
import os
import signal
import time
import uuid

import pytest

from log_collectors import HttpCollector, TcpCollector, UdpCollector, tls_context
from test_floor_plugins import get
from test_tls import CertificateAuthority


def kong_yml(upstream_port, plugins):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: logged
        paths: ["/logged"]
        plugins:
{plugins}
"""


def plugin(name, **config):
    lines = [f"          - name: {name}", "            config:"]
    lines += [f"              {key}: {json.dumps(value)}" for key, value in config.items()]
    return "\n".join(lines)


def start(make_gateway, upstream, plugins, **kw):
    return make_gateway(kong_yml(upstream.server_address[1], plugins), **kw).start()


def check_kong_entry(entry, request_id=None):
    """The fields of Kong's log serializer that a log server relies on."""
    assert entry["request"]["method"] == "GET"
    assert entry["request"]["uri"].startswith("/logged")
    assert entry["response"]["status"] == 200
    assert entry["route"]["name"] == "logged"
    assert entry["service"]["name"] == "echo"
    assert entry["upstream_uri"].startswith("/")
    assert {"request", "kong", "proxy"} <= set(entry["latencies"])
    assert entry["client_ip"] == "127.0.0.1"
    assert isinstance(entry["started_at"], int)
    if request_id:
        assert entry["request"]["headers"]["x-test-id"] == request_id


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def wait_lines(path, n, timeout=15.0):
    """The file's entries once it has n (the gateway writes them after the responses)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            entries = read_lines(path)
            if len(entries) >= n:
                return entries
        time.sleep(0.02)
    raise AssertionError(f"{path}: expected {n} entries, got {len(read_lines(path)) if path.exists() else 0}")


# ---------------------------------------------------------------- file-log

def test_file_log_writes_kong_entries_one_per_line(make_gateway, upstream, tmp_path):
    log = tmp_path / "requests.log"
    gw = start(make_gateway, upstream, plugin("file-log", path=str(log)))
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for request_id in ids:
        resp, _ = get(gw, "/logged?x=1", {"X-Test-Id": request_id, "Authorization": "Basic c2VjcmV0"})
        assert resp.status == 200
    entries = wait_lines(log, 3)
    assert [e["request"]["headers"]["x-test-id"] for e in entries] == ids
    for entry, request_id in zip(entries, ids):
        check_kong_entry(entry, request_id)
        assert entry["request"]["headers"]["authorization"] == "REDACTED"
        assert entry["request"]["querystring"] == {"x": "1"}
    assert oct(log.stat().st_mode & 0o777) == "0o644"


def test_file_log_follows_a_rotation_on_sigusr1_and_on_reload(make_gateway, upstream, tmp_path):
    log = tmp_path / "requests.log"
    gw = start(make_gateway, upstream, plugin("file-log", path=str(log)))
    get(gw, "/logged", {"X-Test-Id": "before"})
    wait_lines(log, 1)
    rotated = tmp_path / "requests.log.1"
    os.rename(log, rotated)
    gw.proc.send_signal(signal.SIGUSR1)
    # The signal is handled on the control thread; the next write after it reopens. A request
    # racing the signal may still land in the rotated file: send until one reaches the new file.
    deadline = time.time() + 15
    while not log.exists() and time.time() < deadline:
        get(gw, "/logged", {"X-Test-Id": "after"})
        time.sleep(0.05)
    entries = wait_lines(log, 1)
    assert {e["request"]["headers"]["x-test-id"] for e in entries} == {"after"}
    assert read_lines(rotated)[0]["request"]["headers"]["x-test-id"] == "before"
    assert "reopening log files" in gw.logs()

    # A reload reopens as well (logrotate's postrotate may run `gatehouse reload`).
    os.rename(log, tmp_path / "requests.log.2")
    result = gw.cli("reload")
    assert result.returncode == 0, result.stdout + result.stderr
    get(gw, "/logged", {"X-Test-Id": "after-reload"})
    entries = wait_lines(log, 1)
    assert entries[0]["request"]["headers"]["x-test-id"] == "after-reload"


def test_file_log_reopen_true_reopens_for_every_write(make_gateway, upstream, tmp_path):
    log = tmp_path / "requests.log"
    gw = start(make_gateway, upstream, plugin("file-log", path=str(log), reopen=True))
    get(gw, "/logged", {"X-Test-Id": "one"})
    wait_lines(log, 1)
    os.rename(log, tmp_path / "moved.log")  # no signal: reopen = true alone finds the new file
    get(gw, "/logged", {"X-Test-Id": "two"})
    assert wait_lines(log, 1)[0]["request"]["headers"]["x-test-id"] == "two"


def test_file_log_that_cannot_open_its_file_does_not_fail_requests(make_gateway, upstream, tmp_path):
    log = tmp_path / "missing-dir" / "requests.log"
    gw = start(make_gateway, upstream, plugin("file-log", path=str(log)))
    for _ in range(5):
        resp, _ = get(gw, "/logged")
        assert resp.status == 200
    deadline = time.time() + 10
    while "failed to open the file: No such file or directory" not in gw.logs() and time.time() < deadline:
        time.sleep(0.05)
    assert "failed to open the file: No such file or directory" in gw.logs()


@pytest.mark.parametrize("config, message", [
    ({"path": "/tmp/a*b.log"}, "config.path: not a valid filename"),
    ({"path": "/tmp/x.log", "custom_fields_by_lua": {"foo": "return 1"}},
     "config.custom_fields_by_lua is not supported"),
])
def test_file_log_bad_configs_are_refused(make_gateway, upstream, config, message):
    gw = make_gateway(kong_yml(upstream.server_address[1], plugin("file-log", **config)))
    result = gw.cli("config", "check")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_custom_fields_by_lua_refusal_points_to_set_serialize_value(make_gateway, upstream):
    gw = make_gateway(kong_yml(upstream.server_address[1],
                               plugin("tcp-log", host="127.0.0.1", port=9, custom_fields_by_lua={"a": "return 1"})))
    result = gw.cli("config", "check")
    assert result.returncode != 0
    assert "kong.log.set_serialize_value" in result.stdout + result.stderr


# ---------------------------------------------------------------- tcp-log, udp-log

def test_tcp_log_sends_lines_on_a_kept_alive_connection(make_gateway, upstream):
    collector = TcpCollector()
    try:
        gw = start(make_gateway, upstream, plugin("tcp-log", host="127.0.0.1", port=collector.port))
        ids = [str(uuid.uuid4()) for _ in range(5)]
        for i, request_id in enumerate(ids):
            get(gw, "/logged", {"X-Test-Id": request_id})
            collector.wait_for(i + 1)  # delivered before the next request: the connection is idle
        entries = collector.wait_for(5)
        assert sorted(e["request"]["headers"]["x-test-id"] for e in entries) == sorted(ids)
        for entry in entries:
            check_kong_entry(entry)
        assert collector.accepted == 1  # keepalive (60 s by default)
    finally:
        collector.close()


def test_tcp_log_over_tls_with_sni(make_gateway, upstream, tmp_path):
    ca = CertificateAuthority(tmp_path / "ca")
    cert, key = ca.issue("logs", ["logs.example.test"])
    collector = TcpCollector(context=tls_context(cert, key))
    try:
        gw = start(make_gateway, upstream, plugin("tcp-log", host="127.0.0.1", port=collector.port, tls=True,
                                                  tls_sni="logs.example.test"))
        get(gw, "/logged", {"X-Test-Id": "tls"})
        entry = collector.wait_for(1)[0]
        check_kong_entry(entry, "tls")
        assert collector.server_names == ["logs.example.test"]
    finally:
        collector.close()


def test_udp_log_sends_one_datagram_per_entry(make_gateway, upstream):
    collector = UdpCollector()
    try:
        gw = start(make_gateway, upstream, plugin("udp-log", host="127.0.0.1", port=collector.port))
        for i in range(4):
            get(gw, "/logged", {"X-Test-Id": f"u{i}"})
        entries = collector.wait_for(4)
        assert sorted(e["request"]["headers"]["x-test-id"] for e in entries) == ["u0", "u1", "u2", "u3"]
        check_kong_entry(entries[0])
        assert all(not d.endswith(b"\n") for d in collector.datagrams)
    finally:
        collector.close()


def test_tcp_log_to_a_closed_port_neither_fails_nor_slows_requests(make_gateway, upstream):
    collector = TcpCollector()
    port = collector.port
    collector.close()  # nothing listens there any more: connections are refused
    gw = start(make_gateway, upstream, plugin("tcp-log", host="127.0.0.1", port=port))
    started = time.time()
    for _ in range(20):
        resp, _ = get(gw, "/logged")
        assert resp.status == 200
    assert time.time() - started < 5
    deadline = time.time() + 10
    needle = f"failed to connect to 127.0.0.1:{port}: connection refused"
    while needle not in gw.logs() and time.time() < deadline:
        time.sleep(0.05)
    assert needle in gw.logs()
    # Logged once per interval, not once per request.
    assert gw.logs().count(needle) < 5
