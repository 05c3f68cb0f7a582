"""gRPC through the real gatehouse binary (docs/grpc.md): a real gRPC server and client (Debian's
python3-grpcio, generic handlers with raw-byte messages: tests/support/grpc_upstream.py) on both
sides of the gateway's h2c listener, services `grpc` (h2c prior knowledge) and `grpcs` (TLS, ALPN
h2): unary, both streaming directions, deadlines, a message of several MB, upstream statuses and
trailers passed through, gateway errors mapped to gRPC statuses as Kong maps them, plugins in the
access and log phases; an upstream's balancer and the service's retries as for HTTP/1.1 services."""
import ssl
import subprocess
import time

import grpc
import pytest

from conftest import Gateway, stop_all, upstream_health
from tcp_server import TcpServer
from test_tls import CertificateAuthority
import grpc_upstream


def gateway_yml(plain_port, tls_port, no_h2_port):
    return f"""
_format_version: "3.0"
upstreams:
  - name: grpc-pool
    healthchecks:
      passive:
        unhealthy: {{tcp_failures: 2}}
    targets:
      - target: 127.0.0.1:1
        weight: 100
      - target: 127.0.0.1:{plain_port}
        weight: 1
  - name: grpc-empty
    targets:
      - target: 127.0.0.1:{plain_port}
        weight: 0
consumers:
  - username: alice
    keyauth_credentials:
      - key: secret
services:
  - name: grpc-plain
    url: grpc://127.0.0.1:{plain_port}
    read_timeout: 3000
    routes:
      - name: echo
        protocols: [grpc, grpcs]
        paths: ["/test.Echo/"]
        strip_path: false
        plugins:
          - name: gatehouse-native-test
            config: {{tag: grpc}}
      - name: keyed
        protocols: [grpc]
        hosts: ["keyed.test"]
        plugins:
          - name: key-auth
      - name: terminated
        protocols: [grpc]
        hosts: ["closed.test"]
        plugins:
          - name: request-termination
            config: {{status_code: 403, message: "closed for maintenance"}}
      - name: tls-only
        protocols: [grpcs]
        hosts: ["tls-only.test"]
  - name: grpc-tls
    url: grpcs://127.0.0.1:{tls_port}
    routes:
      - name: secure
        protocols: [grpc]
        hosts: ["secure.test"]
  - name: nowhere
    url: grpc://127.0.0.1:1
    routes:
      - name: dead
        protocols: [grpc]
        hosts: ["dead.test"]
  - name: balanced
    url: grpc://grpc-pool
    routes:
      - name: pool
        protocols: [grpc]
        hosts: ["pool.test"]
  - name: no-peer
    url: grpc://grpc-empty
    routes:
      - name: empty
        protocols: [grpc]
        hosts: ["empty.test"]
  - name: unresolved
    url: grpc://nowhere.invalid:50051
    routes:
      - name: unresolved
        protocols: [grpc]
        hosts: ["unresolved.test"]
  - name: not-h2
    url: grpcs://127.0.0.1:{no_h2_port}
    retries: 1
    routes:
      - name: not-h2
        protocols: [grpc]
        hosts: ["not-h2.test"]
"""


