"""Stopping the gateway with work in every state (issue 15, item 6).

Idle keep-alive clients, a streamed response whose upstream is mid-body, and a log-phase plugin
still running when SIGTERM/SIGQUIT arrives: draining waits for the request and for the log phase
(bounded by nginx_main_worker_shutdown_timeout), nothing is used after it was destroyed (run it
with GATEHOUSE_BUILD_DIR=build-asan: any sanitizer report fails it), and the exit code is 0.
"""
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, free_port
from tcp_server import TcpServer, read_head

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-floor"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")


class StallingUpstream(TcpServer):
    """Answers one chunked response per connection: the first chunk at once, the last only when
    release() is called (bounded), so the gateway is mid-response meanwhile."""

    def __init__(self):
        self.released = threading.Event()
        super().__init__(self._answer)

    def _answer(self, conn):
        head, _ = read_head(conn)
        if head is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        self.released.wait(15)
        conn.sendall(b"4\r\nlast\r\n0\r\n\r\n")

    def release(self):
        self.released.set()

    def close(self):
        self.release()
        super().close()


@pytest.fixture
def stalling_upstream():
    server = StallingUpstream()
    yield server
    server.close()


def kong_yml(echo_port, stall_port, gate, marker):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{echo_port}
    routes:
      - name: plain
        paths: ["/plain"]
      - name: logged
        paths: ["/logged"]
        plugins:
          - name: js-slow-log
            config: {{gate: "{gate}", marker: "{marker}"}}
  - name: stall
    url: http://127.0.0.1:{stall_port}
    routes:
      - name: stream
        paths: ["/stream"]
"""


def start(make_gateway, tmp_path, upstream, stalling_upstream, drain_timeout):
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    gw = make_gateway(kong_yml(upstream.server_port, stalling_upstream.port, gate, marker))
    gw.conf.write_text(
        gw.conf.read_text()
        + f"nginx_main_worker_shutdown_timeout = {drain_timeout}\n"
        + "plugins = bundled, js-slow-log\n"
        + "pluginserver_names = js\n"
        + f"pluginserver_js_socket = {gw.prefix}/js_pluginserver.sock\n"
        + f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --kong-prefix {gw.prefix}\n"
        + f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --dump-all-plugins\n"
    )
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.start()
    return gw, gate, marker


def request(port, path):
    """A keep-alive request on a new connection; returns (socket, everything read so far)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def read_until(s, needle, limit=10.0):
    data = b""
    deadline = time.monotonic() + limit
    while needle not in data and time.monotonic() < deadline:
        piece = s.recv(65536)
        if not piece:
            break
        data += piece
    return data


def read_to_eof(s):
    data = b""
    while True:
        piece = s.recv(65536)
        if not piece:
            return data
        data += piece


def wait_for(predicate, limit=10.0):
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def assert_clean(gw):
    logs = gw.logs()
    for marker in SANITIZER_MARKERS:
        assert marker not in logs, logs[-6000:]
    assert gw.proc.returncode == 0, logs[-3000:]


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGQUIT])
def test_stop_waits_for_streams_and_log_phase(make_gateway, tmp_path, upstream, stalling_upstream, signo):
    gw, gate, marker = start(make_gateway, tmp_path, upstream, stalling_upstream, "10s")
    idle = []
    for _ in range(3):
        s = request(gw.port, "/plain")
        assert b" 200 " in read_until(s, b'"server"')
        idle.append(s)  # kept open: idle keep-alive connections
    logged = request(gw.port, "/logged")
    assert b" 200 " in read_until(logged, b'"server"')
    assert wait_for(lambda: (tmp_path / "marker.started").exists()), gw.logs()[-3000:]
    streamed = request(gw.port, "/stream")
    assert b"first" in read_until(streamed, b"first")

    gw.proc.send_signal(signo)
    assert wait_for(lambda: "draining in-flight requests" in gw.logs()), gw.logs()[-3000:]
    # A load balancer polling readiness takes the node out while it drains (Kong: 503).
    ready = request(gw.admin_port, "/status/ready")
    assert b" 503 " in read_until(ready, b"draining")
    ready.close()
    stalling_upstream.release()
    # The streamed response ends whole; the gateway keeps running for the log phase.
    assert read_until(streamed, b"0\r\n\r\n").endswith(b"4\r\nlast\r\n0\r\n\r\n")
    with pytest.raises(subprocess.TimeoutExpired):
        gw.proc.wait(timeout=0.5)
    assert not marker.exists()
    gate.write_text("go")
    gw.proc.wait(timeout=8)
    assert marker.read_text() == "200"  # the log plugin finished before the gateway exited
    for s in idle:  # idle keep-alive connections were closed, not left hanging
        s.settimeout(2)
        assert read_to_eof(s) == b""
        s.close()
    logged.close()
    streamed.close()
    assert_clean(gw)


