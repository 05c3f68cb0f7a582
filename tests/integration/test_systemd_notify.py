"""systemd's readiness protocol (sd_notify over $NOTIFY_SOCKET), as the packaged unit's Type=notify uses
it: READY=1 once the gateway serves, RELOADING=1 then READY=1 around a reload (a refused one too),
STOPPING=1 when it drains. The test plays systemd: it owns the datagram socket."""
import signal
import socket

from test_proxy import kong_yml, get


def receive(sock):
    return sock.recv(4096).decode().split("\n")


def notify_socket(path, abstract=False):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + path if abstract else path)
    sock.settimeout(30)
    return sock


def test_ready_reloading_stopping(make_gateway, upstream, tmp_path):
    sock = notify_socket(str(tmp_path / "notify.sock"))
    gw = make_gateway(kong_yml(upstream.server_port), env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    gw.start(expect_ok=False)
    ready = receive(sock)
    assert ready[0] == "READY=1" and ready[1].startswith("STATUS=serving"), ready
    # Ready means serving: no wait for the port.
    assert get(gw, "/api/x")[0].status == 200

    reload = gw.cli("reload")
    assert reload.returncode == 0, reload.stderr
    assert receive(sock) == ["RELOADING=1"]
    assert receive(sock) == ["READY=1", "STATUS=serving, configuration generation 2"]

    # A configuration the gateway refuses: the old one serves, and systemd hears it is ready again.
    gw.kong_yml.write_text("services: [")
    assert gw.cli("reload").returncode != 0
    assert receive(sock) == ["RELOADING=1"]
    assert receive(sock) == ["READY=1", "STATUS=serving, configuration generation 2 (last reload refused)"]

    gw.proc.send_signal(signal.SIGTERM)
    assert receive(sock)[0] == "STOPPING=1"
    assert gw.proc.wait(timeout=30) == 0


def test_abstract_socket(make_gateway, upstream, tmp_path):
    """systemd may name an abstract socket: "@name"."""
    name = f"gatehouse-notify-{tmp_path.name}"
    sock = notify_socket(name, abstract=True)
    gw = make_gateway(kong_yml(upstream.server_port), env={"NOTIFY_SOCKET": "@" + name})
    gw.start(expect_ok=False)
    assert receive(sock)[0] == "READY=1"


def test_no_socket_listening(make_gateway, upstream, tmp_path):
    """A NOTIFY_SOCKET nobody reads (or an unusable value) changes nothing."""
    for value in (str(tmp_path / "nobody.sock"), "relative/path", "@"):
        gw = make_gateway(kong_yml(upstream.server_port), env={"NOTIFY_SOCKET": value}).start()
        assert get(gw, "/api/x")[0].status == 200
        assert gw.stop() == 0
