"""Request and response bodies stay within bounded memory, whatever their size (issue #14, items 3
and 4; issue #18, Kong's request_buffering).

Request bodies are read whole before proxying (Kong's default request_buffering): in memory up to
client_body_buffer_size, past that in a temporary file under <prefix>/client_body_temp, forwarded
with Content-Length and the file removed after the request. A plugin reading a body that is in a
file gets Kong's nil + error instead of the body. Responses buffered for a `response`-phase plugin
are bounded by buffered_response_max_size: past it, 502.

Memory is read from /proc/<pid>/status of the real gatehouse process (VmHWM, the peak RSS).
"""
import hashlib
import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT
from tcp_server import TcpServer, read_head

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-bodies"
MB = 1024 * 1024
# Peak RSS growth allowed for one request, far below the bodies' sizes (64-128 MB).
MAX_GROWTH_KIB = 40 * 1024


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class HashingHandler(BaseHTTPRequestHandler):
    """An upstream as small Python apps are: it reads the body by Content-Length only (a chunked
    body reads as empty), hashes it without keeping it, and says what it saw."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        self.server.paths.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        digest = hashlib.sha256()
        left = length
        while left > 0:
            piece = self.rfile.read(min(left, 1 * MB))
            if not piece:
                break
            digest.update(piece)
            left -= len(piece)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._drain_chunked()  # not counted (an app reading Content-Length sees no body), but read
        seen = {
            "sha256": digest.hexdigest(),
            "length": length - left,
            "content_length": self.headers.get("Content-Length"),
            "transfer_encoding": self.headers.get("Transfer-Encoding"),
            "x_raw_body": self.headers.get("X-Raw-Body"),
        }
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drain_chunked(self):
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            self.rfile.read(size)
            self.rfile.readline()

    do_POST = do_PUT = do_GET = handle_any


@pytest.fixture
def hashing_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), HashingHandler)
    server.daemon_threads = True
    server.paths = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


class EndlessUpstream(TcpServer):
    """Answers every request with a response body that never ends (chunked, or an announced
    Content-Length it never reaches) until the peer closes; `closed` counts the connections the
    gateway cut."""

    def __init__(self, announce_length=None):
        self.announce_length = announce_length
        self.closed = threading.Semaphore(0)
        self.stopping = threading.Event()
        super().__init__(self._serve)

    def _serve(self, conn):
        conn.settimeout(20)
        head, _ = read_head(conn)
        if head is None:
            return
        if self.announce_length:
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % self.announce_length
        else:
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        block = b"z" * 65536
        piece = block if self.announce_length else b"%x\r\n%s\r\n" % (len(block), block)
        try:
            conn.sendall(head)
            while not self.stopping.is_set():
                conn.sendall(piece)
        except OSError:
            self.closed.release()

    def stop(self):
        self.stopping.set()
        self.close()


def js_conf(prefix, extra=""):
    return (
        "plugins = bundled, js-raw-body, js-response-length\n"
        "pluginserver_names = js\n"
        f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
        f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --kong-prefix {prefix}\n"
        f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --dump-all-plugins\n" + extra
    )


def kong_yml(upstream_port, endless_port=0):
    return f"""
_format_version: "3.0"
services:
  - name: hashing
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: buffered
        paths: ["/buffered"]
      - name: streamed
        paths: ["/streamed"]
        request_buffering: false
      - name: reads-body
        paths: ["/reads-body"]
        plugins:
          - name: js-raw-body
      - name: small-response
        paths: ["/small-response"]
        plugins:
          - name: js-response-length
  - name: endless
    url: http://127.0.0.1:{endless_port or upstream_port}
    read_timeout: 5000
    routes:
      - name: endless
        paths: ["/endless"]
        plugins:
          - name: js-response-length
