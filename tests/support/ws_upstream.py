"""A real WebSocket upstream for tests and benchmarks (Debian's python3-websockets), run as its own
process: `python3 ws_upstream.py [--tls CERT KEY]` prints `listening <port>` once it accepts.

Paths (anywhere in the path: a plugin may have prefixed it):
  /headers  sends the handshake's path and headers (and its own port) as JSON first, then echoes
  /push     sends "hello from upstream" right after the handshake, then echoes
  /close    closes (code 1000) right after the handshake
  /refuse   answers the handshake 403 (no upgrade)
  anything else echoes every message (text or binary, any size) until the client closes
"""
import argparse
import asyncio
import http
import json
import ssl
import sys

import websockets


async def handler(ws, path=None):
    path = ws.path
    if "/headers" in path:
        await ws.send(json.dumps({"path": path, "port": ws.local_address[1],
                                  "headers": [[k, v] for k, v in ws.request_headers.raw_items()]}))
    elif "/push" in path:
        await ws.send("hello from upstream")
    elif "/close" in path:
        await ws.close(1000, "upstream says bye")
        return
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def process_request(path, headers):
    if "/refuse" in path:
        return http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain"), ("X-Refused-By", "upstream")], b"no upgrade for you\n"
    return None


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
    # No size limit (large-frame tests), no compression (bytes on the wire are the bytes sent), no
    # keepalive pings (an idle test must see silence).
    async with websockets.serve(handler, "127.0.0.1", args.port, process_request=process_request, ssl=context,
                                max_size=None, compression=None, ping_interval=None, max_queue=64) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
