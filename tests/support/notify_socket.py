#!/usr/bin/env python3
"""Plays systemd's side of sd_notify(3): binds a Unix datagram socket (mode 0666, so a gateway running
as another user can send) and appends every message it receives to LOG, one per line with its
newlines shown as '|' ("READY=1|STATUS=serving ..."). Runs until killed.
Run: notify_socket.py SOCKET_PATH LOG
"""
import os
import socket
import sys


def main(path, log):
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    with open(log, "a", buffering=1) as out:
        while True:
            message = sock.recv(4096).decode(errors="replace")
            out.write(message.replace("\n", "|") + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
