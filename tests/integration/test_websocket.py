"""WebSocket (HTTP Upgrade) through the real gateway, as Kong proxies it: a real WebSocket upstream and
client (Debian's python3-websockets), plugins in front of the handshake (a native one, an external one
on the JS plugin server), TLS on either side, idle timeouts, and hostile handshakes with raw sockets."""
import asyncio
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import websockets

from conftest import ROOT, Gateway, free_port, stop_all, wait_listening
from tcp_server import TcpServer, read_head as read_http_head
from test_tls import CertificateAuthority, certificate_entity
from test_upstream_log_headers import logged
import echo_upstream

WS_UPSTREAM = ROOT / "tests" / "support" / "ws_upstream.py"
JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
JS_PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-phases"
API_KEY = "ws-secret-key"


# ---- upstreams ------------------------------------------------------------------------------------

class WsUpstream:
    """tests/support/ws_upstream.py in its own process (echo, /headers, /push, /close, /refuse)."""

    def __init__(self, tls=None):
        args = [sys.executable, str(WS_UPSTREAM)] + (["--tls", *map(str, tls)] if tls else [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), line + self.proc.stdout.read()
        self.port = int(line.split()[1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class RawUpstream:
    """A hand-made upstream (one request per connection) that records what it received: answers 101
    and then echoes raw bytes, whatever the request asked for; for a path with /deaf, never reads
    again after its 101; for /halfclose, reads to the end of stream, then sends it all back reversed."""

    def __init__(self):
        self.received = []  # (head bytes, body bytes) per connection
        self.release = threading.Event()  # ends the deaf connections
        self.server = TcpServer(self.handle)
        self.port = self.server.port

    def stop(self):
        self.release.set()
        self.server.close()

    def handle(self, conn):
        head, rest = read_http_head(conn)
        if head is None:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += conn.recv(65536)
        self.received.append((head, rest[:length]))
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: not-checked\r\n\r\n" + rest[length:])
        if b"/deaf" in head:
            self.release.wait(60)
            return
        if b"/halfclose" in head:
            conn.sendall(read_until_closed(conn)[::-1])
            return
        while True:
            piece = conn.recv(65536)
            if not piece:
                return
            conn.sendall(piece)


# ---- the gateway ----------------------------------------------------------------------------------

def service(name, url, paths, extra="", route_extra=""):
    return (f"  - name: {name}\n    url: {url}\n{extra}    routes:\n      - name: {name}\n"
            f"        paths: {json.dumps(paths)}\n{route_extra}")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One gateway for the module: plain and TLS listeners, a route per situation."""
    base = tmp_path_factory.mktemp("websocket")
    ca = CertificateAuthority(base / "ca")
    edge_cert = ca.issue("edge", ["ws.example.test"])
    up_cert = ca.issue("upstream", ["localhost"], ips=["127.0.0.1"])
    plain, tls_up, raw = WsUpstream(), WsUpstream(tls=up_cert), RawUpstream()
    echo = echo_upstream.start_in_thread(0, "echo")
    log_file = base / "js-gate.jsonl"
    ws_url = f"http://127.0.0.1:{plain.port}"
    kong_yml = (
        "_format_version: \"3.0\"\nservices:\n"
        + service("ws", ws_url, ["/ws"])
        + service("short", ws_url, ["/short"], extra="    read_timeout: 1000\n")
        + service("keyed", ws_url, ["/keyed"],
                  route_extra="        plugins:\n          - name: key-auth\n")
        + service("js", ws_url, ["/js"],
                  route_extra=f"        plugins:\n          - name: js-gate\n"
                              f"            config: {{tag: ws, log_file: \"{log_file}\"}}\n")
        + service("transformed", ws_url, ["/transformed"],
                  route_extra="        plugins:\n          - name: response-transformer\n"
                              "            config: {add: {headers: [\"x-transformed:yes\"]}}\n")
        + service("tls-upstream", f"https://127.0.0.1:{tls_up.port}", ["/tls-upstream"],
                  extra="    tls_verify: false\n")
        + service("raw", f"http://127.0.0.1:{raw.port}", ["/raw"], route_extra="        strip_path: false\n")
        + service("deaf", f"http://127.0.0.1:{raw.port}", ["/deaf"], extra="    write_timeout: 1000\n",
                  route_extra="        strip_path: false\n")
        + service("plain", f"http://127.0.0.1:{echo.server_port}", ["/plain"])
        + f"consumers:\n  - username: ws-user\n    keyauth_credentials:\n      - key: {API_KEY}\n"
        + "certificates:\n" + certificate_entity(*edge_cert, ["ws.example.test"]))
    gw = Gateway(base / "gw", kong_yml)
    gw.tls_port = free_port()
    gw.prefix.mkdir(parents=True, exist_ok=True)
    with open(gw.conf, "a") as f:
        f.write(f"proxy_listen = 127.0.0.1:{gw.port}, 127.0.0.1:{gw.tls_port} ssl\n"
                "plugins = bundled, js-gate\npluginserver_names = js\n"
                f"pluginserver_js_socket = {gw.prefix}/js_pluginserver.sock\n"
                f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --kong-prefix {gw.prefix}\n"
                f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --dump-all-plugins\n")
    gw.start()
    assert wait_listening(gw.proc, gw.tls_port)
    client_tls = ssl.create_default_context(cafile=str(ca.cert))
    yield type("Env", (), dict(gw=gw, raw=raw, log_file=log_file, client_tls=client_tls))
    try:
        stop_all([gw])
    finally:
        for upstream in (plain, tls_up):
            upstream.stop()
        raw.stop()
        echo.shutdown()
        echo.server_close()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 120))


def connect(gw, path, **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("compression", None)
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", 30)
    return websockets.connect(f"ws://127.0.0.1:{gw.port}{path}", **kw)


# ---- raw WebSocket bytes --------------------------------------------------------------------------

def handshake_request(path, extra=b""):
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: ws.example.test\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n")


def client_frame(payload, opcode=0x1):
    """A final, masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_head(sock):
    head, rest = read_http_head(sock)
    assert head, f"connection closed after {rest!r}"
    return head.decode("latin-1").rstrip("\r\n"), rest


def read_until_closed(sock, data=b""):
    while True:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece


def read_server_frame(sock, data):
    """One unmasked server frame from `data` + the socket: (opcode, payload, rest)."""
    while len(data) < 2:
        data += sock.recv(65536)
    opcode, size = data[0] & 0x0F, data[1] & 0x7F
    offset = 2
    if size == 126:
        size, offset = struct.unpack("!H", data[2:4])[0], 4
    while len(data) < offset + size:
        data += sock.recv(65536)
    return opcode, data[offset:offset + size], data[offset + size:]


def header_map(head):
    lines = head.split("\r\n")
    return lines[0], {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# ---- echo, frames, concurrency --------------------------------------------------------------------

def test_echo_with_kongs_headers_both_ways(env):
    async def scenario():
        async with connect(env.gw, "/ws/headers?x=1") as ws:
            seen = json.loads(await ws.recv())
            await ws.send("hello websocket")
            assert await ws.recv() == "hello websocket"
            return seen, ws.response_headers

    seen, response_headers = run(scenario())
    upstream = {k.lower(): v for k, v in seen["headers"]}
    assert seen["path"] == "/headers?x=1"  # strip_path, query kept
    assert upstream["connection"] == "keep-alive, Upgrade" and upstream["upgrade"] == "websocket"
    assert upstream["x-forwarded-proto"] == "http" and upstream["x-forwarded-prefix"] == "/ws"
    assert upstream["host"] == f"127.0.0.1:{upstream['host'].rsplit(':', 1)[1]}"  # the service's host
    assert response_headers["Connection"] == "upgrade" and response_headers["Upgrade"] == "websocket"
    assert response_headers["Via"].startswith("1.1 gatehouse/")
    assert "X-Kong-Upstream-Latency" in response_headers and "X-Kong-Request-Id" in response_headers


def test_binary_and_large_frames_arrive_intact(env):
    async def scenario():
        async with connect(env.gw, "/ws") as ws:
            for size in (0, 1, 125, 126, 65535, 65536, 300_000):
                payload = os.urandom(size)
                await ws.send(payload)
                assert await ws.recv() == payload
            big = os.urandom(8 * 1024 * 1024)
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("text after binary")
            assert await ws.recv() == "text after binary"

    run(scenario())


def test_two_hundred_concurrent_sockets(env):
    async def one(i, state):
        async with connect(env.gw, f"/ws/c{i}") as ws:
            state["open"] += 1
            if state["open"] == 200:
                state["all_open"].set()
            await state["all_open"].wait()  # all 200 tunnels open at once before any talks
            for n in range(3):
                await ws.send(f"{i}:{n}")
                assert await ws.recv() == f"{i}:{n}"

    async def scenario():
        state = {"open": 0, "all_open": asyncio.Event()}
        await asyncio.gather(*(one(i, state) for i in range(200)))

    run(scenario())


# ---- plugins in front of the handshake ------------------------------------------------------------

def test_native_plugin_refuses_the_handshake(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/keyed"))
        head, rest = read_head(sock)
        body = read_until_closed(sock, rest)  # closed after an upgrade was refused
    status, headers = header_map(head)
    assert status == "HTTP/1.1 401 Unauthorized"
    assert json.loads(body) == {"message": "No API key found in request"}
    assert headers["connection"] == "close" and "upgrade" not in headers

    async def with_key():
        async with connect(env.gw, "/keyed/headers", extra_headers={"apikey": API_KEY}) as ws:
            seen = {k.lower(): v for k, v in json.loads(await ws.recv())["headers"]}
            await ws.send("in")
            assert await ws.recv() == "in"
            return seen

    seen = run(with_key())
    assert seen["x-consumer-username"] == "ws-user"


def test_external_plugin_refuses_alters_and_logs_the_tunnel(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/js/denied", b"X-Deny: nope\r\n"))
        head, rest = read_head(sock)
        body = read_until_closed(sock, rest)
    status, headers = header_map(head)
    assert status == "HTTP/1.1 403 Forbidden" and headers["x-denied-by"] == "js-gate"
    assert json.loads(body) == {"denied": "nope"}

    async def allowed():
        async with connect(env.gw, "/js/headers") as ws:
            seen = json.loads(await ws.recv())
            await ws.send(b"u" * 100_000)
            assert await ws.recv() == b"u" * 100_000
            return seen, ws.response_headers

    seen, response_headers = run(allowed())
    seen_path, seen = seen["path"], {k.lower(): v for k, v in seen["headers"]}
    assert seen["x-from-plugin"] == f"ws:127.0.0.1:{env.gw.port}"  # the handshake as the plugin altered it
    assert seen_path.startswith("/rewritten/js/headers")
    assert response_headers["x-plugin-access"] == "ws"  # kong.response.set_header on the 101
    entry = logged(env.log_file, "/js/headers")  # the log phase ran once the tunnel closed
    assert entry["status"] == 101
    assert entry["request_size"] > 100_000 and entry["response_size"] > 100_000
    assert logged(env.log_file, "/js/denied")["status"] == 403


def test_response_phase_plugins_do_not_stop_an_upgrade(env):
    async def scenario():
        async with connect(env.gw, "/transformed") as ws:
            await ws.send("through")
            assert await ws.recv() == "through"

    run(scenario())
    assert "response buffering was turned off: connection upgrade (websocket)" in env.gw.logs()


# ---- TLS ------------------------------------------------------------------------------------------

def test_wss_through_tls_termination_and_to_an_https_service(env):
    async def scenario(path):
        uri = f"wss://127.0.0.1:{env.gw.tls_port}{path}"
        async with websockets.connect(uri, ssl=env.client_tls, server_hostname="ws.example.test",
                                      max_size=None, compression=None, ping_interval=None) as ws:
            seen = json.loads(await ws.recv())
            big = os.urandom(2 * 1024 * 1024)
            await ws.send(big)
            assert await ws.recv() == big
            return {k.lower(): v for k, v in seen["headers"]}

    seen = run(scenario("/ws/headers"))
    assert seen["x-forwarded-proto"] == "https"
    seen = run(scenario("/tls-upstream/headers"))  # TLS on both sides
    assert seen["x-forwarded-proto"] == "https"

    async def upstream_closes(path):
        uri = f"wss://127.0.0.1:{env.gw.tls_port}{path}"
        async with websockets.connect(uri, ssl=env.client_tls, server_hostname="ws.example.test",
                                      ping_interval=None) as ws:
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            await ws.wait_closed()
            return ws.close_code

    assert run(upstream_closes("/ws/close")) == 1000
    assert run(upstream_closes("/tls-upstream/close")) == 1000


# ---- ends of a tunnel ----------------------------------------------------------------------------

def test_idle_socket_is_cut_at_the_services_read_timeout(env):
    async def idle():
        async with connect(env.gw, "/short") as ws:
            started = time.monotonic()
            await ws.wait_closed()
            return time.monotonic() - started, ws.close_code

    async def chatty():
        async with connect(env.gw, "/short") as ws:
            for n in range(10):  # 2.5 s in all, never 1 s without a frame
                await ws.send(str(n))
                assert await ws.recv() == str(n)
                await asyncio.sleep(0.25)

    async def scenario():
        return await asyncio.gather(idle(), chatty())

    (elapsed, code), _ = run(scenario())
    assert 0.9 <= elapsed < 5, elapsed
    assert code == 1006  # cut, no close frame
    assert "ended: idle timeout" in env.gw.logs()


def test_upstream_that_stops_reading_is_cut_at_the_services_write_timeout(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/deaf"))
        head, _ = read_head(sock)
        assert head.startswith("HTTP/1.1 101 ")
        sock.settimeout(0.2)
        chunk = client_frame(os.urandom(1 << 20), opcode=0x2)
        deadline = time.monotonic() + 30
        cut = False
        while not cut and time.monotonic() < deadline:
            try:
                sock.sendall(chunk)
            except socket.timeout:
                pass  # buffers full: the gateway's write to the upstream is stalled
            except OSError:
                cut = True
            try:
                cut = cut or sock.recv(65536) == b""
            except socket.timeout:
                pass
            except OSError:
                cut = True
    assert cut, "the tunnel to an upstream that stopped reading was never closed"
    # The tunnel closes both sockets, then logs why: the line may follow the close the test saw.
    assert env.gw.wait_for_log("ended: write timed out")


def test_a_half_close_is_passed_on_and_the_other_direction_keeps_flowing(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/raw/halfclose"))
        head, rest = read_head(sock)
        assert head.startswith("HTTP/1.1 101 ")
        sock.sendall(b"abc" * 100_000)
        sock.shutdown(socket.SHUT_WR)  # the upstream answers only once it sees this end of stream
        assert read_until_closed(sock, rest) == (b"abc" * 100_000)[::-1]


def test_upstream_closing_ends_the_tunnel_cleanly(env):
    async def scenario():
        async with connect(env.gw, "/ws/close") as ws:
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            return ws.close_code, ws.close_reason

    assert run(scenario()) == (1000, "upstream says bye")


def test_upstream_refusing_the_upgrade_is_proxied_as_a_response(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/ws/refuse"))
        head, rest = read_head(sock)
        body = read_until_closed(sock, rest)
    status, headers = header_map(head)
    assert status.startswith("HTTP/1.1 403")
    assert headers["x-refused-by"] == "upstream" and headers["connection"] == "close"
    assert body == b"no upgrade for you\n"


def test_clients_vanishing_mid_tunnel_leak_nothing(env):
    pid = env.gw.proc.pid

    async def echo_once():
        async with connect(env.gw, "/ws") as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"

    run(echo_once())
    baseline = fd_count(pid)
    sockets = []
    for i in range(20):
        sock = socket.create_connection(("127.0.0.1", env.gw.port), timeout=10)
        sock.sendall(handshake_request(f"/ws/vanish{i}"))
        read_head(sock)
        frame = client_frame(os.urandom(1_000_000), opcode=0x2)
        sock.sendall(frame[: len(frame) // 2])  # half a frame in the tunnel, then gone (RST)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sockets.append(sock)
    assert fd_count(pid) > baseline
    for sock in sockets:
        sock.close()
    deadline = time.time() + 15
    while fd_count(pid) > baseline and time.time() < deadline:
        time.sleep(0.05)
    assert fd_count(pid) <= baseline
    run(echo_once())


# ---- hostile handshakes ---------------------------------------------------------------------------

def test_upgrade_with_a_body_sends_the_body_then_tunnels(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/raw/body", b"Content-Length: 5\r\n") + b"hello" + b"AFTER-BODY")
        head, rest = read_head(sock)
        assert head.startswith("HTTP/1.1 101 ")
        while len(rest) < len(b"AFTER-BODY"):
            rest += sock.recv(65536)
        assert rest == b"AFTER-BODY"  # what followed the body went through the tunnel, in order
        sock.sendall(b"more")
        assert sock.recv(65536) == b"more"
    upstream_head, upstream_body = env.raw.received[-1]
    assert b"Content-Length: 5" in upstream_head and upstream_body == b"hello"
    assert b"Upgrade: websocket" in upstream_head


def test_upgrade_h2c_is_ignored_as_nginx_does(env):
    request = (b"GET /plain/h2c HTTP/1.1\r\nHost: ws.example.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    follow_up = b"GET /plain/next HTTP/1.1\r\nHost: ws.example.test\r\n\r\n"
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(request)
        head, rest = read_head(sock)
        status, headers = header_map(head)
        assert status == "HTTP/1.1 200 OK" and "upgrade" not in headers
        while len(rest) < int(headers["content-length"]):
            rest += sock.recv(65536)
        seen = json.loads(rest)
        assert "upgrade" not in seen["headers"] and "http2-settings" not in seen["headers"]
        sock.sendall(follow_up)  # the connection is still plain HTTP/1.1
        head, _ = read_head(sock)
        assert head.startswith("HTTP/1.1 200 OK")


def test_frames_sent_before_the_101_reach_the_upstream_after_it(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(handshake_request("/ws") + client_frame(b"early bird"))
        head, rest = read_head(sock)
        assert head.startswith("HTTP/1.1 101 ")
        opcode, payload, _ = read_server_frame(sock, rest)
        assert (opcode, payload) == (0x1, b"early bird")


def test_upstream_first_frame_arrives_with_the_101(env):
    async def scenario():
        async with connect(env.gw, "/ws/push") as ws:
            return await ws.recv()

    assert run(scenario()) == "hello from upstream"


def test_a_101_to_a_request_without_upgrade_is_502(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(b"GET /raw/plain HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _ = read_head(sock)
    assert head.startswith("HTTP/1.1 502 ")
    assert "sent 101 Switching Protocols to a request without an upgrade" in env.gw.logs()


def test_connect_is_refused_as_nginx_does(env):
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as sock:
        sock.sendall(b"CONNECT /ws HTTP/1.1\r\nHost: ws.example.test\r\n\r\n")
        head, _ = read_head(sock)
    assert head.startswith("HTTP/1.1 400 ")


def test_graceful_shutdown_closes_open_tunnels_after_the_drain_timeout(make_gateway):
    upstream = WsUpstream()
    try:
        gw = make_gateway(f"""
_format_version: "3.0"
services:
  - name: ws
    url: http://127.0.0.1:{upstream.port}
    routes:
      - name: ws
        paths: ["/ws"]
""", conf_extra="nginx_main_worker_shutdown_timeout = 1s\n").start()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
            sock.sendall(handshake_request("/ws") + client_frame(b"before shutdown"))
            head, rest = read_head(sock)
            assert head.startswith("HTTP/1.1 101 ")
            assert read_server_frame(sock, rest)[1] == b"before shutdown"
            started = time.monotonic()
            assert gw.stop() == 0  # a clean exit, no SIGKILL, no sanitizer report
            assert time.monotonic() - started < 10
            sock.settimeout(5)
            assert read_until_closed(sock) is not None  # the client's connection ended too
    finally:
        upstream.stop()


def test_tunnels_go_through_the_balancer_and_count_as_in_flight(make_gateway):
    """A least-connections upstream with two targets: while one tunnel stays open on a target, every
    new handshake goes to the other one (the tunnel is a connection in flight until it closes)."""
    targets = [WsUpstream(), WsUpstream()]
    try:
        gw = make_gateway(f"""
_format_version: "3.0"
upstreams:
  - name: ws-pool
    algorithm: least-connections
    targets:
      - target: 127.0.0.1:{targets[0].port}
      - target: 127.0.0.1:{targets[1].port}
services:
  - name: ws
    host: ws-pool
    routes:
      - name: ws
        paths: ["/ws"]
""").start()

        def tunnels_logged():
            return gw.access_log.read_text().count("GET /ws/headers") if gw.access_log.exists() else 0

        async def target_of_a_handshake(ended_before):
            async with connect(gw, "/ws/headers") as ws:
                port = json.loads(await ws.recv())["port"]
            # The client has its close before the gateway's tunnel ends; the tunnel's access-log
            # line comes after the balancer stopped counting it, so the next handshake sees one
            # connection in flight (the held one), never two.
            deadline = time.monotonic() + 10
            while tunnels_logged() <= ended_before:
                assert time.monotonic() < deadline, "the closed tunnel was never logged"
                await asyncio.sleep(0.01)
            return port

        async def scenario():
            async with connect(gw, "/ws/headers") as held:
                held_port = json.loads(await held.recv())["port"]
                others = [await target_of_a_handshake(ended_before=k) for k in range(4)]
            return held_port, others

        held_port, others = run(scenario())
        assert held_port in {t.port for t in targets}
        assert set(others) == {t.port for t in targets} - {held_port}
    finally:
        for target in targets:
            target.stop()
