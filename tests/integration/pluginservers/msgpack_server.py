#!/usr/bin/python3
"""A MsgPack:1 plugin server for the gateway's plugin-server tests (tests/integration/test_plugsrv_*.py).

    msgpack_server.py --dump                 the plugin list (one plugin, "mp-fake", phases access + log)
    msgpack_server.py SOCKET                 serve on SOCKET

It speaks the protocol as Kong's JS/Python servers do (one thread per connection, one request at a
time); what an event does is chosen by the instance's config `mode`:

  ok        answers "ret" at once
  flood     never answers: sends `[2, "serverPid", pid]` notifications as fast as it can until the
            connection breaks (a hostile or broken server)
  error     answers the event with an error string ("boom")
  slow      answers "ret" after 1.5 s
  notice    kong.log.notice("notice from mp-fake"), then "ret"
  ctx       kong.nginx.get_ctx(K) for each Kong timing key K, the answers set as response headers
            "x-ctx-<k>" (kong.response.set_header), then "ret"
  chatty    prints a 4 KB line (its stdout is the gateway's pipe: 16 events fill it), then "ret"

Every line it prints goes to the gateway's log. "peer closed before sending anything" is what a
go-pdk server logs as "EOF" when a connection closes without a request (the readiness probe).
"""
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))
import mpack  # noqa: E402

NAME = "mp-fake"
MODES = ["ok", "flood", "error", "notice", "ctx", "slow", "chatty"]
TIMING_KEYS = ["KONG_PROCESSING_START", "KONG_ACCESS_START"]

DUMP = [{
    "Name": NAME, "Version": "1.0.0", "Priority": 10, "Phases": ["access", "log"],
    "Schema": {"name": NAME, "fields": [{"config": {"type": "record", "fields": [
        {"mode": {"type": "string", "default": "ok", "one_of": MODES}}]}}]},
}]

instances = {}
lock = threading.Lock()
next_id = [0]


def say(line):
    print(line, flush=True)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.got_any = False

    def read(self):
        while True:
            try:
                value, pos = mpack.decode_one(self.buf)
                self.buf = self.buf[pos:]
                return value
            except mpack.Incomplete:
                pass
            data = self.sock.recv(65536)
            if not data:
                return None
            self.got_any = True
            self.buf += data

    def send(self, value):
        self.sock.sendall(mpack.encode(value))


def start_instance(params):
    config = json.loads(params["Config"])
    with lock:
        next_id[0] += 1
        iid = next_id[0]
        instances[iid] = config
    say(f"started instance {iid} mode {config.get('mode')}")
    return {"Id": iid, "Name": params["Name"], "Config": config, "StartTime": time.time()}


def pdk_call(conn, msgid, event_id, method, args):
    """Sends a PDK call as the event's (or step's) answer; returns the next Step's Data."""
    conn.send([1, msgid, None, {"EventId": event_id, "Data": {"Method": method, "Args": args}}])
    request = conn.read()
    if request is None:
        raise ConnectionError("closed during a PDK call")
    _, step_id, _, params = request
    return step_id, params[0].get("Data")


def handle_event(conn, msgid, params):
    iid = params["InstanceId"]
    with lock:
        config = instances.get(iid)
    if config is None:
        conn.send([1, msgid, f"no plugin instance {iid}", None])
        return
    mode = config.get("mode", "ok")
    event_id = msgid
    if mode == "flood":
        note = mpack.encode([2, "serverPid", os.getpid()]) * 256
        say(f"flooding notifications on event {event_id}")
        try:
            while True:
                conn.sock.sendall(note)
        except OSError:
            say("flood ended: the gateway closed the connection")
            raise ConnectionError("flood over")
    if mode == "slow":
        time.sleep(1.5)
    if mode == "chatty":
        say(f"event {event_id} " + "x" * 4096)
    if mode == "error":
        conn.send([1, msgid, "boom", None])
        return
    if mode == "notice":
        msgid, _ = pdk_call(conn, msgid, event_id, "kong.log.notice", ["notice from mp-fake"])
    if mode == "ctx":
        for key in TIMING_KEYS:
            msgid, value = pdk_call(conn, msgid, event_id, "kong.nginx.get_ctx", [key])
            msgid, _ = pdk_call(conn, msgid, event_id, "kong.response.set_header",
                                ["x-ctx-" + key.lower(), json.dumps(value)])
    conn.send([1, msgid, None, {"EventId": event_id, "Data": "ret"}])


def serve(sock):
    conn = Conn(sock)
    try:
        while True:
            request = conn.read()
            if request is None:
                if not conn.got_any:
                    say("peer closed before sending anything")
                return
            _, msgid, method, params = request
            if method == "plugin.StartInstance":
                conn.send([1, msgid, None, start_instance(params[0])])
            elif method == "plugin.CloseInstance":
                with lock:
                    instances.pop(params[0], None)
                conn.send([1, msgid, None, {"Id": params[0]}])
            elif method == "plugin.HandleEvent":
                handle_event(conn, msgid, params[0])
            else:
                conn.send([1, msgid, f"unknown method {method}", None])
    except (OSError, ConnectionError):
        pass
    finally:
        sock.close()


def main():
    if sys.argv[1] == "--dump":
        print(json.dumps(DUMP))
        return
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    say(f"listening on {path} pid {os.getpid()}")
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
