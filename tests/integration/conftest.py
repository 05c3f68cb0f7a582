"""Shared fixtures: real gatehouse processes, real upstream servers, real sockets."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import echo_upstream  # noqa: E402

BUILD_DIR = Path(os.environ.get("GATEHOUSE_BUILD_DIR", ROOT / "build"))
GATEHOUSE = BUILD_DIR / "gatehouse"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Gateway:
    """A real `gatehouse start` process with its own prefix, config and kong.yml."""

    def __init__(self, workdir, kong_yml, conf_extra="", env=None, workers=2):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.prefix = self.dir / "prefix"
        self.kong_yml = self.dir / "kong.yml"
        self.conf = self.dir / "gatehouse.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.kong_yml.write_text(kong_yml)
        self.conf.write_text(
            f"prefix = {self.prefix}\n"
            f"proxy_listen = 127.0.0.1:{self.port}\n"
            f"admin_listen = 127.0.0.1:{self.admin_port}\n"
            f"declarative_config = {self.kong_yml}\n"
            f"nginx_worker_processes = {workers}\n"
            f"log_level = debug\n"
            f"proxy_error_log = {self.error_log}\n"
            f"proxy_access_log = {self.access_log}\n" + conf_extra
        )
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def start(self, expect_ok=True):
        self.stdout = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen([str(GATEHOUSE), "start", "-c", str(self.conf)], stdout=self.stdout,
                                     stderr=subprocess.STDOUT, env=self.env)
        if expect_ok and not wait_port(self.port):
            self.proc.kill()
            raise AssertionError("gatehouse did not start:\n" + self.logs())
        return self

    def cli(self, *args, timeout=30):
        return subprocess.run([str(GATEHOUSE), *args, "-c", str(self.conf)], capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def logs(self):
        out = ""
        for f in (self.dir / "stdout.log", self.error_log):
            if f.exists():
                out += f.read_text(errors="replace")
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def upstream():
    server = echo_upstream.start_in_thread(0, "up1")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_gateway(tmp_path):
    gateways = []

    def make(kong_yml, **kw):
        gw = Gateway(tmp_path / f"gw{len(gateways)}", kong_yml, **kw)
        gateways.append(gw)
        return gw

    yield make
    for gw in gateways:
        gw.stop()


def raw_request(port, data, timeout=5.0, read_all=True):
    """Sends raw bytes, returns everything the server sent until it closed (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                chunks.append(piece)
                if not read_all:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)