"""


def start_gateway(make_gateway, upstream_port, endless_port=0, extra=""):
    gw = make_gateway(kong_yml(upstream_port, endless_port), workers=1)
    gw.conf.write_text(gw.conf.read_text() + js_conf(gw.prefix, extra))
    gw.prefix.mkdir(parents=True, exist_ok=True)
    return gw.start()


def blocks(total, seed=b""):
    """`total` bytes of distinct 1 MB blocks (a dropped or repeated block changes the hash)."""
    base = hashlib.sha256(seed).digest() * (MB // 32)
    sent = 0
    index = 0
    while sent < total:
        block = (b"%08d" % index + base)[: min(MB, total - sent)]
        yield block
        sent += len(block)
        index += 1


def sha256_of(total):
    digest = hashlib.sha256()
    for block in blocks(total):
        digest.update(block)
    return digest.hexdigest()


def post(gw, path, total, chunked=False, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    headers = {"Content-Type": "application/octet-stream"}
    if chunked:
        conn.request("POST", path, body=blocks(total), headers=headers, encode_chunked=True)
    else:
        headers["Content-Length"] = str(total)
        conn.request("POST", path, body=blocks(total), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def temp_files(gw):
    temp = gw.prefix / "client_body_temp"
    return sorted(p.name for p in temp.iterdir()) if temp.exists() else []


def temp_files_after(gw, requests):
    """The temporary files once `requests` requests are over: the gateway drops a request's body
    file before it writes the request's access log line (the client may see the response first)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if gw.access_log.exists() and len(gw.access_log.read_text().splitlines()) >= requests:
            break
        time.sleep(0.02)
    return temp_files(gw)


def warm_up(gw):
    resp, _ = post(gw, "/buffered", 10)
    assert resp.status == 200
    return vm_kib(gw.proc.pid, "VmHWM")


def test_large_bodies_spill_to_a_file_forwarded_intact_with_bounded_memory(make_gateway, hashing_upstream):
    gw = start_gateway(make_gateway, hashing_upstream.server_port)
    before = warm_up(gw)
    for chunked in (False, True):
        total = 96 * MB
        resp, data = post(gw, "/buffered", total, chunked=chunked)
        assert resp.status == 200, data
        seen = json.loads(data)
        # Forwarded whole, with its length (also for the chunked upload: Kong's request_buffering).
        assert seen["length"] == total
        assert seen["sha256"] == sha256_of(total)
        assert seen["content_length"] == str(total)
        assert seen["transfer_encoding"] is None
    growth = vm_kib(gw.proc.pid, "VmHWM") - before
    assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB for a 96 MB body"
    assert (gw.prefix / "client_body_temp").is_dir()  # the bodies did go through files...
    assert temp_files_after(gw, 3) == []  # ...removed after their requests


def test_a_small_chunked_body_is_sent_with_content_length(make_gateway, hashing_upstream):
    # A Python http.server upstream reads only Content-Length: Kong buffers, so it works behind Kong.
    gw = start_gateway(make_gateway, hashing_upstream.server_port)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", "/buffered", body=iter([b"hello ", b"chunked ", b"world"]), encode_chunked=True)
    seen = json.loads(conn.getresponse().read())
    assert seen["content_length"] == "19" and seen["transfer_encoding"] is None
    assert seen["sha256"] == hashlib.sha256(b"hello chunked world").hexdigest()
    assert temp_files(gw) == []  # 19 bytes stay in memory


def test_request_buffering_off_streams_the_chunked_body(make_gateway, hashing_upstream):
    gw = start_gateway(make_gateway, hashing_upstream.server_port)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", "/streamed", body=iter([b"a" * 20000, b"b" * 20000]), encode_chunked=True)
    seen = json.loads(conn.getresponse().read())
    assert seen["transfer_encoding"] == "chunked"  # as the route asks: streamed, no length
    assert temp_files(gw) == []


def test_a_plugin_reading_a_large_body_gets_kongs_error_and_the_server_stays_up(make_gateway, hashing_upstream):
    gw = start_gateway(make_gateway, hashing_upstream.server_port)
    before = warm_up(gw)
    total = 64 * MB
    started = time.monotonic()
    resp, data = post(gw, "/reads-body", total)
    assert resp.status == 200, data
    seen = json.loads(data)
    # Not a 64 MB message to the plugin server: Kong's nil + error (the JS PDK raises it).
    assert "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'" in (
        seen["x_raw_body"] or ""), seen
    assert seen["sha256"] == sha256_of(total)
    assert time.monotonic() - started < 30
    growth = vm_kib(gw.proc.pid, "VmHWM") - before
    assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB for a 64 MB body read by a plugin"
    # The plugin server was not hurt: a small body reaches the plugin whole.
    resp, data = post(gw, "/reads-body", 1000)
    assert resp.status == 200
    assert json.loads(data)["x_raw_body"] == "length:1000"
    assert temp_files_after(gw, 3) == []
    logs = gw.logs()
    assert "restarting pluginserver" not in logs and "killing it" not in logs, logs[-3000:]


