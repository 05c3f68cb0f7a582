"""Stream (TCP/TLS) proxying through the real gatehouse binary: stream_listen, tcp/tls/
tls_passthrough routes matched on sources, destinations and snis, TCP and TLS upstreams (real
Python servers), half-close both ways, large transfers, many connections, idle timeout, no route
and upstream down; then the preread and log phases of external plugins on stream connections,
over MsgPack:1 (the npm kong-pdk JS server) and ProtoBuf:1 (the C++ PDK)."""
import hashlib
import json
import os
import queue
import signal
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import BUILD_DIR, ROOT, Gateway, free_port, upstream_health, wait_for_file, wait_listening
from tcp_server import TcpServer
from test_tls import CertificateAuthority, certificate_entity, indent, peer_common_name

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
JS_PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-stream"
CPP_GUARD = BUILD_DIR / "examples" / "bin" / "cpp-stream-guard"
CA_ID = "8f5b0e11-1111-4111-8111-111111111111"


# ---- real upstream servers ----------------------------------------------------------------------

def read_to_eof(conn):
    data = bytearray()
    while chunk := conn.recv(65536):
        data += chunk
    return bytes(data)


def echo_after_eof(conn):
    """Reads until the client half-closes, then answers b"echo:" + everything: proves both
    directions and that the gateway forwards the client's half-close."""
    conn.sendall(b"echo:" + read_to_eof(conn))


def echo_line(conn):
    """Reads one line, answers b"echo:" + it and closes: for TLS clients, which cannot half-close
    (Python's SSLSocket.shutdown drops TLS)."""
    data = b""
    while not data.endswith(b"\n") and (chunk := conn.recv(65536)):
        data += chunk
    conn.sendall(b"echo:" + data)


def streaming_echo(conn):
    """Sends every chunk back as it arrives; half-closes after the client's EOF."""
    while chunk := conn.recv(65536):
        conn.sendall(chunk)
    conn.shutdown(socket.SHUT_WR)


def speaks_first(received):
    """Sends a banner and half-closes first, then still reads what the client sends (into
    `received`): the reverse half-close."""
    def handler(conn):
        conn.sendall(b"banner from upstream")
        conn.shutdown(socket.SHUT_WR)
        received.put(read_to_eof(conn))
    return handler


def iter_queue(q):
    while not q.empty():
        yield q.get_nowait()


def says(name):
    def handler(conn):
        conn.sendall(name.encode())
    return handler


# ---- clients ----------------------------------------------------------------------------------

def exchange(sock, payload):
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)  # TCP half-close (no close_notify): the echo side sees EOF
    try:
        return read_to_eof(sock)
    except (ssl.SSLError, ConnectionResetError):
        return b""


def tls_exchange(sock, line):
    sock.sendall(line)
    try:
        return read_to_eof(sock)
    except (ssl.SSLError, ConnectionResetError):
        return b""


def connect(port, source="127.0.0.1", timeout=10):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def read_until_closed(port, timeout=10):
    """Connects and sends nothing: what the gateway sends before closing, and how long it took."""
    started = time.monotonic()
    with connect(port, timeout=timeout) as s:
        try:
            data = read_to_eof(s)
        except ConnectionResetError:
            data = b""
    return data, time.monotonic() - started


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def start_gateway(gw, ports):
    gw.start(expect_ok=False)
    for port in (gw.port, *ports):
        assert wait_listening(gw.proc, port, timeout=60), gw.logs()
    return gw


