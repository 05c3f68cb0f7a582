"""Real log servers for the log plugins' tests (http-log, tcp-log, udp-log), each on a free loopback
port, recording what arrives; wait_for(n) blocks until n entries came (the readiness marker the tests
use instead of sleeping).

HttpCollector: an HTTP/1.1 server (http.server, keep-alive). Every request is recorded as
  {"method", "path", "headers" (lower-cased names), "body" (bytes), "entries" (the JSON objects: one,
  or the elements of an array body)}. Behaviour switches, changeable while it runs:
  status (the answer's status), hang (requests wait until released, or close), refuse()
  (stop listening: connections are refused), resume() (listen again on the same port).
TcpCollector: newline-delimited JSON lines over TCP (tests/support/tcp_server.py), optionally TLS;
  records the entries, the connections accepted and the TLS server name each one asked for.
UdpCollector: one JSON object per datagram.
"""
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tcp_server import TcpServer


class _Recorder:
    def __init__(self):
        self.entries = []
        self._cond = threading.Condition()

    def _add(self, entries):
        with self._cond:
            self.entries.extend(entries)
            self._cond.notify_all()

    def wait_for(self, n, timeout=15.0):
        """Waits until at least n entries arrived; returns them (all so far)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.entries) >= n, timeout)
            got = list(self.entries)
        assert ok, f"expected {n} log entries, got {len(got)}"
        return got

    def count(self):
        with self._cond:
            return len(self.entries)


def _decode(body):
    value = json.loads(body)
    return value if isinstance(value, list) else [value]


class HttpCollector(_Recorder):
    def __init__(self):
        super().__init__()
        self.requests = []
        self.status = 200
        self.hang = threading.Event()  # set: requests wait until released
        self._release = threading.Event()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _record(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if collector.hang.is_set():
                    collector._release.wait(60)
                    self.close_connection = True
                    return
                record = {"method": self.command, "path": self.path,
                          "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                status = collector.status
                answer = b"ok" if status < 300 else b"collector says no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                if status < 300:
                    with collector._cond:
                        collector.requests.append(record)
                    collector._add(_decode(body))
                else:
                    with collector._cond:
                        collector.requests.append(dict(record, refused=status))

            do_POST = do_PUT = do_PATCH = _record

        self._handler = Handler
        self.port = None
        self._start(0)

    def _start(self, port):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def accepted_requests(self):
        with self._cond:
            return [r for r in self.requests if "refused" not in r]

    def refuse(self):
        """Stops listening: new connections are refused until resume()."""
        self.server.shutdown()
        self.server.server_close()

    def resume(self):
        self._start(self.port)

    def release(self):
        """Ends the hang: waiting requests close their connections without an answer."""
        self.hang.clear()
        self._release.set()

    def close(self):
        self.release()
        try:
            self.server.shutdown()
            self.server.server_close()
        except OSError:
            pass


class TcpCollector(_Recorder):
    def __init__(self, context=None):
        super().__init__()
        self.server_names = []
        if context is not None:
            context.sni_callback = self._sni
        self.server = TcpServer(self._serve, context=context)
        self.port = self.server.port

    def _sni(self, sslobj, name, ctx):
        with self._cond:
            self.server_names.append(name)

    def _serve(self, conn):
        pending = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            self._add([json.loads(line) for line in lines if line])

    @property
    def accepted(self):
        return self.server.accepted

    def close(self):
        self.server.close()


class UdpCollector(_Recorder):
    def __init__(self):
        super().__init__()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.datagrams = []
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if data == b"":
                return
            with self._cond:
                self.datagrams.append(data)
            self._add([json.loads(data)])

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def tls_context(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx
