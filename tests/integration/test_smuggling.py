"""Request smuggling through the real gateway (issues #14 and #19).

Every request the gateway refuses is followed, on the same client connection, by a second valid
request. Each test proves three things: the client got exactly one answer (400, or 501 for an
unknown Transfer-Encoding as nginx) and then its connection was closed; the upstream, which
records every byte it receives, never saw the second request; and nothing waited for a timeout
(every wait is bounded and fails the test explicitly when it runs out).

The same shapes sent by an upstream in its responses are a 502, and that upstream connection is
closed, never pooled: the next request reaches the upstream on a new connection.
"""
import re
import socket
import threading
import time

import pytest

from tcp_server import TcpServer

WAIT = 5.0  # seconds: any single wait; a gateway that answers at once needs milliseconds
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def split_request(buf):
    """(one complete request, the rest) from the bytes the gateway sent, or None if incomplete."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].decode("latin-1").lower()
    at = head_end + 4
    length = re.search(r"\r\ncontent-length: *(\d+)", head)
    if length:
        end = at + int(length.group(1))
        return (buf[:end], buf[end:]) if len(buf) >= end else None
    if "\r\ntransfer-encoding: chunked" not in head:
        return buf[:at], buf[at:]
    while True:  # the gateway's own chunking: well-formed, no extensions, no trailers
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(buf[at:line_end], 16)
        at = line_end + 2 + size + 2
        if len(buf) < at:
            return None
        if size == 0:
            return buf[:at], buf[at:]


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.received = b""
        self.closed_by_peer = False


class RecordingUpstream:
    """A real TCP upstream recording every byte of every connection. `respond(index, request)`
    gives the bytes to answer the index-th request of the whole run (default: 200 "ok")."""

    def __init__(self, respond=None):
        self.respond = respond or (lambda index, request: OK_RESPONSE)
        self.connections = []
        self.requests = []
        self.changed = threading.Condition()
        self.server = TcpServer(self._serve_socket, on_accept=self._record)
        self.port = self.server.port

    def _record(self, sock):
        with self.changed:
            self.connections.append(Connection(sock))
            self.changed.notify_all()

    def _serve_socket(self, sock):
        with self.changed:
            conn = next(c for c in self.connections if c.sock is sock)
        self._serve(conn)

    def _serve(self, conn):
        pending = b""
        while True:
            try:
                piece = conn.sock.recv(65536)
            except OSError:
                piece = b""
            with self.changed:
                if not piece:
                    conn.closed_by_peer = True
                    self.changed.notify_all()
                    conn.sock.close()
                    return
                conn.received += piece
                pending += piece
                answers = []
                while (split := split_request(pending)) is not None:
                    request, pending = split
                    self.requests.append(request)
                    answers.append(self.respond(len(self.requests) - 1, request))
                self.changed.notify_all()
            for answer in answers:
                try:
                    conn.sock.sendall(answer)
                except OSError:
                    pass

    def wait_for(self, what, predicate):
        with self.changed:
            if not self.changed.wait_for(predicate, timeout=WAIT):
                pytest.fail(f"upstream: {what} did not happen within {WAIT} s")

    def all_received(self):
        with self.changed:
            return b"".join(c.received for c in self.connections)

    def close(self):
        self.server.close()


@pytest.fixture
def recording_upstream():
    upstreams = []

    def make(respond=None):
        up = RecordingUpstream(respond)
        upstreams.append(up)
        return up

    yield make
    for up in upstreams:
        up.close()


def kong_yml(port):
    return f"""
_format_version: "3.0"
services:
  - name: up
    url: http://127.0.0.1:{port}/svc
    read_timeout: 3000
    routes:
      - name: any
        paths: ["/"]
        request_buffering: false  # streamed, so a bad chunk can come after the first went upstream
  - name: by-host
    url: http://127.0.0.1:{port}/by-host
    routes:
      - name: host-b
        hosts: ["b.example"]
        paths: ["/"]