# ---- the proxying gateway (no plugins) ------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, ca):
    backend_cert, backend_key = ca.issue("backend", ["backend.example.test"], ips=["127.0.0.1"])
    backend_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_ctx.load_cert_chain(backend_cert, backend_key)
    speak_received = queue.Queue()
    servers = {
        "echo": TcpServer(echo_after_eof),
        "stream": TcpServer(streaming_echo),
        "speak": TcpServer(speaks_first(speak_received)),
        "tls_echo": TcpServer(echo_line, backend_ctx),
        "two": TcpServer(says("two")),
        "default": TcpServer(says("default")),
        "sni-wild": TcpServer(says("sni-wild")),
    }
    down_port = free_port()  # nothing listens there
    p = {name: free_port() for name in ("tcp", "stream", "speak", "down", "idle", "unrouted", "src", "tls")}
    stream_cert = ca.issue("stream", ["stream.example.test", "*.wild.example.test"])
    kong_yml = f"""
_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:{servers['echo'].port}
    routes:
      - name: tcp-in
        protocols: [tcp]
        destinations: [{{port: {p['tcp']}}}]
  - name: streaming
    url: tcp://127.0.0.1:{servers['stream'].port}
    routes:
      - name: stream-in
        protocols: [tcp]
        destinations: [{{ip: 127.0.0.1, port: {p['stream']}}}]
  - name: idle
    url: tcp://127.0.0.1:{servers['stream'].port}
    read_timeout: 600
    write_timeout: 600
    routes:
      - name: idle-in
        protocols: [tcp]
        destinations: [{{port: {p['idle']}}}]
  - name: speaker
    url: tcp://127.0.0.1:{servers['speak'].port}
    routes:
      - name: speak-in
        protocols: [tcp]
        destinations: [{{port: {p['speak']}}}]
  - name: down
    url: tcp://127.0.0.1:{down_port}
    connect_timeout: 2000
    routes:
      - name: down-in
        protocols: [tcp]
        destinations: [{{port: {p['down']}}}]
  - name: two
    url: tcp://127.0.0.1:{servers['two'].port}
    routes:
      - name: from-two
        protocols: [tcp]
        sources: [{{ip: 127.0.0.2/32}}]
        destinations: [{{port: {p['src']}}}]
  - name: default
    url: tcp://127.0.0.1:{servers['default'].port}
    routes:
      - name: from-anyone
        protocols: [tcp]
        destinations: [{{port: {p['src']}}}]
  - name: tls-echo
    url: tls://127.0.0.1:{servers['tls_echo'].port}
    tls_verify: true
    ca_certificates: ["{CA_ID}"]
    routes:
      - name: tls-in
        protocols: [tls]
        snis: ["stream.example.test"]
  - name: wild
    url: tcp://127.0.0.1:{servers['sni-wild'].port}
    routes:
      - name: tls-wild
        protocols: [tls]
        snis: ["*.wild.example.test"]
  - name: passthrough
    url: tcp://127.0.0.1:{servers['tls_echo'].port}
    routes:
      - name: pass
        protocols: [tls_passthrough]
        snis: ["backend.example.test"]
certificates:
{certificate_entity(*stream_cert, ["stream.example.test", "*.wild.example.test"])}
ca_certificates:
  - id: {CA_ID}
    cert: |
{indent(ca.cert.read_text(), 6)}
"""
    listen = ", ".join(f"127.0.0.1:{port}" + (" ssl" if name == "tls" else "") for name, port in p.items())
    workdir = tmp_path_factory.mktemp("stream-proxy")
    gw = Gateway(workdir, kong_yml, conf_extra=f"stream_listen = {listen}\n"
                 f"proxy_stream_access_log = {workdir}/stream-access.log basic\n")
    start_gateway(gw, p.values())
    gw.ports, gw.servers, gw.speak_received, gw.down_port = p, servers, speak_received, down_port
    yield gw
    gw.stop()
    for server in servers.values():
        server.close()


def test_tcp_echo_both_ways_with_client_half_close(proxy):
    with connect(proxy.ports["tcp"]) as s:
        payload = b"x" * 300000 + b"end"
        assert exchange(s, payload) == b"echo:" + payload


def test_upstream_half_close_reaches_the_client_and_the_client_can_still_send(proxy):
    with connect(proxy.ports["speak"]) as s:
        s.settimeout(10)
        banner = b""
        while chunk := s.recv(65536):  # EOF here: the upstream's half-close was forwarded
            banner += chunk
        assert banner == b"banner from upstream"
        s.sendall(b"sent after the upstream's EOF")
        s.shutdown(socket.SHUT_WR)
        assert read_to_eof(s) == b""
    # (start_gateway's port probes made connections of their own: their empty reads come first)
    received = wait_for(lambda: next((r for r in iter_queue(proxy.speak_received) if r), None))
    assert received == b"sent after the upstream's EOF"


def send_and_receive(port, payload):
    """Streams `payload` through the streaming echo while reading the echo concurrently."""
    with connect(port, timeout=30) as s:
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
        sender.start()
        received = read_to_eof(s)
        sender.join()
    return received