def test_drain_timeout_bounds_a_log_phase_that_never_ends(make_gateway, tmp_path, upstream, stalling_upstream):
    gw, gate, marker = start(make_gateway, tmp_path, upstream, stalling_upstream, "1s")
    idle = request(gw.port, "/plain")
    assert b" 200 " in read_until(idle, b'"server"')
    logged = request(gw.port, "/logged")
    assert b" 200 " in read_until(logged, b'"server"')
    assert wait_for(lambda: (tmp_path / "marker.started").exists()), gw.logs()[-3000:]
    streamed = request(gw.port, "/stream")  # never released: cut by the drain timeout
    assert b"first" in read_until(streamed, b"first")

    began = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    gw.proc.wait(timeout=10)
    took = time.monotonic() - began
    assert 0.9 <= took < 6, took
    assert "1 request(s) and 1 log phase(s) still running after the drain timeout" in gw.logs()
    assert not marker.exists()
    for s in (idle, logged, streamed):
        s.close()
    assert_clean(gw)


def stream_yml(echo_port, proxy_port, gate, marker):
    return f"""
_format_version: "3.0"
services:
  - name: tcp-echo
    url: tcp://127.0.0.1:{echo_port}
    routes:
      - name: tcp-in
        protocols: [tcp]
        destinations: [{{port: {proxy_port}}}]
        plugins:
          - name: js-slow-log
            protocols: [tcp]
            config: {{gate: "{gate}", marker: "{marker}"}}
"""


def echo_until_eof(conn):
    while data := conn.recv(65536):
        conn.sendall(data)


def test_stop_waits_for_a_stream_connections_log_phase(make_gateway, tmp_path, upstream):
    echo = TcpServer(echo_until_eof)
    gate, marker = tmp_path / "gate", tmp_path / "marker"
    stream_port = free_port()
    gw = make_gateway(stream_yml(echo.port, stream_port, gate, marker))
    gw.conf.write_text(
        gw.conf.read_text()
        + f"stream_listen = 127.0.0.1:{stream_port}\n"
        + "nginx_main_worker_shutdown_timeout = 10s\n"
        + "plugins = bundled, js-slow-log\n"
        + "pluginserver_names = js\n"
        + f"pluginserver_js_socket = {gw.prefix}/js_pluginserver.sock\n"
        + f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --kong-prefix {gw.prefix}\n"
        + f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --dump-all-plugins\n"
    )
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.start()
    with socket.create_connection(("127.0.0.1", stream_port), timeout=10) as s:
        s.sendall(b"ping")
        assert read_until(s, b"ping") == b"ping"
    # The connection ended: its log phase runs and waits for the gate.
    assert wait_for(lambda: (tmp_path / "marker.started").exists()), gw.logs()[-3000:]
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # no marker can say "still draining"; the process must simply still be there
    assert gw.proc.poll() is None, "the gateway exited before the stream's log phase ended"
    gate.write_text("open")
    assert gw.proc.wait(timeout=15) == 0
    assert marker.exists() and marker.read_text() == "0"
    assert_clean(gw)
