"""The gateway core as a client sees it: routing, rewriting, bodies, keep-alive, errors."""
import http.client
import json
import socket
import threading
import time

import pytest

from conftest import raw_request, free_port, wait_for_file, wait_port
from echo_upstream import pattern_body


def kong_yml(upstream_port, extra_routes="", service_extra=""):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}/base
    read_timeout: 1000
    connect_timeout: 1000
    {service_extra}
    routes:
      - name: api
        paths: ["/api"]
      - name: keep
        paths: ["/keep"]
        strip_path: false
      - name: by-host
        hosts: ["example.com", "*.wild.test"]
        paths: ["/"]
      - name: by-method
        methods: ["DELETE"]
        paths: ["/m"]
      - name: by-header
        headers:
          x-version: ["v2"]
        paths: ["/h"]
      - name: preserve
        paths: ["/preserve"]
        preserve_host: true
      - name: regex
        paths: ["~/users/(?<id>\\\\d+)$"]
{extra_routes}
  - name: raw
    url: http://127.0.0.1:{upstream_port}
    read_timeout: 2000
    routes:
      - name: raw
        paths: ["/raw"]
        strip_path: false
"""


def get(gw, path, method="GET", headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


@pytest.fixture
def gw(make_gateway, upstream):
    return make_gateway(kong_yml(upstream.server_port)).start()


def test_no_route_gives_kong_404(gw):
    resp, body = get(gw, "/nothing-here")
    assert resp.status == 404
    assert json.loads(body) == {"message": "no Route matched with those values"}


def test_strip_path_and_service_path(gw):
    resp, body = get(gw, "/api/v1/items?x=1&y=2")
    assert resp.status == 200
    info = json.loads(body)
    assert info["path"] == "/base/v1/items"
    assert info["query"] == "x=1&y=2"


def test_strip_path_false_keeps_route_path(gw):
    info = json.loads(get(gw, "/keep/this")[1])
    assert info["path"] == "/base/keep/this"


def test_host_routing_exact_and_wildcard(gw):
    info = json.loads(get(gw, "/anything", headers={"Host": "example.com"})[1])
    assert info["path"] == "/base/anything"
    resp, _ = get(gw, "/anything", headers={"Host": "a.wild.test"})
    assert resp.status == 200
    resp, _ = get(gw, "/anything", headers={"Host": "other.test"})
    assert resp.status == 404


def test_method_and_header_routing(gw):
    assert get(gw, "/m", method="DELETE")[0].status == 200
    assert get(gw, "/m", method="GET")[0].status == 404
    assert get(gw, "/h", headers={"X-Version": "v2"})[0].status == 200
    assert get(gw, "/h", headers={"X-Version": "v1"})[0].status == 404


def test_regex_route(gw):
    assert get(gw, "/users/42")[0].status == 200
    assert get(gw, "/users/abc")[0].status == 404


def test_host_header_rewritten_unless_preserve_host(gw, upstream):
    info = json.loads(get(gw, "/api/x", headers={"Host": "client.test"})[1])
    assert info["headers"]["host"] == f"127.0.0.1:{upstream.server_port}"
    info = json.loads(get(gw, "/preserve/x", headers={"Host": "client.test"})[1])
    assert info["headers"]["host"] == "client.test"


def test_forwarded_headers(gw):
    info = json.loads(get(gw, "/api/x", headers={"Host": "client.test:1234", "X-Forwarded-For": "10.9.9.9"})[1])
    h = info["headers"]
    assert h["x-real-ip"] == "127.0.0.1"
    assert h["x-forwarded-for"] == "10.9.9.9, 127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == "client.test"
    assert h["x-forwarded-port"] == str(gw.port)
    assert h["x-forwarded-path"] == "/api/x"
    assert h["x-forwarded-prefix"] == "/api"
    assert h["via"].startswith("1.1 gatehouse/")


def test_untrusted_client_cannot_spoof_forwarded_proto(gw):
    info = json.loads(get(gw, "/api/x", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"})[1])
    assert info["headers"]["x-forwarded-proto"] == "http"
    assert info["headers"]["x-forwarded-host"] == "127.0.0.1"


def test_hop_by_hop_headers_not_forwarded(gw):
    info = json.loads(get(gw, "/api/x", headers={"Connection": "keep-alive, X-Secret", "X-Secret": "1",
                                                 "Keep-Alive": "timeout=5", "X-Kept": "yes"})[1])
    h = info["headers"]
    assert "x-secret" not in h and "keep-alive" not in h
    assert h["x-kept"] == "yes"


def test_response_headers_from_gateway(gw):
    resp, _ = get(gw, "/api/x")
    assert resp.getheader("Via").startswith("1.1 gatehouse/")
    assert resp.getheader("X-Kong-Upstream-Latency") is not None
    assert resp.getheader("X-Kong-Proxy-Latency") is not None
    assert len(resp.getheader("X-Kong-Request-Id")) == 32
    assert resp.getheader("X-Upstream-Name") == "up1"


def test_post_body_content_length(gw):
    payload = b"a" * 100_000
    info = json.loads(get(gw, "/api/post", method="POST", body=payload)[1])
    assert info["body_length"] == len(payload)


def test_chunked_request_body_streamed(gw):
    def gen():
        for i in range(50):
            yield (b"%03d" % i) * 1000
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("POST", "/api/chunky", body=gen(), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    info = json.loads(conn.getresponse().read())
    assert info["body_length"] == 150_000
    assert info["body"].startswith("000000")


def test_large_response_body(gw):
    resp, body = get(gw, "/raw/large?bytes=5000000")
    assert resp.status == 200
    assert len(body) == 5_000_000


def test_large_response_to_a_slow_reader_keeps_every_byte(gw):
    # A client that starts reading late: the gateway's writes to it go out in parts (the synchronous
    # first attempt takes what fits, the rest is awaited).
    size = 4_000_000
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /raw/pattern?bytes=%d HTTP/1.1\r\nHost: t\r\n\r\n" % size)
        time.sleep(0.5)
        data = bytearray()
        while (end := data.find(b"\r\n\r\n")) < 0 or len(data) - end - 4 < size:
            chunk = s.recv(65536)
            assert chunk, "connection closed early"
            data += chunk
    head, body = bytes(data).split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    assert body == pattern_body(size)


def test_chunked_response_rechunked(gw):
    resp, body = get(gw, "/raw/chunked?parts=20")
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert body == b"".join(b"part%d;" % i for i in range(20))


def test_eof_delimited_response(gw):
    resp, body = get(gw, "/raw/eof")
    assert resp.status == 200
    assert body == b"until-eof-body"


def test_head_request(gw):
    resp, body = get(gw, "/raw/large?bytes=1000", method="HEAD")
    assert resp.status == 200
    assert resp.getheader("Content-Length") == "1000"
    assert body == b""


def test_upstream_status_passed_through(gw):
    assert get(gw, "/raw/status/418")[0].status == 418
    assert get(gw, "/raw/status/204")[0].status == 204


def test_keepalive_reuses_client_and_upstream_connections(gw):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    upstream_ports = set()
    for _ in range(20):
        conn.request("GET", "/api/ka")
        resp = conn.getresponse()
        info = json.loads(resp.read())
        upstream_ports.add(info["client_port"])
    conn.close()
    # 2 workers at most open one upstream connection each for sequential requests.
    assert len(upstream_ports) <= 2


def test_pipelined_requests(gw):
    req = b"GET /api/p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw_request(gw.port, req)
    assert out.count(b"HTTP/1.1 200") == 2
    assert b'"/base/p1"' in out and b'"/base/p2"' in out


def test_upstream_down_gives_502(make_gateway):
    dead = free_port()
    gw = make_gateway(kong_yml(dead)).start()
    resp, body = get(gw, "/api/x")
    assert resp.status == 502
    assert json.loads(body) == {"message": "An invalid response was received from the upstream server"}


def test_upstream_name_that_does_not_resolve_gives_503_without_retries(make_gateway):
    yml = kong_yml(1).replace("http://127.0.0.1:1/base", "http://nowhere.invalid/base")
    gw = make_gateway(yml).start()
    resp, body = get(gw, "/api/x")
    assert resp.status == 503
    assert json.loads(body) == {"message": "name resolution failed"}  # as Kong
    # The name is the service's, not a target's: no other try would resolve it.
    assert gw.logs().count("upstream name resolution failed for 'nowhere.invalid'") == 1


def test_upstream_slow_gives_504(gw):
    started = time.monotonic()
    resp, body = get(gw, "/raw/slow?ms=3000")
    waited = time.monotonic() - started
    assert resp.status == 504
    assert 2.0 <= waited < 3.0, f"the 2 s read_timeout answered after {waited:.2f} s"  # not the upstream's 3 s
    assert json.loads(body) == {"message": "The upstream server is timing out"}


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\rb\r\nHost: x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
])
def test_malformed_requests_get_400_and_close(gw, request_bytes):
    out = raw_request(gw.port, request_bytes)
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert b"connection: close" in out.lower()


def test_huge_headers_get_431(gw):
    out = raw_request(gw.port, b"GET /api HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431")


def test_body_size_limit_413(make_gateway, upstream):
    gw = make_gateway(kong_yml(upstream.server_port), conf_extra="client_max_body_size = 1k\n").start()
    resp, body = get(gw, "/api/x", method="POST", body=b"a" * 5000)
    assert resp.status == 413


def chunked_head(path):
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_chunked_body_over_limit_413_before_the_upstream(make_gateway):
    # A chunked body announces no size: the bytes over client_max_body_size are refused with 413
    # (as nginx does), never forwarded empty or truncated; here it is all there before connecting.
    with socket.create_server(("127.0.0.1", 0)) as fake_upstream:
        fake_upstream.settimeout(0.5)
        gw = make_gateway(kong_yml(fake_upstream.getsockname()[1]), conf_extra="client_max_body_size = 1k\n").start()
        out = raw_request(gw.port, chunked_head("/api/x") + chunk(b"a" * 2000) + b"0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 413"), out
        assert b'"Request size limit exceeded"' in out
        with pytest.raises(socket.timeout):
            fake_upstream.accept()  # the upstream was never reached


def test_chunked_body_over_limit_413_while_streaming(make_gateway):
    # The body arrives in pieces: the first goes upstream, the one past the limit is refused with
    # 413 and the upstream connection is cut (the upstream never gets a complete request).
    # (A route with request_buffering off: by default the body is read whole first, test_bodies_limits.py.)
    streamed = '      - name: streamed\n        paths: ["/streamed"]\n        request_buffering: false\n'
    with socket.create_server(("127.0.0.1", 0)) as fake_upstream:
        fake_upstream.settimeout(5)
        gw = make_gateway(kong_yml(fake_upstream.getsockname()[1], extra_routes=streamed),
                          conf_extra="client_max_body_size = 1k\n").start()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as client:
            client.sendall(chunked_head("/streamed/x") + chunk(b"a" * 600))
            upstream_side, _ = fake_upstream.accept()
            with upstream_side:
                upstream_side.settimeout(5)
                received = upstream_side.recv(65536)
                client.sendall(chunk(b"b" * 600) + b"0\r\n\r\n")
                answer = client.recv(65536)
                assert answer.startswith(b"HTTP/1.1 413"), answer
                while piece := upstream_side.recv(65536):
                    received += piece
        assert b"a" * 600 in received and b"b" * 10 not in received  # nothing over the limit went upstream
        assert not received.endswith(b"0\r\n\r\n")


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return None
        data += piece
    return data


def test_interim_1xx_responses_from_the_upstream_are_skipped(make_gateway):
    # 103 Early Hints (twice, the second arriving with the final head) before the real answer.
    with socket.create_server(("127.0.0.1", 0)) as fake_upstream:
        fake_upstream.settimeout(5)
        gw = make_gateway(kong_yml(fake_upstream.getsockname()[1])).start()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as client:
            client.sendall(b"GET /api/hints HTTP/1.1\r\nHost: x\r\n\r\n")
            upstream_side, _ = fake_upstream.accept()
            with upstream_side:
                assert read_request(upstream_side).startswith(b"GET /base/hints")
                upstream_side.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
                time.sleep(0.1)
                upstream_side.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </b.css>\r\n\r\n"
                                      b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal")
                answer = b""
                while not answer.endswith(b"final"):
                    answer += client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        # Not b"103": X-Kong-Upstream-Latency is about 100 ms here (the pause) and was once 103.
        assert b"X-Final: yes" in answer and b"Early Hints" not in answer and b"css>" not in answer


@pytest.mark.parametrize("pause", [0.02, 0.3])
def test_pooled_connection_closed_by_the_upstream_is_retried_for_free(make_gateway, pause):
    # The upstream answers one request per connection but says keep-alive: the gateway pools the
    # connection, finds it closed on the next request and uses a new one (retries: 0: possible as
    # nothing is sent on it), and the client sees two 200s. The pool's check at reuse finds it
    # closed, soon after its last use (pause 0.02) or later (pause 0.3); docs/upstream.md.
    with socket.create_server(("127.0.0.1", 0)) as fake_upstream:
        fake_upstream.settimeout(5)
        gw = make_gateway(kong_yml(fake_upstream.getsockname()[1], service_extra="retries: 0")).start()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as client:
            for i in range(2):
                client.sendall(b"GET /api/n%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                upstream_side, _ = fake_upstream.accept()
                with upstream_side:
                    assert read_request(upstream_side).startswith(b"GET /base/n%d" % i)
                    upstream_side.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nn%d" % i)
                    answer = b""
                    while not answer.endswith(b"n%d" % i):
                        answer += client.recv(65536)
                    assert answer.startswith(b"HTTP/1.1 200"), answer
                # closed right after the answer: the pooled connection is stale for request 2
                time.sleep(pause)


def test_expect_100_continue(gw):
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
        s.sendall(b"POST /api/cont HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b"hello")
        rest = b""
        while b"}" not in rest:
            rest += s.recv(65536)
        assert b"HTTP/1.1 200" in rest and b'"body": "hello"' in rest


def test_access_log_written(gw):
    get(gw, "/api/logged")
    deadline = time.time() + 5
    while time.time() < deadline and "/api/logged" not in gw.access_log.read_text():
        time.sleep(0.05)
    line = [l for l in gw.access_log.read_text().splitlines() if "/api/logged" in l][0]
    assert '"GET /api/logged HTTP/1.1" 200' in line
    assert '"api" "echo"' in line


def test_graceful_stop_finishes_in_flight_request(gw, tmp_path):
    result = {}
    started = tmp_path / "at-the-upstream"

    def slow():
        result["resp"] = get(gw, f"/raw/slow?ms=700&started={started}")

    t = threading.Thread(target=slow)
    t.start()
    wait_for_file(started)  # the request is in flight: the upstream is holding it
    assert gw.stop() == 0
    t.join()
    assert result["resp"][0].status == 200