def test_a_client_leaving_mid_body_leaves_no_temporary_file(make_gateway, hashing_upstream):
    gw = start_gateway(make_gateway, hashing_upstream.server_port)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(b"POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n" + b"q" * 2_000_000)
        deadline = time.monotonic() + 10
        while not temp_files(gw) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(temp_files(gw)) == 1  # the body is being spooled
    # The access log line is written after the request's body is dropped.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (gw.access_log.exists() and gw.access_log.read_text().strip()):
        time.sleep(0.02)
    assert gw.access_log.read_text().strip()
    assert temp_files(gw) == []


def test_a_chunked_body_over_client_max_body_size_is_413_and_never_forwarded(make_gateway, hashing_upstream):
    # Spooled to a file past 512 bytes, refused past 1k: nothing reaches the upstream, no file stays.
    # (Sent at once and small, so the gateway has read all of it when it answers and closes.)
    gw = start_gateway(make_gateway, hashing_upstream.server_port,
                       extra="client_max_body_size = 1k\nclient_body_buffer_size = 512\n")
    head = b"POST /buffered HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"%x\r\n%s\r\n" % (300, b"c" * 300) for _ in range(5)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(head + body)
        answer = b""
        while b"Request size limit exceeded" not in answer and (piece := s.recv(65536)):
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'{"message":"Request size limit exceeded"}' in answer
    assert temp_files_after(gw, 1) == []
    resp, data = post(gw, "/buffered", 1000, chunked=True)  # within the limit, through a file
    assert resp.status == 200
    assert json.loads(data)["length"] == 1000 and json.loads(data)["content_length"] == "1000"
    assert temp_files_after(gw, 2) == []


@pytest.mark.parametrize("bad", [b"5\r\nhelloXY0\r\n\r\n", b"0x5\r\nhello\r\n0\r\n\r\n"],
                         ids=["two_bytes_as_crlf", "hex_size"])
def test_a_bad_chunk_in_a_body_read_whole_is_400_and_nothing_reaches_the_upstream(make_gateway, hashing_upstream,
                                                                                  bad):
    gw = start_gateway(make_gateway, hashing_upstream.server_port)
    head = b"POST /buffered HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
        s.sendall(head + b"%x\r\n%s\r\n" % (20000, b"f" * 20000))  # past the buffer: into a file
        deadline = time.monotonic() + 10
        while not temp_files(gw) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(temp_files(gw)) == 1
        s.sendall(bad + b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while piece := s.recv(65536):
            answer += piece
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert answer.count(b"HTTP/1.1 ") == 1 and b"connection: close" in answer.lower()
    assert hashing_upstream.paths == []
    assert temp_files_after(gw, 1) == []


@pytest.mark.parametrize("announce_length", [None, 10 * 1024 * MB], ids=["chunked", "content-length"])
def test_an_endless_response_for_the_response_phase_is_502_with_bounded_memory(make_gateway, hashing_upstream,
                                                                               announce_length):
    endless = EndlessUpstream(announce_length)
    try:
        gw = start_gateway(make_gateway, hashing_upstream.server_port, endless.port,
                           extra="buffered_response_max_size = 4m\n")
        before = warm_up(gw)
        for _ in range(2):
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
            conn.request("GET", "/endless")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 502
            assert json.loads(body) == {"message": "An invalid response was received from the upstream server"}
            assert time.monotonic() - started < 10
            assert endless.closed.acquire(timeout=10)  # the upstream connection was cut, not pooled
        growth = vm_kib(gw.proc.pid, "VmHWM") - before
        assert growth < MAX_GROWTH_KIB, f"peak RSS grew by {growth} KiB"
        # Logged once per request.
        errors = gw.error_log.read_text()
        assert errors.count("larger than buffered_response_max_size") == 2, errors[-3000:]
        # A response within the bound still reaches the response phase.
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=20)
        conn.request("GET", "/small-response")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and int(resp.getheader("x-body-length")) > 0
    finally:
        endless.stop()
