"""A real redis-server (Debian's) for a test: its own loopback port and directory, no persistence,
ready when it answers PING; stopped (and its log kept) after. `command()` speaks RESP directly so
tests need no client library."""
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from conftest import free_port


def _encode(*args):
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += f"${len(a)}\r\n".encode() + a + b"\r\n"
    return out


def _read_reply(f):
    line = f.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b"-"):
        return rest.decode() if kind == b"+" else RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError(f"bad reply {line!r}")


class RedisServer:
    def __init__(self, workdir, password=None, users=(), port=None, tls=False):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.password = password
        self.users = users  # ACL lines, e.g. "alice on >secret ~* +@all"
        self.tls = tls  # TLS only, on `port`, with a self-signed certificate for 127.0.0.1
        self.proc = None

    def start(self, timeout=10.0):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "no", "--logfile", str(self.dir / "redis.log"),
                "--daemonize", "no"]
        if self.tls:
            cert, key = self.dir / "cert.pem", self.dir / "key.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                            str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
            args[1:3] = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert), "--tls-key-file",
                         str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        for user in self.users:
            args += ["--user", *user.split()]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited:\n" + self.log())
            try:
                reply = self.command("PING", timeout=0.5)
                if reply == "PONG" or (isinstance(reply, RuntimeError) and "NOAUTH" in str(reply)):
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("redis-server did not answer PING:\n" + self.log())

    def log(self):
        path = self.dir / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self, *args, timeout=5.0, db=0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as plain:
            s = plain
            if self.tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                s = context.wrap_socket(plain)
            f = s.makefile("rb")
            prefix = []
            if self.password:
                prefix.append(("AUTH", self.password))
            if db:
                prefix.append(("SELECT", db))
            for p in prefix:
                s.sendall(_encode(*p))
                _read_reply(f)
            s.sendall(_encode(*args))
            return _read_reply(f)

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