def test_large_transfer_both_ways_keeps_every_byte(proxy):
    payload = os.urandom(8 * 1024 * 1024)
    received = send_and_receive(proxy.ports["stream"], payload)
    assert len(received) == len(payload)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(payload).hexdigest()


def test_many_concurrent_connections(proxy):
    payloads = [os.urandom(20000 + i * 997) for i in range(60)]
    with ThreadPoolExecutor(max_workers=60) as pool:
        results = list(pool.map(lambda p: send_and_receive(proxy.ports["stream"], p), payloads))
    assert [hashlib.sha256(r).digest() for r in results] == [hashlib.sha256(p).digest() for p in payloads]


def test_idle_connection_is_closed_after_the_services_timeout(proxy):
    with connect(proxy.ports["idle"]) as s:
        s.sendall(b"ping")
        assert s.recv(100) == b"ping"
        started = time.monotonic()
        assert read_to_eof(s) == b""  # nothing sent by either side for 600 ms
        waited = time.monotonic() - started
    # the Service's 600 ms timeout, both sides bounded (its timer starts at the echo, just before `started`)
    assert 0.55 <= waited < 1.6, waited
    assert wait_for(lambda: "idle for" in proxy.logs())


def test_no_route_closes_the_connection(proxy):
    data, took = read_until_closed(proxy.ports["unrouted"])
    assert data == b"" and took < 5
    assert wait_for(lambda: f"no Route matched (tcp to port {proxy.ports['unrouted']})" in proxy.logs())


def test_upstream_down_closes_the_connection_and_is_logged(proxy):
    data, took = read_until_closed(proxy.ports["down"])
    assert data == b"" and took < 5
    assert wait_for(lambda: f"connect() to 127.0.0.1:{proxy.down_port} failed" in proxy.logs())


def test_routes_match_on_sources(proxy):
    with connect(proxy.ports["src"], source="127.0.0.2") as s:
        assert read_to_eof(s) == b"two"
    with connect(proxy.ports["src"], source="127.0.0.1") as s:
        assert read_to_eof(s) == b"default"


def test_tls_terminated_route_to_a_verified_tls_upstream(proxy, ca):
    with connect(proxy.ports["tls"]) as raw:
        with ca.client_context().wrap_socket(raw, server_hostname="stream.example.test") as s:
            assert peer_common_name(s.getpeercert()) == "stream.example.test"
            assert tls_exchange(s, b"over tls\n") == b"echo:over tls\n"


def test_tls_route_with_a_wildcard_sni(proxy, ca):
    with connect(proxy.ports["tls"]) as raw:
        with ca.client_context().wrap_socket(raw, server_hostname="a.wild.example.test") as s:
            assert read_to_eof(s) == b"sni-wild"


def test_tls_passthrough_reaches_the_backend_certificate(proxy, ca):
    with connect(proxy.ports["tls"]) as raw:
        with ca.client_context().wrap_socket(raw, server_hostname="backend.example.test") as s:
            # The handshake was with the backend itself: its certificate, not the gateway's.
            assert peer_common_name(s.getpeercert()) == "backend.example.test"
            assert tls_exchange(s, b"passed through\n") == b"echo:passed through\n"


def test_tls_connection_without_a_matching_route_is_closed(proxy, ca):
    ctx = ca.client_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with connect(proxy.ports["tls"]) as raw:
        with ctx.wrap_socket(raw, server_hostname="nobody.example.test") as s:
            assert tls_exchange(s, b"anyone?\n") == b""
    assert wait_for(lambda: "SNI nobody.example.test" in proxy.logs())


def test_stream_access_log_line_per_connection(proxy):
    with connect(proxy.ports["tcp"]) as s:
        assert exchange(s, b"count me") == b"echo:count me"
    log = proxy.dir / "stream-access.log"
    line = wait_for(lambda: next((l for l in log.read_text().splitlines() if ' 13 8 ' in l and '"tcp-in"' in l),
                                 None) if log.exists() else None)
    assert line, log.read_text() if log.exists() else "no stream access log"
    # $remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time "route" "service"
    fields = line.split()
    assert fields[0] == "127.0.0.1" and fields[3:7] == ["TCP", "200", str(len(b"echo:count me")), "8"]
    assert float(fields[7]) < 10


