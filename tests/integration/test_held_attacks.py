"""What an outside attack found to hold (issue #19, "what is already known to hold"), kept as tests.

Slowloris connections (a request head that never ends, a byte at a time) and thousands of idle
connections are held by the gateway without delaying anyone else, and every descriptor they cost
is given back once they are gone. The other shapes that held have their tests elsewhere: reloads
under a request stream (test_plugsrv_restart.py), TLS handshakes stalled or abused (test_tls.py and
the client_hello_fuzz target), request smuggling (test_smuggling.py). bench/chaos measures the same
faults under load, with figures (docs/reliability.md).
"""
import http.client
import os
import socket
import time

SLOWLORIS = 300
IDLE = 5000
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
        wait_until(lambda: open_fds(gw) >= before + SLOWLORIS - FDS_SLACK,
                   lambda: f"the gateway accepting every slow connection ({before} fds before, {open_fds(gw)} now)")
        for _ in range(3):
            for s in slow:
                s.sendall(b"X")  # the head goes on and never ends
            assert_others_served(gw)
        assert gw.proc.poll() is None
    finally:
        for s in slow:
            s.close()
    wait_until(lambda: open_fds(gw) <= before + FDS_SLACK,
               lambda: f"the slow connections' descriptors closed ({before} fds before, {open_fds(gw)} now)")


def test_thousands_of_idle_connections_delay_nobody_and_give_their_descriptors_back(make_gateway, upstream):
    gw = started_gateway(make_gateway, upstream)
    before = open_fds(gw)
    idle = []
    try:
        for _ in range(IDLE):
            idle.append(socket.create_connection(("127.0.0.1", gw.port), timeout=10))
        wait_until(lambda: open_fds(gw) >= before + IDLE - FDS_SLACK,
                   lambda: f"the gateway accepting every idle connection ({before} fds before, {open_fds(gw)} now)")
        assert_others_served(gw)
    finally:
        for s in idle:
            s.close()
    wait_until(lambda: open_fds(gw) <= before + FDS_SLACK,
               lambda: f"the idle connections' descriptors closed ({before} fds before, {open_fds(gw)} now)")
    assert_others_served(gw)
