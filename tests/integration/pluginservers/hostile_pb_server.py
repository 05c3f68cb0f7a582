#!/usr/bin/python3
"""A hostile ProtoBuf:1 plugin server for the gateway's fault tests (tests/integration/test_cpp_pdk.py).

It behaves like a go-pdk embedded server with one plugin, "hostile-pb" (flags -dump, -kong-prefix DIR;
socket <prefix>/hostile-pb.socket), and starts instances normally; what it does when an event arrives
is chosen by the instance's config `mode`:

  ok               one PDK call (kong.response.set_header x-hostile: "instance <id> pid <pid>"), then
                   the end frame and the RpcReturn, like a well-behaved server
  purge            as ok, then forgets the instance (go-pdk's expiry): the next event on it gets the
                   connection closed, go-pdk's answer to an unknown instance
  oversized        a frame header announcing ~2 GiB, a few bytes, then waits for the gateway to close
  truncated        a header announcing 1000 bytes, 10 of them, then closes
  garbage          bytes that are no frame at all (an HTTP status line)
  garbage-method   a well-framed method name that is binary junk
  garbage-return   a correct event, then an RpcReturn that does not decode
  wrong-sequence   a correct event, then an RpcReturn answering another call
  hang             never answers
  garbage-on-start answers StartInstance with junk instead of an RpcReturn

With -gatehouse its dump also offers Gatehouse:1 (docs/protocol.md): a connection whose first frame
is "Gatehouse:1" gets the prefetch frame after every cmd_handle_event (read and ignored),
and the server does not wait for a reply to its write (kong.response.set_header), as the gateway sends
none on such a connection.

Protobuf is encoded by hand (only the few fields used): no Python protobuf module needed.
Every line it prints goes to the gateway's log (re-logged with the server's name and pid).
"""
import json
import os
import socket
import struct
import sys
import threading
import time

NAME = "hostile-pb"
GATEHOUSE_GREETING = b"Gatehouse:1"
MODES = ["ok", "purge", "oversized", "truncated", "garbage", "garbage-method", "garbage-return",
         "wrong-sequence", "hang", "garbage-on-start"]

# ---- protobuf by hand ------------------------------------------------------------------------


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def read_varint(data, pos):
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def parse_fields(data):
    """{field number: value} for varint and length-delimited fields (the only wire types used)."""
    fields, pos = {}, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            fields[number], pos = read_varint(data, pos)
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            fields[number], pos = data[pos:pos + length], pos + length
        else:
            raise ValueError(f"wire type {wire_type} not expected")
    return fields


def rpc_return(sequence, instance_id=None, name=""):
    out = field_varint(1, sequence)
    if instance_id is not None:
        status = field_bytes(1, name) + field_varint(2, instance_id) + field_varint(4, int(time.time()))
        out += field_bytes(33, status)
    return out


def kv_string(key, value):
    """KV{k, v: Value{string_value}}."""
    return field_bytes(1, key) + field_bytes(2, field_bytes(3, value))


# ---- framing ---------------------------------------------------------------------------------


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        piece = conn.recv(n - len(data))
        if not piece:
            return None
        data += piece
    return data


def read_frame(conn):
    head = read_exact(conn, 4)
    if head is None:
        return None
    return read_exact(conn, struct.unpack("<I", head)[0])


def log(*parts):
    print(f"{NAME} {os.getpid()}:", *parts, flush=True)


def wait_for_close(conn):
    """Keeps the connection open until the gateway drops it; says so in the log."""
    while conn.recv(65536):
        pass
    log("the gateway closed the connection")


# ---- the server ------------------------------------------------------------------------------

# What a misbehaving event sends where the first PDK method frame should be (then it waits).
INSTEAD_OF_A_CALL = {
    "oversized": struct.pack("<I", 0x7FFFFFF0) + b"partial",  # ~2 GiB announced
    "garbage": b"HTTP/1.1 200 OK\r\n\r\nnot a plugin server",  # no frame at all
    "garbage-method": frame(b"\x00\xff\xfe\x80junk") + frame(b""),  # a binary "method name"
    "hang": b"",  # nothing, ever
}
# What it sends after a correct event instead of the RpcReturn (given the call's sequence).
INSTEAD_OF_A_RETURN = {
    "garbage-return": lambda sequence: frame(b"\xff\xff\xff\xff\xff"),
    "wrong-sequence": lambda sequence: frame(rpc_return(sequence + 100)),
}