def test_stream_access_log_reopens_on_sigusr1(proxy):
    """Log rotation as nginx does it: the file renamed away, SIGUSR1, and the next connection's
    line goes to a new file of the configured name (the gateway owns the log and reopens it)."""
    log = proxy.dir / "stream-access.log"
    with connect(proxy.ports["tcp"]) as s:
        assert exchange(s, b"before rotation") == b"echo:before rotation"
    assert wait_for(lambda: log.exists() and ' 20 15 ' in log.read_text())
    rotated = proxy.dir / "stream-access.log.1"
    os.rename(log, rotated)
    signals_seen = proxy.logs().count("SIGUSR1: reopening log files")
    proxy.proc.send_signal(signal.SIGUSR1)
    assert wait_for(lambda: proxy.logs().count("SIGUSR1: reopening log files") > signals_seen)
    with connect(proxy.ports["tcp"]) as s:
        assert exchange(s, b"after rotation") == b"echo:after rotation"
    line = wait_for(lambda: next((l for l in log.read_text().splitlines() if ' 19 14 ' in l), None)
                    if log.exists() else None)
    assert line and '"tcp-in"' in line, log.read_text() if log.exists() else "no new stream access log"
    assert ' 19 14 ' not in rotated.read_text()


# ---- preread and log phases: a JS (MsgPack:1) and a C++ (ProtoBuf:1) plugin ----------------------

def plugin_servers_conf(prefix, js_extra="", cpp_protocol="ProtoBuf:1"):
    return (f"plugins = bundled, js-stream-guard, cpp-stream-guard\n"
            f"pluginserver_names = js, cpp-stream-guard\n"
            f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
            f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --kong-prefix {prefix}\n"
            f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --dump-all-plugins\n"
            f"pluginserver_cpp_stream_guard_socket = {prefix}/cpp-stream-guard.socket\n"
            f"pluginserver_cpp_stream_guard_start_cmd = {CPP_GUARD} -kong-prefix {prefix}\n"
            f"pluginserver_cpp_stream_guard_query_cmd = {CPP_GUARD} -dump -kong-prefix {prefix}\n"
            # Kong's ProtoBuf:1 unless told otherwise (the C++ PDK's default is Gatehouse:1, docs/protocol.md).
            f"pluginserver_cpp_stream_guard_protocol = {cpp_protocol}\n" + js_extra)


def guarded_route(name, port, plugin, config):
    return (f"      - name: {name}\n        protocols: [tcp]\n        destinations: [{{port: {port}}}]\n"
            f"        plugins:\n          - name: {plugin}\n            protocols: [tcp, tls]\n"
            f"            config: {json.dumps(config)}\n")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    if not CPP_GUARD.exists():
        pytest.fail(f"{CPP_GUARD} is not built (ninja cpp-stream-guard)")
    echo = TcpServer(echo_after_eof)
    workdir = tmp_path_factory.mktemp("stream-plugins")
    log_file = workdir / "phases.jsonl"
    cases = {
        "js-allow": ("js-stream-guard", {"allow": ["127.0.0.1"], "log_file": str(log_file)}),
        "js-deny": ("js-stream-guard", {"allow": ["10.9.9.9"], "log_file": str(log_file)}),
        "js-banner": ("js-stream-guard", {"banner": "hello from js preread\n"}),
        "cpp-allow": ("cpp-stream-guard", {"allow": ["127.0.0.1"], "log_file": str(log_file)}),
        "cpp-deny": ("cpp-stream-guard", {"allow": ["10.9.9.9"], "log_file": str(log_file)}),
        "cpp-banner": ("cpp-stream-guard", {"banner": "hello from cpp preread\n"}),
        "js-stall": ("js-stream-guard", {"allow": ["127.0.0.1"], "stall_ms": 30000,
                                         "started_file": str(workdir / "stall-started")}),
        "js-crash": ("js-stream-guard", {"allow": ["127.0.0.1"], "crash": True}),
    }
    ports = {name: free_port() for name in [*cases, "open"]}
    routes = "".join(guarded_route(name, ports[name], plugin, config) for name, (plugin, config) in cases.items())
    routes += f"      - name: open\n        protocols: [tcp]\n        destinations: [{{port: {ports['open']}}}]\n"
    # A plugin left at its default protocols (http, https, grpc, grpcs) never runs on stream connections.
    routes += ("        plugins:\n          - name: js-stream-guard\n"
               f"            config: {json.dumps({'allow': ['10.9.9.9']})}\n")
    gw = Gateway(workdir, echo_service_yml(echo.port, routes))
    gw.prefix.mkdir(parents=True, exist_ok=True)
    listen = ", ".join(f"127.0.0.1:{port}" for port in ports.values())
    with open(gw.conf, "a") as f:
        f.write(f"stream_listen = {listen}\n" + plugin_servers_conf(gw.prefix, "pluginserver_js_timeout = 2000\n"))
    # Not probed: a connection there stalls or kills the JS server (all listeners open together).
    start_gateway(gw, [port for name, port in ports.items() if name not in ("js-stall", "js-crash")])
    gw.ports, gw.echo, gw.log_file, gw.stall_started = ports, echo, log_file, workdir / "stall-started"
    yield gw
    gw.stop()
    echo.close()


