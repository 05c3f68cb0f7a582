"""The admin listener through the real binary: the proxy's timeouts and limits apply to it, an
exposed plain-HTTP admin listener is warned about, and the plugin servers' commands stay out of it."""
import http.client
import json
import socket
import time

from conftest import free_port
from test_pluginservers import EMPTY_YML, eventually, fixture_server_conf

SHORT_TIMEOUTS = "nginx_admin_client_header_timeout = 1s\nnginx_admin_keepalive_timeout = 1s\n"


def read_until_closed(sock, timeout):
    """Everything the server sends until it closes; None if it is still open after `timeout`."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                return data
            data += piece
    except socket.timeout:
        return None


def test_idle_and_slow_admin_connections_are_closed_by_the_timeouts(make_gateway):
    gw = make_gateway(EMPTY_YML, conf_extra=SHORT_TIMEOUTS).start()
    idle = [socket.create_connection(("127.0.0.1", gw.admin_port)) for _ in range(20)]
    slow = [socket.create_connection(("127.0.0.1", gw.admin_port)) for _ in range(20)]
    for s in slow:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: a")
    started = time.monotonic()
    for s in idle:
        assert read_until_closed(s, 5) == b""  # nothing was asked: closed without an answer
    for s in slow:
        answer = read_until_closed(s, 5)
        assert answer is not None and answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < 4
    for s in idle + slow:
        s.close()

    # After an answered request, the keep-alive timeout closes the idle connection.
    with socket.create_connection(("127.0.0.1", gw.admin_port)) as s:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = read_until_closed(s, 5)
        assert answer is not None and answer.startswith(b"HTTP/1.1 200 "), answer


def test_a_body_over_the_limit_is_not_read_the_request_is_answered_and_the_connection_closed(make_gateway):
    gw = make_gateway(EMPTY_YML).start()
    with socket.create_connection(("127.0.0.1", gw.admin_port)) as s:
        s.sendall(b"POST /services HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 1000)
        answer = read_until_closed(s, 5)
    assert answer is not None and answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"Connection: close" in answer
    with socket.create_connection(("127.0.0.1", gw.admin_port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Big: " + b"y" * 40000 + b"\r\n\r\n")
        answer = read_until_closed(s, 5)
    assert answer is not None and answer.startswith(b"HTTP/1.1 431 "), answer


def test_an_admin_listener_reachable_from_other_hosts_without_tls_is_warned_about(make_gateway):
    exposed = f"admin_listen = 0.0.0.0:{free_port()}\n"
    gw = make_gateway(EMPTY_YML, conf_extra=exposed)
    check = gw.cli("config", "check")
    assert check.returncode == 0, check.stderr
    assert "is reachable from other hosts over plain HTTP: the admin API has no authentication" in check.stderr
    gw.start()
    assert eventually(lambda: "reachable from other hosts over plain HTTP" in gw.logs()), gw.logs()

    quiet = make_gateway(EMPTY_YML)
    check = quiet.cli("config", "check")
    assert check.returncode == 0 and "reachable from other hosts" not in check.stderr, check.stderr


def test_the_admin_api_does_not_serve_plugin_server_commands(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    gw = make_gateway(EMPTY_YML, conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n{conf}")
    gw.start()
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    conn.request("GET", "/plugin-servers")
    body = conn.getresponse().read().decode()
    conn.close()
    (server,) = json.loads(body)["servers"]
    assert server["name"] == "fx" and server["plugins"][0]["name"] == "fx-plugin"
    assert "start_cmd" not in server and "query_cmd" not in server
    assert "unix_server.py" not in body and "fx-dump" not in body

    # The operator's CLI shows them, from the kong.conf it was given.
    local = gw.cli("plugins", "--running", "--json")
    assert local.returncode == 0, local.stderr
    (server,) = json.loads(local.stdout)["servers"]
    assert "unix_server.py" in server["start_cmd"] and "fx-dump" in server["query_cmd"]
