#!/usr/bin/env bash
# Stream example: a TCP echo server on 127.0.0.1:9100 and gatehouse proxying TCP on 5555 (anyone)
# and 5556 (a JS preread plugin allows 127.0.0.2 only). Everything it writes goes into
# build/stream-example. Needs a built gatehouse (scripts/build, or BUILD=/path/to/build) and the
# JS plugin server (scripts/setup installs tools/node_modules).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
out=$root/build/stream-example
mkdir -p "$out"
sed -e "s#@ROOT@#$root#g" -e "s#@OUT@#$out#g" "$root/examples/stream/gatehouse.conf.in" > "$out/gatehouse.conf"

# The upstream: echoes each chunk back, half-closes after the client's end of stream.
/usr/bin/python3 - <<'PY' &
import socket, threading
def echo(conn):
    with conn:
        while chunk := conn.recv(65536):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
server = socket.create_server(("127.0.0.1", 9100))
while True:
    conn, _ = server.accept()
    threading.Thread(target=echo, args=(conn,), daemon=True).start()
PY
upstream_pid=$!
trap 'kill $upstream_pid 2>/dev/null || true' EXIT

cat <<TXT

gatehouse stream example — try, from another terminal:
  echo hello | nc -N 127.0.0.1 5555                  # echoed back through gatehouse
  echo hello | nc -N -s 127.0.0.2 127.0.0.1 5556     # allowed by the preread plugin: echoed
  echo hello | nc -N 127.0.0.1 5556                  # refused: closed, see the error log
Each connection ends with a stream access log line on stdout. Stop with Ctrl-C.

TXT
"$build/gatehouse" start -c "$out/gatehouse.conf"