def log_entries(gw, plugin, route):
    def find():
        if not gw.log_file.exists():
            return None
        entries = [json.loads(line) for line in gw.log_file.read_text().splitlines() if line.strip()]
        return [e for e in entries if e["plugin"] == plugin and e["route"] == route]
    return wait_for(find) or []


@pytest.mark.parametrize("plugin", ["js", "cpp"])
def test_preread_plugin_allows_by_client_address_and_log_sees_the_connection(guarded, plugin):
    with connect(guarded.ports[f"{plugin}-allow"]) as s:
        assert exchange(s, b"let me in") == b"echo:let me in"
    entries = log_entries(guarded, plugin, f"{plugin}-allow")
    assert entries, guarded.logs()[-3000:]
    entry = entries[-1]  # (start_gateway's port probe made one too)
    assert entry["subsystem"] == "stream" and entry["protocol"] == "tcp" and entry["ip"] == "127.0.0.1"
    # What preread noted in kong.ctx.shared, read back in the log phase.
    noted = entry["preread"]
    assert noted["ip"] == noted["forwarded_ip"] == "127.0.0.1" and noted["subsystem"] == "stream"
    assert noted["port"] == noted["forwarded_port"] and noted["port"] > 0
    if plugin == "js":  # MsgPack:1 reports PDK errors to the plugin (ProtoBuf:1 drops them, as Kong)
        assert "kong.request.get_path cannot be called in preread phase" in noted["request_error"]
        assert "kong.router.get_route cannot be called in preread phase" in noted["router_error"]
        assert "function kong.request.get_header is not available in the stream subsystem" in entry["request_error"]


@pytest.mark.parametrize("plugin", ["js", "cpp"])
def test_preread_plugin_rejects_by_client_address(guarded, plugin):
    accepted_before = guarded.echo.accepted
    data, took = read_until_closed(guarded.ports[f"{plugin}-deny"])
    # Kong's stream exit: a status >= 400 sends nothing; the reason goes to the error log.
    assert data == b"" and took < 10
    assert guarded.echo.accepted == accepted_before
    assert wait_for(lambda: f"unable to proxy stream connection, status: 403, err: {plugin}-stream-guard denied "
                            "127.0.0.1" in guarded.logs())


@pytest.mark.parametrize("plugin", ["js", "cpp"])
def test_response_exit_in_preread_answers_and_closes(guarded, plugin):
    accepted_before = guarded.echo.accepted
    data, _ = read_until_closed(guarded.ports[f"{plugin}-banner"])
    assert data == f"hello from {plugin} preread\n".encode()
    assert guarded.echo.accepted == accepted_before


def test_plugin_without_stream_protocols_does_not_run(guarded):
    with connect(guarded.ports["open"]) as s:
        assert exchange(s, b"no plugin here") == b"echo:no plugin here"


def test_slow_plugin_server_closes_the_connection_within_its_timeout(guarded):
    """pluginserver_js_timeout = 2000: the stalled preread ends the connection (fail_closed) while
    other connections, with and without plugins, go on being served."""
    results = {}

    def stalled():
        results["stalled"] = read_until_closed(guarded.ports["js-stall"], timeout=30)

    thread = threading.Thread(target=stalled)
    thread.start()
    wait_for_file(guarded.stall_started)  # the stalled preread event is open
    with connect(guarded.ports["open"]) as s:
        assert exchange(s, b"meanwhile") == b"echo:meanwhile"
    with connect(guarded.ports["cpp-allow"]) as s:
        assert exchange(s, b"meanwhile") == b"echo:meanwhile"
    thread.join(30)
    data, took = results["stalled"]
    assert data == b"" and 2.0 <= took < 3.0, took  # the 2 s plugin timeout, both sides bounded
    assert wait_for(lambda: "plugin 'js-stream-guard' failed in phase preread (timeout)" in guarded.logs())
    # The hung server was restarted: the JS plugin serves again.
    assert wait_for(lambda: echoes_through(guarded.ports["js-allow"], b"again"), timeout=30)


