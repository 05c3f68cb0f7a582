#!/usr/bin/env python3
"""A real HTTP/1.1 upstream for the proxy-cache tests: echo_upstream's behaviours, plus a count of
the requests it answered (so a test can tell a cache hit from a proxied request) and one path
whose answer the query describes (as httpbin's /response-headers):

  .../respond?status=N&bytes=N&chunked=1&<Header-Name>=<value>...
      answers status N (default 200) with every other query argument as a response header
      (Content-Type defaults to application/json), a JSON body {"hit": <count>, "path": ...} padded
      to `bytes`, chunked when asked.
"""
import json
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import echo_upstream

CONTROL = {"status", "bytes", "chunked"}


class CountingHandler(echo_upstream.Handler):
    def handle_any(self):
        with self.server.lock:
            self.server.hits += 1
            hit = self.server.hits
        url = urlsplit(self.path)
        if not url.path.endswith("/respond"):
            return super().handle_any()
        self._read_body()
        args = parse_qsl(url.query, keep_blank_values=True)
        control = {k: v for k, v in args if k in CONTROL}
        headers = [(k, v) for k, v in args if k not in CONTROL]
        body = json.dumps({"hit": hit, "path": url.path}).encode()
        size = int(control.get("bytes", "0"))
        if size > len(body):
            body += b" " * (size - len(body))
        self.send_response(int(control.get("status", "200")))
        if not any(k.lower() == "content-type" for k, _ in headers):
            self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        chunked = control.get("chunked") == "1"
        self.send_header("Transfer-Encoding" if chunked else "Content-Length", "chunked" if chunked else str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if chunked:
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


class CountingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port=0, name="cache-upstream"):
        super().__init__(("127.0.0.1", port), CountingHandler)
        self.name = name
        self.hits = 0
        self.lock = threading.Lock()


def start_in_thread(port=0, name="cache-upstream"):
    server = CountingServer(port, name)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
