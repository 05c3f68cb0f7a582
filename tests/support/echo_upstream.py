#!/usr/bin/env python3
"""A real HTTP/1.1 upstream for tests and the quickstart: echoes what it received as JSON.

Paths with behaviour (matched on the last segments, so any route prefix may stay in front):
  /status/<code>        answers with that status
  /slow?ms=N            waits N ms before answering (&started=FILE: creates FILE when the wait begins,
                        a test's marker that the request is at the upstream)
  /large?bytes=N        a body of N bytes ('x' repeated), Content-Length framed
  /pattern?bytes=N      a body of N bytes where every 8-byte block is its own index (pattern_body):
                        a dropped, repeated or reordered piece anywhere shows
  /chunked?parts=N      a chunked body of N parts
  /eof                  a body delimited by closing the connection (no length, no chunking)
  /close                answers, then closes the connection
  anything else         200 with {"method","path","query","headers","body","body_length","server"}
Run: echo_upstream.py PORT [NAME]
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def pattern_body(n: int) -> bytes:
    """n bytes: "00000000", "00000001", ... (the 8-byte blocks numbered), cut at n."""
    return b"".join(b"%08d" % i for i in range(n // 8 + 1))[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_name = "upstream"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream-Name", self.server.name)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = self._read_body()
        # Behaviours are selected by the last path segments, whatever prefix the route kept.
        segments = url.path.rstrip("/").split("/")
        kind = segments[-1]
        if len(segments) >= 2 and segments[-2] == "status":
            code = int(kind)
            return self._send(code, json.dumps({"status": code}).encode())
        if kind == "slow":
            if "started" in query:
                open(query["started"][0], "w").close()
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
        if kind == "large":
            n = int(query.get("bytes", ["1000000"])[0])
            return self._send(200, b"x" * n, "application/octet-stream")
        if kind == "pattern":
            return self._send(200, pattern_body(int(query.get("bytes", ["1000000"])[0])), "application/octet-stream")
        if kind == "chunked":
            parts = int(query.get("parts", ["3"])[0])
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Upstream-Name", self.server.name)
            self.end_headers()
            for i in range(parts):
                piece = f"part{i};".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if kind == "eof":
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Upstream-Name: %s\r\n\r\nuntil-eof-body"
                             % self.server.name.encode())
            return
        info = {
            "method": self.command,
            "path": url.path,
            "raw_path": self.path,
            "query": url.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "header_list": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("latin-1"),
            "body_length": len(body),
            "server": self.server.name,
            "client_port": self.client_address[1],
        }
        extra = {"Connection": "close"} if kind == "close" else None
        if kind == "close":
            self.close_connection = True
        self._send(200, json.dumps(info).encode(), extra=extra)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a gateway opening 100 upstream connections at once (h2load's
    # concurrent streams) overflowed it, and a connection whose handshake the kernel dropped waited for
    # the gateway's 60 s read timeout. Real servers listen with hundreds (nginx 511).
    request_queue_size = 512

    def __init__(self, port, name):
        super().__init__(("127.0.0.1", port), Handler)
        self.name = name


def start_in_thread(port=0, name="upstream"):
    server = Server(port, name)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    name = sys.argv[2] if len(sys.argv) > 2 else "upstream"
    server = Server(port, name)
    print(f"echo upstream '{name}' listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
