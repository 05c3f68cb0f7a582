"""HTTP/2 towards clients (docs/http2.md) through the real gatehouse binary: curl --http2 over TLS
(ALPN h2) and --http2-prior-knowledge (h2c), h2load, routes with a native and an external (JS
plugin server) plugin, request bodies in DATA frames, and the defences against the known HTTP/2
attacks, each with frames written by hand (python3-h2's hyperframe and hpack build them)."""
import json
import re
import socket
import ssl
import subprocess
import time

import pytest
from hpack import Decoder, Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

from conftest import ROOT, Gateway, free_port, stop_all, wait_listening
import echo_upstream

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
JS_PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# RFC 9113 §7 error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 6, 7, 8, 9, 11
SEND_TIMEOUT = 2  # nginx_http_send_timeout of the test gateway, seconds


def gateway_yml(upstream_port, plugins=True):
    route_plugins = """
        plugins:
          - name: gatehouse-native-test
          - name: js-hello
            config: {message: hi}""" if plugins else ""
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: plugins
        paths: ["/plugins"]{route_plugins}
      - name: plain
        paths: ["/"]
        strip_path: false
"""


@pytest.fixture(scope="module")
def h2(tmp_path_factory):
    """A gateway with an h2c-capable plain listener (gw.port), an `http2 ssl` one (gw.tls_port) and a
    TLS one without http2 (gw.h1_tls_port), the native test plugin and the JS plugin server."""
    upstream = echo_upstream.start_in_thread(0, "up1")
    directory = tmp_path_factory.mktemp("h2")
    gw = Gateway(directory, gateway_yml(upstream.server_port), env={"GATEHOUSE_TEST_NATIVE_PLUGINS": "1"})
    gw.tls_port, gw.h1_tls_port = free_port(), free_port()
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.conf.write_text(gw.conf.read_text() + (
        f"proxy_listen = 127.0.0.1:{gw.port} http2, 127.0.0.1:{gw.tls_port} http2 ssl, "
        f"127.0.0.1:{gw.h1_tls_port} ssl\n"
        f"nginx_http_send_timeout = {SEND_TIMEOUT}s\n"
        "plugins = bundled, gatehouse-native-test, js-hello\n"
        "pluginserver_names = js\n"
        f"pluginserver_js_socket = {gw.prefix}/js_pluginserver.sock\n"
        f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --kong-prefix {gw.prefix}\n"
        f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {JS_PLUGINS} --dump-all-plugins\n"))
    try:
        gw.start()
        assert wait_listening(gw.proc, gw.tls_port) and wait_listening(gw.proc, gw.h1_tls_port)
        yield gw
        stop_all([gw])
    finally:
        upstream.shutdown()
        upstream.server_close()


def curl(*args, timeout=30):
    """curl's output: the body, then a last line `<http_version> <status>`."""
    out = subprocess.run(["curl", "-sS", "-k", "-w", "\n%{http_version} %{http_code}", *args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    body, _, last = out.stdout.rpartition("\n")
    version, status = last.split()
    return version, int(status), body


# ---- what clients see ----------------------------------------------------------------------------

def test_curl_http2_over_tls_runs_native_and_external_plugins(h2):
    out = subprocess.run(["curl", "-sS", "-k", "--http2", "-D", "-", f"https://127.0.0.1:{h2.tls_port}/plugins"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition("\n\n")  # text mode: curl's CRLFs read as \n
    assert head.startswith("HTTP/2 200"), out.stdout
    assert body, out.stdout
    headers = head.lower()
    assert "x-native: native" in headers  # gatehouse-native-test's access phase
    assert "x-hello-from-javascript: javascript says hi to" in headers  # js-hello's access phase
    assert "x-hello-greetings: 1" in headers  # js-hello's response phase (a buffered response)
    echoed = json.loads(body)
    assert echoed["headers"]["x-native-upstream"] == "native"
    assert echoed["headers"]["x-forwarded-proto"] == "https"
    assert echoed["headers"]["x-forwarded-host"] == "127.0.0.1"  # :authority stands for Host
    assert "connection" not in headers and "transfer-encoding" not in headers


def test_curl_h2c_prior_knowledge_and_http1_on_the_same_listener(h2):
    assert curl("--http2-prior-knowledge", f"http://127.0.0.1:{h2.port}/plugins")[:2] == ("2", 200)
    version, status, body = curl("--http1.1", f"http://127.0.0.1:{h2.port}/plugins")
    assert (version, status) == ("1.1", 200) and json.loads(body)["headers"]["x-native-upstream"] == "native"
    # TLS: a client offering h2 and http/1.1 gets h2 where the listener has `http2`, HTTP/1.1 elsewhere.
    assert curl("--http2", f"https://127.0.0.1:{h2.h1_tls_port}/plugins")[:2] == ("1.1", 200)
    assert curl("--http1.1", f"https://127.0.0.1:{h2.tls_port}/plugins")[:2] == ("1.1", 200)


def test_gateway_errors_and_logs_over_http2(h2):
    version, status, body = curl("--http2", f"https://127.0.0.1:{h2.tls_port}/plugins?native_fail")
    assert (version, status) == ("2", 500)
    assert json.loads(body) == {"message": "An unexpected error occurred"}
    deadline = time.time() + 10
    while 'GET /plugins?native_fail HTTP/2.0" 500' not in h2.access_log.read_text():
        assert time.time() < deadline, "the access log line shows HTTP/2.0"
        time.sleep(0.05)


@pytest.mark.parametrize("size", [0, 10, 300_000])
def test_request_bodies_in_data_frames(h2, tmp_path, size):
    payload = tmp_path / "body"
    payload.write_bytes(bytes(i % 251 for i in range(size)))
    version, status, body = curl("--http2", "--data-binary", f"@{payload}", "-H", "content-type: application/x-test",
                                 f"https://127.0.0.1:{h2.tls_port}/echo")
    assert (version, status) == ("2", 200)
    echoed = json.loads(body)
    assert echoed["method"] == "POST" and echoed["body_length"] == size
    assert echoed["headers"].get("content-length") == str(size)  # buffered, forwarded with its length


def test_large_response_and_head(h2):
    version, status, body = curl("--http2", f"https://127.0.0.1:{h2.tls_port}/large?bytes=3000000")
    assert (version, status, len(body)) == ("2", 200, 3_000_000)
    out = subprocess.run(["curl", "-sS", "-k", "--http2", "-I", f"https://127.0.0.1:{h2.tls_port}/large?bytes=5"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("HTTP/2 200") and "content-length: 5" in out.stdout.lower()


def h2load(*args):
    out = subprocess.run(["h2load", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out.stdout)
    done = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out.stdout)
    return [int(x) for x in codes.groups()], [int(x) for x in done.groups()], out.stdout


def test_h2load_many_streams_over_tls_and_h2c(h2):
    codes, done, out = h2load("-n", "400", "-c", "4", "-m", "20", f"https://127.0.0.1:{h2.tls_port}/plugins")
    assert codes == [400, 0, 0, 0] and done[3] == 400, out
    assert "TLS Protocol" in out and "Application protocol: h2" in out
    codes, done, out = h2load("-n", "300", "-c", "2", "-m", "50", f"http://127.0.0.1:{h2.port}/small")
    assert codes == [300, 0, 0, 0], out


# ---- frames by hand ------------------------------------------------------------------------------

class RawH2:
    """An HTTP/2 client connection whose frames the test writes itself."""

    def __init__(self, port, tls=False, settings=None, preface=True):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            assert sock.selected_alpn_protocol() == "h2"
        self.sock = sock
        self.encoder = Encoder()
        self.decoder = Decoder()  # one per connection: the server's HPACK table spans its responses
        self.buffer = b""
        if preface:
            self.send(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())

    def send(self, data):
        self.sock.sendall(data)

    def headers(self, stream_id, path="/small", method="GET", end_stream=True, extra=()):
        block = self.encoder.encode([(":method", method), (":scheme", "http"), (":path", path),
                                     (":authority", "localhost"), *extra])
        frame = HeadersFrame(stream_id, block)
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame.serialize()

    def read_frame(self, timeout=10):
        """The next frame, or None when the server closed the connection."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9:9 + length]))
                    self.buffer = self.buffer[9 + length:]
                    if isinstance(frame, HeadersFrame):
                        frame.fields = dict(self.decoder.decode(frame.data))
                    return frame
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not data:
                return None
            self.buffer += data

    def until(self, predicate, timeout=10):
        """Frames up to and including the first `predicate` accepts; fails at EOF or timeout."""
        seen = []
        deadline = time.time() + timeout
        while True:
            frame = self.read_frame(max(0.1, deadline - time.time()))
            assert frame is not None, f"connection closed; frames seen: {seen}"
            seen.append(frame)
            if predicate(frame):
                return seen

    def goaway(self, timeout=10):
        """The GOAWAY the server sends before it closes (acknowledging SETTINGS on the way)."""
        return self.until(lambda f: isinstance(f, GoAwayFrame), timeout)[-1]

    def response_status(self, stream_id, timeout=10):
        frame = self.until(lambda f: isinstance(f, (HeadersFrame, RstStreamFrame, GoAwayFrame))
                           and f.stream_id in (stream_id, 0), timeout)[-1]
        assert isinstance(frame, HeadersFrame), frame
        return frame.fields[":status"]

    def close(self):
        self.sock.close()


def serves_again(gw):
    """The gateway still answers (a defence ended one connection, not the worker)."""
    return curl("--http2-prior-knowledge", f"http://127.0.0.1:{gw.port}/small")[:2] == ("2", 200)


def test_rapid_reset_is_answered_with_enhance_your_calm(h2):
    # CVE-2023-44487: streams opened and cancelled at once, as fast as the client can write them.
    c = RawH2(h2.port)
    burst = b"".join(c.headers(i) + RstStreamFrame(i, error_code=CANCEL).serialize() for i in range(1, 2001, 2))
    c.send(burst)
    goaway = c.goaway()
    assert goaway.error_code == ENHANCE_YOUR_CALM
    assert c.read_frame(timeout=10) is None  # nothing follows the GOAWAY but the connection's end
    c.close()
    assert "reset too many streams" in h2.logs()
    assert serves_again(h2)


def test_a_refused_connection_closes_without_waiting_for_its_streams(h2):
    # Three requests wait 8 s for the upstream when a reset burst ends the connection: the client
    # sees the connection end at once, not after the upstream answers (the requests end on their own).
    c = RawH2(h2.port)
    c.send(b"".join(c.headers(i, path="/slow?ms=8000") for i in (1, 3, 5)))
    started = time.time()
    c.send(b"".join(c.headers(i) + RstStreamFrame(i, error_code=CANCEL).serialize() for i in range(7, 1007, 2)))
    assert c.goaway().error_code == ENHANCE_YOUR_CALM
    assert c.read_frame(timeout=10) is None
    assert time.time() - started < 5
    c.close()
    assert serves_again(h2)


def test_reset_streams_still_running_count_against_a_bound(h2):
    # Streams reset after their request started leave nghttp2's count of open streams, but their
    # requests still wait for the upstream: past 2 x 128 of them running, a new stream is refused
    # (REFUSED_STREAM: the client may retry it).
    c = RawH2(h2.port)
    opened = 0

    def open_then_reset(n):
        nonlocal opened
        ids = range(2 * opened + 1, 2 * (opened + n) + 1, 2)
        # A PING answered means the HEADERS before it were taken and their requests started.
        c.send(b"".join(c.headers(i, path="/slow?ms=10000") for i in ids) + PingFrame(0, b"started!").serialize())
        c.until(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags)
        c.send(b"".join(RstStreamFrame(i, error_code=CANCEL).serialize() for i in ids))
        opened += n

    open_then_reset(90)  # within the reset burst of 100
    while opened < 256:
        time.sleep(0.2)  # the reset bucket refills 20 a second: 4 per fifth of a second stays within it
        open_then_reset(4)
    refused_id = 2 * opened + 1
    c.send(c.headers(refused_id))
    frame = c.until(lambda f: isinstance(f, (RstStreamFrame, HeadersFrame, GoAwayFrame))
                    and f.stream_id in (refused_id, 0))[-1]
    assert isinstance(frame, RstStreamFrame) and frame.error_code == REFUSED_STREAM, frame
    c.close()
    assert serves_again(h2)


def test_continuation_flood_ends_the_connection(h2):
    c = RawH2(h2.port)
    block = c.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/small"), (":authority", "x")])
    frames = HeadersFrame(1, block).serialize()  # no END_HEADERS: CONTINUATION frames must follow
    filler = c.encoder.encode([("x-filler", "y")])
    frames += b"".join(ContinuationFrame(1, filler).serialize() for _ in range(500))
    try:
        c.send(frames)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still writing: the flood was cut short
    frame = c.read_frame()
    while frame is not None and not isinstance(frame, GoAwayFrame):
        frame = c.read_frame()
    assert frame is None or frame.error_code in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR)
    assert c.read_frame() is None  # and the connection is closed
    c.close()
    assert serves_again(h2)


def test_hpack_bomb_gets_431_and_the_connection_goes_on(h2):
    c = RawH2(h2.port)
    # One 4 KB header enters the dynamic table, then 500 one-byte references to it: 2 MB decoded.
    block = c.encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/small"),
                              (":authority", "localhost"), ("x-bomb", "a" * 4000)])
    index = 62  # the entry just added (static table: 61 entries)
    frame = HeadersFrame(1, block + bytes([0x80 | index]) * 500)
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    c.send(frame.serialize())
    assert c.response_status(1) == "431"
    c.send(c.headers(3))
    assert c.response_status(3) == "200"
    c.close()


def test_settings_flood_is_answered_with_enhance_your_calm(h2):
    c = RawH2(h2.port)
    c.send(b"".join(SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0}).serialize() for _ in range(1000)))
    assert c.goaway().error_code == ENHANCE_YOUR_CALM
    c.close()
    assert "too many SETTINGS/PING frames" in h2.logs()


def test_ping_flood_is_answered_with_enhance_your_calm(h2):
    c = RawH2(h2.port)
    c.send(b"".join(PingFrame(0, opaque_data=b"12345678").serialize() for _ in range(1000)))
    assert c.goaway().error_code == ENHANCE_YOUR_CALM
    c.close()


def test_zero_window_client_is_cut_at_send_timeout(h2):
    # The client announces a stream window of 0 and never opens it: the response (8 MB upstream)
    # cannot go out. The stream is reset after send_timeout with no progress; the gateway held at
    # most its response buffer of it meanwhile, not the whole body.
    c = RawH2(h2.port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    started = time.time()
    c.send(c.headers(1, "/large?bytes=8000000"))
    frames = c.until(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == 1, timeout=SEND_TIMEOUT + 20)
    assert frames[-1].error_code in (CANCEL, INTERNAL_ERROR)
    assert not any(isinstance(f, DataFrame) and f.data for f in frames)
    assert time.time() - started >= SEND_TIMEOUT - 0.5
    assert "did not read stream 1 within send_timeout" in h2.logs()
    c.send(WindowUpdateFrame(0, window_increment=1).serialize())  # the connection itself goes on
    c.send(PingFrame(0, opaque_data=b"stillup!").serialize())
    c.until(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags)
    c.close()


def test_max_concurrent_streams(h2):
    c = RawH2(h2.port)
    settings = c.until(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)[-1]
    assert settings.settings[SettingsFrame.MAX_CONCURRENT_STREAMS] == 128
    c.send(SettingsFrame(0, flags=["ACK"]).serialize())
    c.until(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)
    # 130 requests announcing a body that never comes: each stays open. The 129th is refused:
    # nghttp2 resets it (REFUSED_STREAM) or, the limit being acknowledged, ends the connection.
    c.send(b"".join(c.headers(i, "/echo", "POST", end_stream=False) for i in range(1, 261, 2)))
    refused = c.until(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)))[-1]
    if isinstance(refused, RstStreamFrame):
        assert refused.stream_id == 257 and refused.error_code in (REFUSED_STREAM, PROTOCOL_ERROR)
    else:
        assert refused.error_code == PROTOCOL_ERROR and refused.last_stream_id <= 255
    c.close()
    assert serves_again(h2)


def test_graceful_shutdown_sends_goaway_and_finishes_in_flight_streams(tmp_path):
    upstream = echo_upstream.start_in_thread(0, "up1")
    gw = Gateway(tmp_path / "gw", gateway_yml(upstream.server_port, plugins=False))
    gw.conf.write_text(gw.conf.read_text() + f"proxy_listen = 127.0.0.1:{gw.port} http2\n")
    try:
        gw.start()
        c = RawH2(gw.port)
        # A request in flight: its body is still to come when the gateway starts draining.
        c.send(c.headers(1, "/echo", "POST", end_stream=False, extra=[("content-length", "5")]))
        time.sleep(0.3)
        gw.proc.send_signal(15)
        goaway = c.goaway()
        assert goaway.error_code == NO_ERROR and goaway.last_stream_id == 1
        data = DataFrame(1, b"hello")
        data.flags.add("END_STREAM")
        c.send(data.serialize())
        assert c.response_status(1) == "200"
        c.close()
        assert gw.proc.wait(timeout=20) == 0
    finally:
        stop_all([gw])
        upstream.shutdown()
        upstream.server_close()


# ---- RFC 9113, section by section (in the spirit of h2spec) --------------------------------------

def raw_frame(frame_type, flags, stream_id, payload=b""):
    """A frame as bytes, whatever its validity (hyperframe refuses to build invalid ones)."""
    return len(payload).to_bytes(3, "big") + bytes([frame_type, flags]) + stream_id.to_bytes(4, "big") + payload


DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 4, 6, 7, 8, 9
STREAM_CLOSED = 5


def request_block(extra=(), drop=(), encoder=None):
    fields = [(":method", "GET"), (":scheme", "http"), (":path", "/small"), (":authority", "localhost"), *extra]
    return (encoder or Encoder()).encode([f for f in fields if f[0] not in drop])


END_STREAM_HEADERS = 0x1 | 0x4

CONNECTION_ERRORS = [
    # (RFC section, what is sent after the preface, the GOAWAY error code expected)
    ("4.2 DATA larger than SETTINGS_MAX_FRAME_SIZE", lambda: raw_frame(DATA, 0, 1, b"x" * 16385), FRAME_SIZE_ERROR),
    ("5.1.1 stream id of a client is odd", lambda: raw_frame(HEADERS, END_STREAM_HEADERS, 2, request_block()),
     PROTOCOL_ERROR),
    ("5.1 DATA on an idle stream", lambda: raw_frame(DATA, 0, 1, b"x"), PROTOCOL_ERROR),
    ("5.1 RST_STREAM on an idle stream", lambda: raw_frame(RST_STREAM, 0, 1, (8).to_bytes(4, "big")),
     PROTOCOL_ERROR),
    ("5.1 WINDOW_UPDATE on an idle stream", lambda: raw_frame(WINDOW_UPDATE, 0, 1, (1).to_bytes(4, "big")),
     PROTOCOL_ERROR),
    ("6.1 DATA on stream 0", lambda: raw_frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR),
    ("6.2 HEADERS on stream 0", lambda: raw_frame(HEADERS, END_STREAM_HEADERS, 0, request_block()),
     PROTOCOL_ERROR),
    ("6.4 RST_STREAM of 3 bytes", lambda: raw_frame(HEADERS, 0x4, 1, request_block())
     + raw_frame(RST_STREAM, 0, 1, b"\0\0\0"), FRAME_SIZE_ERROR),
    ("6.5 SETTINGS on a stream", lambda: raw_frame(SETTINGS, 0, 1, b""), PROTOCOL_ERROR),
    ("6.5 SETTINGS of 5 bytes", lambda: raw_frame(SETTINGS, 0, 0, b"\0\x03\0\0\0"), FRAME_SIZE_ERROR),
    ("6.5 SETTINGS ACK with a payload", lambda: raw_frame(SETTINGS, 0x1, 0, b"\0\x03\0\0\0\x01"),
     FRAME_SIZE_ERROR),
    ("6.5.2 SETTINGS_ENABLE_PUSH of 2", lambda: raw_frame(SETTINGS, 0, 0, b"\0\x02\0\0\0\x02"), PROTOCOL_ERROR),
    ("6.5.2 SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
     lambda: raw_frame(SETTINGS, 0, 0, b"\0\x04\x80\0\0\0"), FLOW_CONTROL_ERROR),
    ("6.5.2 SETTINGS_MAX_FRAME_SIZE under 16384", lambda: raw_frame(SETTINGS, 0, 0, b"\0\x05\0\0\x3f\xff"),
     PROTOCOL_ERROR),
    ("6.7 PING on a stream", lambda: raw_frame(PING, 0, 1, b"12345678"), PROTOCOL_ERROR),
    ("6.7 PING of 7 bytes", lambda: raw_frame(PING, 0, 0, b"1234567"), FRAME_SIZE_ERROR),
    ("6.8 GOAWAY on a stream", lambda: raw_frame(GOAWAY, 0, 1, b"\0" * 8), PROTOCOL_ERROR),
    ("6.9 WINDOW_UPDATE of 0 on the connection", lambda: raw_frame(WINDOW_UPDATE, 0, 0, b"\0\0\0\0"),
     PROTOCOL_ERROR),
    ("6.9.1 connection window over 2^31-1",
     lambda: raw_frame(WINDOW_UPDATE, 0, 0, (0x7fffffff).to_bytes(4, "big")), FLOW_CONTROL_ERROR),
    ("6.10 CONTINUATION without HEADERS", lambda: raw_frame(CONTINUATION, 0x4, 1, request_block()),
     PROTOCOL_ERROR),
    ("6.10 HEADERS interrupted by another frame", lambda: raw_frame(HEADERS, 0, 1, request_block())
     + raw_frame(PING, 0, 0, b"12345678"), PROTOCOL_ERROR),
    ("4.3 header block that does not decode", lambda: raw_frame(HEADERS, END_STREAM_HEADERS, 1, b"\xff\xff\xff\xff"),
     COMPRESSION_ERROR),
]


@pytest.mark.parametrize("section,frames,code", CONNECTION_ERRORS, ids=[c[0] for c in CONNECTION_ERRORS])
def test_rfc9113_connection_errors(h2, section, frames, code):
    c = RawH2(h2.port)
    c.send(frames())
    goaway = c.goaway()
    assert goaway.error_code == code, section
    assert c.read_frame() is None, "the connection closes after GOAWAY"
    c.close()


STREAM_ERRORS = [
    # (RFC section, the request's header block, the RST_STREAM error code expected)
    ("8.2.2 connection-specific field", lambda: request_block(extra=[("connection", "keep-alive")]), PROTOCOL_ERROR),
    ("8.2.2 TE other than trailers", lambda: request_block(extra=[("te", "gzip")]), PROTOCOL_ERROR),
    ("8.2.1 upper-case field name", lambda: request_block(extra=[("X-Upper", "1")]), PROTOCOL_ERROR),
    ("8.3.1 no :path", lambda: request_block(drop=[":path"]), PROTOCOL_ERROR),
    ("8.3.1 no :method", lambda: request_block(drop=[":method"]), PROTOCOL_ERROR),
    ("8.3 unknown pseudo-header", lambda: request_block(extra=[(":bogus", "1")]), PROTOCOL_ERROR),
    ("8.3 pseudo-header after a regular field",
     lambda: Encoder().encode([(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":path", "/")]),
     PROTOCOL_ERROR),
]


@pytest.mark.parametrize("section,block,code", STREAM_ERRORS, ids=[c[0] for c in STREAM_ERRORS])
def test_rfc9113_malformed_requests_reset_the_stream(h2, section, block, code):
    c = RawH2(h2.port)
    c.send(raw_frame(HEADERS, END_STREAM_HEADERS, 1, block()))
    reset = c.until(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)))[-1]
    assert isinstance(reset, RstStreamFrame) and reset.stream_id == 1 and reset.error_code == code, section
    c.send(c.headers(3))  # a stream error: the connection goes on
    assert c.response_status(3) == "200"
    c.close()


def test_rfc9113_content_length_must_match_the_data(h2):
    c = RawH2(h2.port)
    c.send(c.headers(1, "/echo", "POST", end_stream=False, extra=[("content-length", "3")]))
    data = DataFrame(1, b"12345")
    data.flags.add("END_STREAM")
    c.send(data.serialize())  # 8.1.1: more DATA than announced is malformed
    reset = c.until(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)) or (
        isinstance(f, HeadersFrame) and f.stream_id == 1))[-1]
    assert isinstance(reset, RstStreamFrame) and reset.error_code == PROTOCOL_ERROR
    c.close()


def test_rfc9113_preface_settings_ping_and_unknown_frames(h2):
    # 3.4: a client that does not start with the preface is no HTTP/2 client (TLS + ALPN h2).
    bad = RawH2(h2.tls_port, tls=True, preface=False)
    bad.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize())
    frame = bad.read_frame()
    while frame is not None and not isinstance(frame, GoAwayFrame):
        frame = bad.read_frame()
    assert bad.read_frame() is None
    bad.close()

    c = RawH2(h2.tls_port, tls=True, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 10})
    first = c.read_frame()
    assert isinstance(first, SettingsFrame) and "ACK" not in first.flags  # 3.4: the server's preface
    c.until(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)  # 6.5.3: ours acknowledged
    # 4.1 / 5.5: a frame of an unknown type is ignored, the connection goes on.
    c.send(raw_frame(0xFA, 0, 0, b"whatever") + PingFrame(0, opaque_data=b"pingpong").serialize())
    pong = c.until(lambda f: isinstance(f, PingFrame))[-1]
    assert "ACK" in pong.flags and pong.opaque_data == b"pingpong"  # 6.7: the same payload back
    c.send(c.headers(1))
    assert c.response_status(1) == "200"
    c.close()


def test_rfc9113_client_goaway_ends_the_connection(h2):
    c = RawH2(h2.port)
    c.send(c.headers(1))
    assert c.response_status(1) == "200"
    c.send(GoAwayFrame(0, last_stream_id=0, error_code=NO_ERROR).serialize())
    frame = c.read_frame()
    while frame is not None:
        frame = c.read_frame()
    c.close()


def test_rfc9113_frames_for_used_stream_ids_are_ignored(h2):
    # A deliberate difference (docs/http2.md, "Conformance"): HEADERS reusing a lower stream id
    # (5.1.1 asks for PROTOCOL_ERROR) and DATA on a closed stream (6.1 asks for STREAM_CLOSED) are
    # dropped, as nghttp2 does: a client's trailers or DATA may cross our RST_STREAM in flight.
    # What matters is checked: nothing runs for them and the connection goes on.
    c = RawH2(h2.port)
    c.send(c.headers(5))
    assert c.response_status(5) == "200"
    c.until(lambda f: f.stream_id == 5 and "END_STREAM" in f.flags)  # closed on both sides now
    c.send(c.headers(3, path="/never") + DataFrame(5, b"late").serialize() +
           PingFrame(0, opaque_data=b"stillok!").serialize())
    seen = c.until(lambda f: isinstance(f, PingFrame) and "ACK" in f.flags)
    assert not [f for f in seen if isinstance(f, (HeadersFrame, GoAwayFrame)) or f.stream_id == 3], seen
    c.send(c.headers(7))
    assert c.response_status(7) == "200"
    c.close()
    assert 'GET /never' not in h2.access_log.read_text()
