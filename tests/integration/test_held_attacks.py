"""What an outside attack found to hold (issue #19, "what is already known to hold"), kept as tests.

Slowloris connections (a request head that never ends, a byte at a time) and thousands of idle
connections are held by the gateway without delaying anyone else, and every descriptor they cost
is given back once they are gone; on the TLS port, handshakes that never finish do the same, and
bytes that are not TLS end their connection at once. The other shapes that held have their tests
elsewhere: reloads under a request stream (test_plugsrv_restart.py), a certificate phase that stalls
or crashes (test_tls.py), ClientHello parsing (the client_hello_fuzz target), request smuggling
(test_smuggling.py). bench/chaos measures the same faults under load, with figures
(docs/reliability.md).
"""
import http.client
import os
import socket
import time

from test_config_admin import read_until_closed
from test_tls import ca, handshake, https_get, tls_gateway  # noqa: F401  (ca, tls_gateway: fixtures)

SLOWLORIS = 300
IDLE = 5000
HALF_HANDSHAKES = 200
# A TLS record header announcing a 512-byte ClientHello, then only its first bytes: a handshake
# that has begun and never goes on.
PARTIAL_CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
NOT_TLS = {"plain HTTP": b"GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
           "zeros": b"\x00" * 64,
           "a record that is not a handshake": b"\x17\x03\x03\x00\x05hello"}
ANSWER_WITHIN = 2.0  # seconds for a plain request while the attack goes on (milliseconds when idle)
FDS_SLACK = 4  # descriptors the gateway may open or close meanwhile (its idle upstream connections)


def kong_yml(upstream_port):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: all
        paths: ["/"]
"""


def open_fds(gw):
    return len(os.listdir(f"/proc/{gw.proc.pid}/fd"))


def wait_until(condition, what, timeout=30.0):
    """`what()` says what did not happen (with the figures of that moment)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what()} did not happen within {timeout} s"
        time.sleep(0.05)


def wait_accepted(gw, before, count, who):
    """The gateway holds (about) `count` more descriptors than `before`: it accepted `who`."""
    wait_until(lambda: open_fds(gw) >= before + count - FDS_SLACK,
               lambda: f"the gateway accepting every {who} ({before} fds before, {open_fds(gw)} now)")


def wait_given_back(gw, before, who):
    wait_until(lambda: open_fds(gw) <= before + FDS_SLACK,
               lambda: f"the descriptors of the {who} given back ({before} fds before, {open_fds(gw)} now)")


def timed_get(gw, path):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    started = time.monotonic()
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - started
    finally:
        conn.close()


def assert_others_served(gw, count=5):
    for i in range(count):
        status, took = timed_get(gw, f"/other/{i}")
        assert status == 200 and took < ANSWER_WITHIN, (status, took)


def started_gateway(make_gateway, upstream):
    gw = make_gateway(kong_yml(upstream.server_port)).start()
    assert_others_served(gw)  # the upstream pool is warm: the baseline below is a serving gateway's
    return gw


def test_slowloris_connections_delay_nobody_and_give_their_descriptors_back(make_gateway, upstream):
    gw = started_gateway(make_gateway, upstream)
    before = open_fds(gw)
    slow = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(SLOWLORIS)]
    try:
        for s in slow:
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        wait_accepted(gw, before, SLOWLORIS, "slow connection")
        for _ in range(3):
            for s in slow:
                s.sendall(b"X")  # the head goes on and never ends
            assert_others_served(gw)
        assert gw.proc.poll() is None
    finally:
        for s in slow:
            s.close()
    wait_given_back(gw, before, "slow connections")


def test_thousands_of_idle_connections_delay_nobody_and_give_their_descriptors_back(make_gateway, upstream):
    gw = started_gateway(make_gateway, upstream)
    before = open_fds(gw)
    idle = []
    try:
        for _ in range(IDLE):
            idle.append(socket.create_connection(("127.0.0.1", gw.port), timeout=10))
        wait_accepted(gw, before, IDLE, "idle connection")
        assert_others_served(gw)
    finally:
        for s in idle:
            s.close()
    wait_given_back(gw, before, "idle connections")
    assert_others_served(gw)


def test_tls_handshakes_that_never_finish_delay_nobody_and_junk_is_cut_at_once(tls_gateway, ca):
    gw, ctx = tls_gateway, ca.client_context()
    assert https_get(gw.tls_port, "api.example.test", "/warm", ctx)[1].status == 200
    before = open_fds(gw)
    half = [socket.create_connection(("127.0.0.1", gw.tls_port), timeout=5) for _ in range(HALF_HANDSHAKES)]
    try:
        for s in half:
            s.sendall(PARTIAL_CLIENT_HELLO)
        wait_accepted(gw, before, HALF_HANDSHAKES, "half handshake")
        for _ in range(3):
            started = time.monotonic()
            handshake(gw.tls_port, "api.example.test", ctx)
            assert time.monotonic() - started < ANSWER_WITHIN
        conn, resp, _ = https_get(gw.tls_port, "api.example.test", "/other", ctx)
        conn.close()
        assert resp.status == 200
        for what, junk in NOT_TLS.items():
            with socket.create_connection(("127.0.0.1", gw.tls_port), timeout=5) as s:
                s.sendall(junk)
                try:
                    answer = read_until_closed(s, ANSWER_WITHIN)
                except ConnectionResetError:
                    answer = b""  # closed at once, by a reset
            assert answer is not None, f"{what}: the connection stayed open"
            assert b"HTTP/1.1 200" not in answer, (what, answer)
        assert gw.proc.poll() is None
    finally:
        for s in half:
            s.close()
    wait_given_back(gw, before, "half handshakes")
