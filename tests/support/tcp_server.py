"""A threaded loopback TCP server for tests: one accept thread, one thread per connection running
`handler(conn)`. The one mechanism behind the tests' hand-made upstreams (raw HTTP, chunked, TCP
streams, TLS).

close() really stops it. Closing a listening socket while another thread is blocked in accept()
does not stop that accept on Linux: the socket keeps listening on its port, without a descriptor,
until a connection arrives (which it then takes), and the port stays in use. Worse, an accept()
that has read the descriptor number but not yet entered the kernel when the socket is closed can
end up accepting on whatever socket reuses that number. close() therefore shuts the listener down
first (which wakes the accept), waits for the accept thread to end, and only then closes it.
"""
import socket
import ssl
import threading


class TcpServer:
    """`handler(conn)` per accepted connection, in its own thread; the connection is closed when the
    handler returns, and an OSError inside it (the peer went away) ends only that connection. With
    `context` (an ssl.SSLContext) each connection is wrapped server-side first. `on_accept(conn)`,
    if given, runs in the accept thread before the handler's thread starts (so that the server's
    record of connections is in accept order)."""

    def __init__(self, handler, context=None, on_accept=None, backlog=64):
        self.handler, self.context, self.on_accept = handler, context, on_accept
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._open = set()
        self._lock = threading.Lock()
        self._closing = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # shut down by close()
                return
            with self._lock:
                if self._closing:
                    conn.close()
                    return
                self.accepted += 1
                self._open.add(conn)
            if self.on_accept:
                self.on_accept(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        served = conn
        try:
            if self.context:
                served = self.context.wrap_socket(conn, server_side=True)
            self.handler(served)
        except (OSError, ssl.SSLError):
            pass  # the peer (or close()) ended the connection
        finally:
            served.close()
            with self._lock:
                self._open.discard(conn)

    def close(self):
        """Stops accepting (the port is free when this returns) and cuts the open connections."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            still_open = list(self._open)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        except OSError:
            pass
        self._acceptor.join(timeout=10)
        self.sock.close()
        for conn in still_open:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked in recv
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_head(conn, limit=1 << 20):
    """Reads until the end of an HTTP head; returns (head, bytes read after it), or (None, data)
    when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > limit:
            raise ValueError("head too long")
        piece = conn.recv(65536)
        if not piece:
            return None, data
        data += piece
    head, rest = data.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n", rest