def tls_without_alpn(cert, key):
    """A TLS server that completes handshakes but offers no ALPN protocol (not an HTTP/2 server)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return TcpServer(lambda conn: conn.recv(1), context=context)


@pytest.fixture(scope="module")
def grpc_gw(tmp_path_factory):
    directory = tmp_path_factory.mktemp("grpc")
    ca = CertificateAuthority(directory / "ca")
    cert, key = ca.issue("upstream", ["localhost"], ips=["127.0.0.1"])
    plain, plain_port = grpc_upstream.start()
    secure, tls_port = grpc_upstream.start(cert=cert, key=key)
    no_h2 = tls_without_alpn(cert, key)
    gw = Gateway(directory, gateway_yml(plain_port, tls_port, no_h2.port),
                 env={"GATEHOUSE_TEST_NATIVE_PLUGINS": "1"})
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.conf.write_text(gw.conf.read_text().replace(f"proxy_listen = 127.0.0.1:{gw.port}\n",
                                                   f"proxy_listen = 127.0.0.1:{gw.port} http2\n")
                       + "plugins = bundled, gatehouse-native-test\n")
    try:
        gw.start()
        gw.channel = grpc_upstream.channel(f"127.0.0.1:{gw.port}")
        yield gw
        gw.channel.close()
        stop_all([gw])
    finally:
        plain.stop(None)
        secure.stop(None)
        no_h2.close()


def call(gw, name, request=b"", kind="unary_unary", **kw):
    return grpc_upstream.method(gw.channel, name, kind)(request, timeout=kw.pop("timeout", 10), **kw)


def authority_channel(gw, host):
    """A channel to the gateway whose calls carry :authority `host` (routes by host)."""
    return grpc.insecure_channel(f"127.0.0.1:{gw.port}",
                                 options=grpc_upstream.OPTIONS + [("grpc.default_authority", host)])


def test_unary_with_a_native_plugin_in_access_and_log(grpc_gw):
    response, call_info = grpc_upstream.method(grpc_gw.channel, "Unary").with_call(b"hello", timeout=10)
    assert response == b"hello"
    initial = dict(call_info.initial_metadata())
    assert initial["x-seen-native"] == "grpc"  # the access phase set an upstream header
    assert initial["x-native"] == "grpc"  # ... and a response header
    assert call_info.code() == grpc.StatusCode.OK
    deadline = time.time() + 10
    while "log phase, access ran" not in grpc_gw.logs() and time.time() < deadline:
        time.sleep(0.05)
    assert "log phase, access ran" in grpc_gw.logs()
    assert "HTTP/2.0" in grpc_gw.access_log.read_text()


def test_server_streaming(grpc_gw):
    messages = list(call(grpc_gw, "Split", b"50:1000", kind="unary_stream"))
    assert len(messages) == 50 and all(len(m) == 1000 for m in messages)
    assert messages[1] == b"B" * 1000


def test_client_streaming(grpc_gw):
    parts = [bytes([48 + i % 10]) * 7000 for i in range(40)]
    assert call(grpc_gw, "Join", iter(parts), kind="stream_unary") == b"".join(parts)


def test_bidirectional_streaming_answers_each_message_before_the_next_is_sent(grpc_gw):
    import queue
    outbox = queue.Queue()

    def requests():
        while True:
            item = outbox.get()
            if item is None:
                return
            yield item

    replies = grpc_upstream.method(grpc_gw.channel, "Chat", "stream_stream")(requests(), timeout=10)
    for i in range(5):  # each reply arrives while the request stream is still open
        outbox.put(f"m{i}".encode())
        assert next(replies) == f"echo:m{i}".encode()
    outbox.put(b"end")
    outbox.put(None)
    assert list(replies) == []
    assert replies.code() == grpc.StatusCode.OK


def test_large_message_both_ways(grpc_gw):
    big = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    assert call(grpc_gw, "Unary", big, timeout=30) == big


def test_upstream_error_status_is_passed_through(grpc_gw):
    with pytest.raises(grpc.RpcError) as failure:
        call(grpc_gw, "Fail")
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert failure.value.details() == "no such thing"


def test_trailers_after_data_are_passed_through(grpc_gw):
    stream = call(grpc_gw, "FailLater", kind="unary_stream")
    assert next(stream) == b"first"
    with pytest.raises(grpc.RpcError) as failure:
        next(stream)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.value.details() == "quota gone"


def test_client_deadline_exceeded(grpc_gw):
    with pytest.raises(grpc.RpcError) as failure:
        call(grpc_gw, "Sleep", b"2", timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def h2c_call(gw, path, headers=(), host="grpc.test", message=b"x"):
    """One gRPC call with curl (h2c prior knowledge, the message from a file: its length is known):
    the response head and trailers as curl prints them, lower-cased."""
    frame = gw.dir / "message.bin"
    frame.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    args = ["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", "-H", f"Host: {host}",
            "-H", "content-type: application/grpc", "-H", "te: trailers", "--data-binary", f"@{frame}"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(args + [f"http://127.0.0.1:{gw.port}{path}"], capture_output=True, timeout=20)
    return out.stdout.decode(errors="replace").lower()


def test_gateway_honours_grpc_timeout_and_answers_deadline_exceeded(grpc_gw):
    # curl knows nothing of gRPC deadlines: the gateway itself ends the call at grpc-timeout.
    started = time.time()
    head = h2c_call(grpc_gw, "/test.Echo/Sleep", ["grpc-timeout: 300m"], message=b"3")
    assert time.time() - started < 2.5
    assert "grpc-status: 4" in head and "grpc-message: deadline exceeded" in head


def test_read_timeout_maps_to_deadline_exceeded(grpc_gw):
    # the service's read_timeout is 3 s; no grpc-timeout
    head = h2c_call(grpc_gw, "/test.Echo/Sleep", message=b"5")
    assert " 504" in head.splitlines()[0]
    assert "grpc-status: 4" in head and "content-type: application/grpc" in head


def test_no_route_is_grpc_not_found(grpc_gw):
    with pytest.raises(grpc.RpcError) as failure:
        grpc_gw.channel.unary_unary("/other.Service/Method")(b"", timeout=10)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert failure.value.details() == "no Route matched with those values"


def test_key_auth_refusal_is_unauthenticated(grpc_gw):
    channel = authority_channel(grpc_gw, "keyed.test")
    with pytest.raises(grpc.RpcError) as failure:
        grpc_upstream.method(channel, "Unary")(b"x", timeout=10)
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert grpc_upstream.method(channel, "Unary")(b"x", timeout=10, metadata=(("apikey", "secret"),)) == b"x"
    channel.close()


def test_request_termination_is_permission_denied_with_its_message(grpc_gw):
    channel = authority_channel(grpc_gw, "closed.test")
    with pytest.raises(grpc.RpcError) as failure:
        grpc_upstream.method(channel, "Unary")(b"x", timeout=10)
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert failure.value.details() == "closed for maintenance"
    channel.close()


def test_unreachable_upstream_is_an_error_status(grpc_gw):
    channel = authority_channel(grpc_gw, "dead.test")
    with pytest.raises(grpc.RpcError) as failure:
        grpc_upstream.method(channel, "Unary")(b"x", timeout=10)
    assert failure.value.code() == grpc.StatusCode.INTERNAL  # Kong: 502 -> 13
    assert "invalid response" in failure.value.details()
    channel.close()


def test_grpcs_upstream_over_tls_with_alpn_h2(grpc_gw):
    channel = authority_channel(grpc_gw, "secure.test")
    assert grpc_upstream.method(channel, "Unary")(b"over tls", timeout=10) == b"over tls"
    assert list(grpc_upstream.method(channel, "Split", "unary_stream")(b"3:10", timeout=10)) == [
        b"A" * 10, b"B" * 10, b"C" * 10]
    channel.close()


def unary_via(gw, host, request=b"x"):
    channel = authority_channel(gw, host)
    try:
        return grpc_upstream.method(channel, "Unary")(request, timeout=10)
    finally:
        channel.close()


def test_a_refused_target_is_retried_on_the_next_and_reported_to_the_balancer(grpc_gw):
    dead = "127.0.0.1:1"  # nothing listens on port 1
    assert upstream_health(grpc_gw, "grpc-pool")[dead] == "HEALTHY"
    before = grpc_gw.logs().count(f"connect() to {dead} failed")
    # The dead target weighs 100 times more: the first calls try it first, then the live one.
    assert [unary_via(grpc_gw, "pool.test", f"call {i}".encode()) for i in range(10)] == [
        f"call {i}".encode() for i in range(10)]
    # Each refusal was a try the balancer heard of: after two (tcp_failures) the target is out.
    assert grpc_gw.logs().count(f"connect() to {dead} failed") - before == 2
    assert upstream_health(grpc_gw, "grpc-pool")[dead] == "UNHEALTHY"


def test_no_target_left_and_an_unresolved_host_are_unavailable_as_in_kong(grpc_gw):
    for host, message in (("empty.test", "failure to get a peer from the ring-balancer"),
                          ("unresolved.test", "name resolution failed")):
        with pytest.raises(grpc.RpcError) as failure:
            unary_via(grpc_gw, host)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE  # Kong: 503 -> 14
        assert failure.value.details() == message


def test_a_tls_upstream_without_alpn_h2_is_refused_within_the_retries(grpc_gw):
    before = grpc_gw.logs().count("did not negotiate HTTP/2 (ALPN h2) for a grpcs service")
    with pytest.raises(grpc.RpcError) as failure:
        unary_via(grpc_gw, "not-h2.test")
    assert failure.value.code() == grpc.StatusCode.INTERNAL  # 502 -> 13
    # retries: 1, so two tries, each refused after its handshake.
    assert grpc_gw.logs().count("did not negotiate HTTP/2 (ALPN h2) for a grpcs service") - before == 2


def test_kong_route_checks(grpc_gw):
    # a gRPC request over HTTP/1.1: 426; a request that is not gRPC: 415; cleartext on grpcs only: status 1
    out = subprocess.run(["curl", "-sS", "-i", "--http1.1", "-H", "content-type: application/grpc", "-d", "x",
                          grpc_gw.url("/test.Echo/Unary")], capture_output=True, text=True, timeout=10).stdout
    assert out.startswith("HTTP/1.1 426") and "Please use HTTP2 protocol" in out
    out = subprocess.run(["curl", "-sS", "-i", "--http2-prior-knowledge", grpc_gw.url("/test.Echo/Unary")],
                         capture_output=True, text=True, timeout=10).stdout
    assert out.startswith("HTTP/2 415") and "Non-gRPC request matched gRPC route" in out
    # A real gRPC client (curl 7.88 hangs when the answer comes before its upload has ended, which
    # it does here: the gateway answers without reading the body).
    channel = authority_channel(grpc_gw, "tls-only.test")
    with pytest.raises(grpc.RpcError) as failure:
        grpc_upstream.method(channel, "Unary")(b"x", timeout=10)
    assert failure.value.code() == grpc.StatusCode.CANCELLED  # grpc-status 1, as Kong answers
    assert failure.value.details() == "gRPC request matched gRPCs route"
    channel.close()