def echoes_through(port, payload):
    """True when a connection to `port` is proxied to the echo upstream (a restarted plugin allows it)."""
    try:
        with connect(port) as s:
            return exchange(s, payload) == b"echo:" + payload
    except OSError:
        return False


def test_crashed_plugin_server_closes_the_connection_and_comes_back(guarded):
    """The JS server exits in the middle of a preread event: that connection is closed at once,
    connections through the C++ server and without plugins are served, and the supervisor's
    restart brings the JS plugin back."""
    data, took = read_until_closed(guarded.ports["js-crash"], timeout=30)
    assert data == b"" and took < 8, took
    with connect(guarded.ports["cpp-allow"]) as s:
        assert exchange(s, b"still here") == b"echo:still here"
    with connect(guarded.ports["open"]) as s:
        assert exchange(s, b"still here") == b"echo:still here"
    assert wait_for(lambda: "plugin 'js-stream-guard' failed in phase preread" in guarded.logs())
    assert wait_for(lambda: echoes_through(guarded.ports["js-allow"], b"back"), timeout=30)


def echo_service_yml(port, routes):
    """kong.yml with one TCP service `echo` at `port` and `routes` (kong.yml lines, indented 6)."""
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:{port}
    routes:
{routes}"""


def test_cpp_preread_plugin_over_gatehouse1(tmp_path):
    """The same C++ plugin over the C++ PDK's own protocol (Gatehouse:1, prefetched reads): allows,
    rejects and answers in preread alike."""
    echo = TcpServer(echo_after_eof)
    log_file = tmp_path / "phases.jsonl"
    cases = {"allow": {"allow": ["127.0.0.1"], "log_file": str(log_file)}, "deny": {"allow": ["10.9.9.9"]},
             "banner": {"banner": "hello over gatehouse1\n"}}
    ports = {name: free_port() for name in cases}
    routes = "".join(guarded_route(name, ports[name], "cpp-stream-guard", config) for name, config in cases.items())
    gw = Gateway(tmp_path / "gw", echo_service_yml(echo.port, routes))
    gw.prefix.mkdir(parents=True, exist_ok=True)
    with open(gw.conf, "a") as f:
        f.write(f"stream_listen = {', '.join(f'127.0.0.1:{p}' for p in ports.values())}\n"
                + plugin_servers_conf(gw.prefix, cpp_protocol="Gatehouse:1"))
    try:
        start_gateway(gw, ports.values())
        assert "loading protocol Gatehouse:1 for plugin cpp-stream-guard" in gw.logs()
        with connect(ports["allow"]) as s:
            assert exchange(s, b"in") == b"echo:in"
        assert read_until_closed(ports["deny"])[0] == b""
        assert read_until_closed(ports["banner"])[0] == b"hello over gatehouse1\n"
        entries = wait_for(lambda: log_file.exists() and [json.loads(l) for l in log_file.read_text().splitlines()])
        assert entries and entries[-1]["preread"]["subsystem"] == "stream" and entries[-1]["route"] == "allow"
    finally:
        gw.stop()
        echo.close()


def test_certificate_phase_runs_on_tls_stream_connections(tmp_path):
    """A global plugin's certificate phase runs in a TLS stream connection's handshake, and what it
    puts in kong.ctx.shared reaches that connection's preread and log phases (as on HTTPS); a
    plain TCP connection has no handshake, so nothing."""
    ca = CertificateAuthority(tmp_path / "ca")
    echo = TcpServer(echo_line)
    log_file = tmp_path / "phases.jsonl"
    ports = {"tls": free_port(), "tcp": free_port()}
    sni = "cert.example.test"
    global_plugin = {"allow": ["127.0.0.1"], "log_file": str(log_file)}
    gw = Gateway(tmp_path / "gw", echo_service_yml(echo.port, f"""      - name: tls-in
        protocols: [tls]
        snis: ["{sni}"]
      - name: tcp-in
        protocols: [tcp]
        destinations: [{{port: {ports['tcp']}}}]