class Server:
    def __init__(self):
        self.instances = {}  # id -> mode
        self.lock = threading.Lock()

    def start_instance(self, conn, sequence, cmd):
        config = json.loads(cmd.get(2, b"{}") or b"{}")
        mode, instance_id = config.get("mode", "ok"), int(config.get("__seq__", 0))
        log(f"start instance {instance_id} mode {mode}")
        if mode == "garbage-on-start":
            conn.sendall(frame(b"\xff\xfe junk \x00"))
            return True
        with self.lock:
            self.instances[instance_id] = mode
        conn.sendall(frame(rpc_return(sequence, instance_id, cmd.get(1, b"").decode())))
        return True

    def pdk_call(self, conn, method, args, gatehouse):
        conn.sendall(frame(method.encode()) + frame(args))
        if gatehouse:  # a write: Gatehouse:1 sends no reply to it
            return b""
        return read_frame(conn)

    def finish(self, conn, sequence):
        conn.sendall(frame(b"") + frame(rpc_return(sequence)))

    def handle_event(self, conn, sequence, cmd, gatehouse):
        if gatehouse and read_frame(conn) is None:  # the prefetched reads (none are used)
            return False
        instance_id = cmd.get(1, 0)
        with self.lock:
            mode = self.instances.get(instance_id)
        if mode is None:
            log(f"no plugin instance {instance_id}")
            return False  # go-pdk closes the connection
        log(f"event {cmd.get(2, b'').decode()} on instance {instance_id} mode {mode}")
        if mode == "truncated":
            conn.sendall(struct.pack("<I", 1000) + b"0123456789")
            return False  # closes mid-frame
        if mode in INSTEAD_OF_A_CALL:
            conn.sendall(INSTEAD_OF_A_CALL[mode])
            wait_for_close(conn)
            return False
        reply = self.pdk_call(conn, "kong.response.set_header",
                              kv_string("x-hostile", f"instance {instance_id} pid {os.getpid()}"), gatehouse)
        if reply is None:
            return False
        if mode in INSTEAD_OF_A_RETURN:
            conn.sendall(frame(b"") + INSTEAD_OF_A_RETURN[mode](sequence))
            wait_for_close(conn)
            return False
        self.finish(conn, sequence)
        if mode == "purge":
            with self.lock:
                self.instances.pop(instance_id, None)
            log(f"purged instance {instance_id}")
        return True

    def close_instance(self, conn, sequence, cmd):
        instance_id = cmd.get(1, 0)
        with self.lock:
            known = self.instances.pop(instance_id, None) is not None
        if not known:
            return False
        conn.sendall(frame(rpc_return(sequence, instance_id, "---")))
        return True

    def serve(self, conn):
        with conn:
            try:
                first = read_frame(conn)
                gatehouse = first == GATEHOUSE_GREETING  # never a valid RpcCall
                if gatehouse:
                    log("Gatehouse:1 connection")
                while True:
                    data = first if first is not None and not gatehouse else read_frame(conn)
                    first = None
                    if data is None:
                        return
                    call = parse_fields(data)
                    sequence = call.get(1, 0)
                    if 33 in call:
                        keep = self.start_instance(conn, sequence, parse_fields(call[33]))
                    elif 35 in call:
                        keep = self.close_instance(conn, sequence, parse_fields(call[35]))
                    elif 36 in call:
                        keep = self.handle_event(conn, sequence, parse_fields(call[36]), gatehouse)
                    else:
                        keep = False
                    if not keep:
                        return
            except OSError:
                return


def dump(socket_path, gatehouse):
    schema = {"name": NAME, "fields": [{"config": {"type": "record", "fields": [
        {"mode": {"type": "string", "required": True, "one_of": MODES}}]}}]}
    plugin = {"Name": NAME, "Phases": ["access"], "Version": "0.1.0", "Priority": 5, "Schema": schema}
    protocols = {"Protocols": ["Gatehouse:1", "ProtoBuf:1"]} if gatehouse else {}
    print(json.dumps({"Protocol": "ProtoBuf:1", **protocols, "SocketPath": socket_path, "Plugins": [plugin]}))


def main(argv):
    prefix = "/usr/local/kong"
    if "-kong-prefix" in argv:
        prefix = argv[argv.index("-kong-prefix") + 1]
    socket_path = os.path.join(prefix, NAME + ".socket")
    if "-dump" in argv:
        dump(socket_path, "-gatehouse" in argv)
        return
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)
    log(f"listening on {socket_path}")
    server = Server()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=server.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
