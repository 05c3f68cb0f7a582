#!/usr/bin/python3
"""A stand-in plugin server for supervision tests: a real process that listens on a Unix socket.

Usage: unix_server.py SOCKET [--listen-after SECONDS] [--ignore-term] [--child]
                             [--stdout LINE]... [--stderr LINE]...

It prints the --stdout/--stderr lines, then (after --listen-after) binds SOCKET like Kong's
servers do (removing a stale file first), prints "listening on SOCKET <pid>" and answers each
connection with "pong <pid>\\n". --ignore-term makes SIGTERM a no-op (tests the SIGKILL
escalation); --child forks a grandchild that just sleeps (tests process-group cleanup) and
writes its pid to SOCKET.child.
"""
import argparse
import os
import signal
import socket
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("socket")
parser.add_argument("--listen-after", type=float, default=0.0)
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("--child", action="store_true")
parser.add_argument("--stdout", action="append", default=[])
parser.add_argument("--stderr", action="append", default=[])
args = parser.parse_args()

if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if args.child:
    child = os.fork()
    if child == 0:
        while True:
            time.sleep(1)
    with open(args.socket + ".child", "w") as f:
        f.write(str(child))

for line in args.stdout:
    print(line, flush=True)
for line in args.stderr:
    print(line, file=sys.stderr, flush=True)

time.sleep(args.listen_after)
if os.path.exists(args.socket):
    os.unlink(args.socket)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(args.socket)
server.listen(16)
print(f"listening on {args.socket} {os.getpid()}", flush=True)
while True:
    conn, _ = server.accept()
    try:
        conn.sendall(f"pong {os.getpid()}\n".encode())
    except OSError:
        pass
    conn.close()