"""


@pytest.fixture
def setup(make_gateway, recording_upstream):
    def start(respond=None):
        up = recording_upstream(respond)
        gw = make_gateway(kong_yml(up.port)).start()
        return gw, up

    return start


def read_until_closed(sock):
    """Everything the gateway sends until it closes the connection; fails if it does not close."""
    sock.settimeout(WAIT)
    data = b""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return data
        if not piece:
            return data
        data += piece
    pytest.fail(f"the gateway did not close the client connection within {WAIT} s; got {data[:300]!r}")


def wait_for_log(gw, text):
    deadline = time.monotonic() + WAIT
    while text not in gw.logs():
        if time.monotonic() > deadline:
            pytest.fail(f"no {text!r} in the gateway's log within {WAIT} s")
        time.sleep(0.02)


def assert_refused(answer, status):
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # one answer: the smuggled request got none
    assert b"\r\nconnection: close\r\n" in answer.lower(), answer


def send_and_collect(gw, data):
    with socket.create_connection(("127.0.0.1", gw.port), timeout=WAIT) as client:
        client.sendall(data)
        return read_until_closed(client)


# Heads the gateway refuses (the upstream never hears of them), with nginx's status for each.
BAD_HEADS = {
    "obs_fold": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    "bare_lf_line_ends": (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    "bare_lf_as_blank_line": (b"GET / HTTP/1.1\r\nHost: x\r\n\n", 400),
    "bare_lf_in_head": (b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400),
    "empty_header_name": (b"GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n", 400),
    "tab_in_target": (b"GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "control_in_target": (b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "nul_in_target": (b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    "nul_in_header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    "te_xchunked": (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501),
    "te_gzip_chunked": (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    "te_chunked_identity": (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
                            400),
    "te_repeated": (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"0\r\n\r\n", 400),
    "te_in_http10": (b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "te_space_before_colon": (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    "te_and_cl": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  400),
    "cl_plus": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400),
    "cl_list": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\nhello", 400),
    "cl_hex": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400),
    "cl_overflow": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nhello", 400),
    "cl_repeated": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    "cl_differing": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "bare_cr": (b"GET / HTTP/1.1\r\nX-A: a\rb\r\nHost: x\r\n\r\n", 400),
    "bad_request_line": (b"GARBAGE\r\n\r\n", 400),
    "no_host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two_hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
}

CHUNKED_HEAD = b"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

# Chunked bodies the gateway refuses.
BAD_CHUNKED = {
    "any_two_bytes_as_crlf": b"5\r\nhelloXY0\r\n\r\n",
    "size_overflow": b"fffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
    "size_hex_prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "extension_too_long": b"5;a=" + b"b" * 5000 + b"\r\nhello\r\n0\r\n\r\n",
    "extension_bad": b"5;a\"b\r\nhello\r\n0\r\n\r\n",
    "extension_nul": b"5;a=b\x00\r\nhello\r\n0\r\n\r\n",
    "bare_lf_size_line": b"5\nhello\r\n0\r\n\r\n",
    "trailer_obs_fold": b"0\r\nX: a\r\n b\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_HEADS))
def test_bad_request_head_refused_and_nothing_after_it_proxied(setup, name):
    gw, up = setup()
    request, status = BAD_HEADS[name]
    assert_refused(send_and_collect(gw, request + SMUGGLED), status)
    assert up.all_received() == b""  # the upstream never even got a connection


@pytest.mark.parametrize("name", sorted(BAD_CHUNKED))
def test_bad_chunked_body_arriving_with_the_head_refused(setup, name):
    gw, up = setup()
    assert_refused(send_and_collect(gw, CHUNKED_HEAD + BAD_CHUNKED[name] + SMUGGLED), 400)
    assert b"/smuggled" not in up.all_received()


@pytest.mark.parametrize("name", sorted(BAD_CHUNKED))
def test_bad_chunk_while_streaming_answers_400_at_once_and_closes_both_sides(setup, name):
    # Issue #14 item 6: the head and a first chunk are already upstream when the bad chunk comes.
    # Before: no answer, both connections held until the 60 s body timeout.
    gw, up = setup()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=WAIT) as client:
        client.sendall(CHUNKED_HEAD + b"4\r\nfirs\r\n")
        up.wait_for("the first chunk", lambda: b"firs" in up.all_received())
        started = time.monotonic()
        client.sendall(BAD_CHUNKED[name] + SMUGGLED)
        answer = read_until_closed(client)
        elapsed = time.monotonic() - started
    assert_refused(answer, 400)
    assert elapsed < 2, f"400 after {elapsed:.1f} s"
    up.wait_for("the gateway closing the upstream connection", lambda: up.connections[0].closed_by_peer)
    assert b"/smuggled" not in up.all_received()
    assert len(up.requests) == 0  # the upstream never got a complete request
    assert b'"Bad request"' in answer
    wait_for_log(gw, "sent an invalid request body: ")


def test_valid_chunked_body_with_extensions_and_trailers_is_proxied_then_the_next_request(setup):
    gw, up = setup()
    body = b"5;name=value;q=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    second = b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = send_and_collect(gw, CHUNKED_HEAD + body + second)
    assert answer.count(b"HTTP/1.1 200 OK") == 2, answer
    up.wait_for("both requests", lambda: len(up.requests) == 2)
    first_request = up.requests[0]
    assert first_request.startswith(b"POST /svc/body HTTP/1.1\r\n")
    assert b"hello" in first_request and b" world" in first_request
    assert b"name=value" not in first_request and b"X-Trailer" not in first_request  # re-chunked, trailers dropped
    assert up.requests[1].startswith(b"GET /svc/second HTTP/1.1\r\n")


def test_high_bytes_in_the_target_are_proxied_as_nginx_does(setup):
    gw, up = setup()
    answer = send_and_collect(gw, b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    up.wait_for("the request", lambda: len(up.requests) == 1)
    assert up.requests[0].startswith(b"GET /svc/caf\xc3\xa9 HTTP/1.1\r\n")


def test_absolute_form_target_is_routed_by_its_host_not_the_host_header(setup):
    # RFC 9112 §3.2.2: the target's host wins; the route for b.example matches although Host
    # says a.example, and the upstream gets the origin-form target.
    gw, up = setup()
    answer = send_and_collect(gw, b"GET http://b.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\n"
                                  b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    up.wait_for("the request", lambda: len(up.requests) == 1)
    assert up.requests[0].startswith(b"GET /by-host/x?y=1 HTTP/1.1\r\n"), up.requests[0]
    assert b"\r\nX-Forwarded-Host: b.example\r\n" in up.requests[0]  # nginx's $host, as Kong sends it
    assert b"\r\nHost: 127.0.0.1:" in up.requests[0]  # the service's host (no preserve_host)


def test_absolute_form_with_userinfo_is_refused(setup):
    gw, up = setup()
    assert_refused(send_and_collect(gw, b"GET http://u@b.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n" + SMUGGLED),
                   400)
    assert up.all_received() == b""


# Responses framed in a way a client could read differently than the gateway.
BAD_RESPONSES = {
    "chunk_any_two_bytes_as_crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n",
    "chunk_size_overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
    "chunk_size_hex_prefix": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl_list": b"HTTP/1.1 200 OK\r\nContent-Length: 2,2\r\n\r\nok",
    "cl_repeated": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "cl_plus": b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    "te_xchunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nok",
    "te_in_http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "bare_lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "nul_in_header": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "te_gzip_chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_chunked_identity": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te_repeated": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_space_before_colon": b"HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "cl_hex": b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
    "cl_overflow": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nok",
    "chunk_extension_too_long": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=" + b"b" * 5000
                                + b"\r\nok\r\n0\r\n\r\n",
    "bare_lf_as_blank_line": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\nok",
}


@pytest.mark.parametrize("name", sorted(BAD_RESPONSES))
def test_bad_upstream_response_is_502_and_its_connection_not_pooled(setup, name):
    gw, up = setup(lambda index, request: BAD_RESPONSES[name] if index == 0 else OK_RESPONSE)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=WAIT) as client:
        client.settimeout(WAIT)
        client.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b'"An invalid response was received from the upstream server"' not in answer:
            piece = client.recv(65536)
            assert piece, answer
            answer += piece
        assert answer.startswith(b"HTTP/1.1 502 "), answer
        up.wait_for("the gateway closing the bad connection", lambda: up.connections[0].closed_by_peer)
        client.sendall(b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = read_until_closed(client)
    assert second.startswith(b"HTTP/1.1 200 OK"), second
    assert len(up.connections) == 2  # the second request needed a new upstream connection
    assert up.connections[1].received.startswith(b"GET /svc/two ")


def test_bad_chunk_after_the_response_head_went_out_cuts_the_client(setup):
    # The head is forwarded before the bad chunk arrives: the client's response is cut (never a
    # well-formed end), and the upstream connection is closed, not pooled.

    def respond(index, request):
        if index == 0:
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        return OK_RESPONSE

    gw, up = setup(respond)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=WAIT) as client:
        client.settimeout(WAIT)
        client.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            piece = client.recv(65536)
            assert piece, head
            head += piece
        assert head.startswith(b"HTTP/1.1 200 OK"), head
        up.wait_for("the first connection", lambda: len(up.connections) == 1)
        up.connections[0].sock.sendall(b"5\r\nhelloXY0\r\n\r\n")
        rest = read_until_closed(client)
    assert not rest.endswith(b"0\r\n\r\n")  # no last chunk: the client knows the response is cut
    up.wait_for("the gateway closing the bad connection", lambda: up.connections[0].closed_by_peer)