""") + f"""plugins:
  - name: js-stream-guard
    protocols: [tcp, tls]
    config: {json.dumps(global_plugin)}
certificates:
{certificate_entity(*ca.issue("cert", [sni]), [sni])}
""")
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.log_file = log_file  # read by log_entries
    with open(gw.conf, "a") as f:
        f.write(f"stream_listen = 127.0.0.1:{ports['tls']} ssl, 127.0.0.1:{ports['tcp']}\n"
                + plugin_servers_conf(gw.prefix))
    try:
        start_gateway(gw, ports.values())
        with connect(ports["tls"]) as raw:
            with ca.client_context().wrap_socket(raw, server_hostname=sni) as s:
                assert tls_exchange(s, b"handshake seen?\n") == b"echo:handshake seen?\n"
        (tls_entry,) = log_entries(gw, "js", "tls-in")
        assert tls_entry["cert_sni"] == sni and tls_entry["protocol"] == "tls", tls_entry
        assert tls_entry["preread"]["subsystem"] == "stream"
        with connect(ports["tcp"]) as s:
            assert s.sendall(b"no handshake\n") is None and read_to_eof(s) == b"echo:no handshake\n"
        (tcp_entry,) = log_entries(gw, "js", "tcp-in")
        assert tcp_entry["cert_sni"] is None, tcp_entry
    finally:
        gw.stop()
        echo.close()


# ---- services on an upstream: balancing, retries, passive health checks ---------------------------

def test_service_on_an_upstream_is_balanced_with_retries_and_passive_checks(tmp_path):
    """Kong balances stream services too: a service whose host names an upstream goes to its
    targets in turn, a target that refuses is retried on the next one and counted by the passive
    checks, and an upstream without a target closes the connection (status 503 in the log)."""
    a, b = TcpServer(says("a")), TcpServer(says("b"))
    dead = free_port()  # nothing listens there
    ports = {name: free_port() for name in ("balanced", "empty")}
    gw = Gateway(tmp_path / "gw", f"""
_format_version: "3.0"
upstreams:
  - name: u
    healthchecks:
      passive:
        unhealthy: {{tcp_failures: 1}}
    targets:
      - target: 127.0.0.1:{a.port}
      - target: 127.0.0.1:{dead}
      - target: 127.0.0.1:{b.port}
  - name: nobody
services:
  - name: balanced
    host: u
    port: 80
    protocol: tcp
    retries: 2
    routes:
      - name: balanced-in
        protocols: [tcp]
        destinations: [{{port: {ports['balanced']}}}]
  - name: empty
    host: nobody
    protocol: tcp
    routes:
      - name: empty-in
        protocols: [tcp]
        destinations: [{{port: {ports['empty']}}}]
""", conf_extra=f"stream_listen = {', '.join(f'127.0.0.1:{p}' for p in ports.values())}\n"
                 f"proxy_stream_access_log = {tmp_path}/stream-access.log basic\n")
    try:
        start_gateway(gw, ports.values())
        answers = []
        for _ in range(6):
            with connect(ports["balanced"]) as s:
                answers.append(read_to_eof(s))
        assert set(answers) == {b"a", b"b"}, answers  # every connection reached a live target
        assert wait_for(lambda: f"connect() to 127.0.0.1:{dead} failed" in gw.logs())
        health = upstream_health(gw, "u")
        assert health[f"127.0.0.1:{dead}"] == "UNHEALTHY", health
        assert health[f"127.0.0.1:{a.port}"] == health[f"127.0.0.1:{b.port}"] == "HEALTHY", health

        assert read_until_closed(ports["empty"])[0] == b""
        log = tmp_path / "stream-access.log"
        line = wait_for(lambda: next((l for l in log.read_text().splitlines() if '"empty-in"' in l), None)
                        if log.exists() else None)
        assert line and line.split()[4] == "503", line
        statuses = [l.split()[4] for l in log.read_text().splitlines() if '"balanced-in"' in l]
        assert statuses == ["200"] * 6, statuses
    finally:
        gw.stop()
        a.close()
        b.close()
