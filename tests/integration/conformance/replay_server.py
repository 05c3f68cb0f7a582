#!/usr/bin/env python3
"""A plugin server that replays the server side of one conformance script (built by script.py from
a transcript of tests/data/conformance) and checks every message the gateway sends.

    replay_server.py --protocol msgpack|protobuf --socket PATH --script FILE --report FILE [--pb-dir DIR]

gatehouse starts it as a plugin server (pluginserver_<n>_start_cmd). It listens on PATH and walks
the script in order:
  gw>srv line  read one unit (MsgPack: one object, ProtoBuf: one u32le-length frame), decode it and
               compare it with the line's expected form (compare.py); a difference is a mismatch, and
               so are MsgPack byte choices Kong never makes (str8, float32, long integers) and a
               unit sent before the server answered the previous one;
  srv>gw line  write the recorded bytes on the connection the last gateway unit came from, with the
               msgid (MsgPack) or RpcReturn.sequence (ProtoBuf) of that unit (README §5);
  srv>gw close close that connection (the server "loses" it: the gateway must recover);
  gw>srv close the gateway must close that connection without sending anything more.
Lines marked "float" (a gw>srv line and its reply) have no fixed time: they are played whenever the
gateway sends a unit matching them once the cursor reached their "float_from" index.
Connections that never send anything (gatehouse's readiness probes) are ignored; a unit may arrive on
any connection (Kong and gatehouse pool them). After every step the report file is rewritten:
{"consumed", "total", "done", "floating_pending", "mismatches", "trace"}.
"""
import argparse
import json
import os
import selectors
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
import mpack  # noqa: E402


class Replay:
    def __init__(self, args):
        self.protocol = args.protocol
        lines = [json.loads(t) for t in Path(args.script).read_text().splitlines() if t.strip()]
        # Floating groups (a gw>srv line and its srv>gw reply marked "float"): their time is not fixed
        # (e.g. the CloseInstance of a superseded config, sent when the gateway retires it). They are
        # played whenever the gateway sends a matching unit once the cursor reached "float_from".
        self.lines = [line for line in lines if "float" not in line]
        self.floating = []
        for line in lines:
            if "float" in line:
                if line["dir"] == "gw>srv":
                    self.floating.append([line])
                else:
                    self.floating[-1].append(line)
        self.cursor = 0
        self.report_path = Path(args.report)
        self.mismatches = []
        self.trace = []
        self.last_id = 0  # msgid / sequence of the last gateway request
        self.current = None  # connection of the last gateway unit
        self.call_conn = None  # ProtoBuf: connection of the last RpcCall
        self.pbform = None
        if self.protocol == "protobuf":
            import pbform
            pbform.load(args.pb_dir)
            self.pbform = pbform
        self.write_report()

    # ---- the script

    def next_line(self):
        return self.lines[self.cursor] if self.cursor < len(self.lines) else None

    def fail(self, line, what):
        where = line["origin"] if line else "after the end of the script"
        self.mismatches.append(f"{where}: {what}")

    def write_report(self):
        report = {"consumed": self.cursor, "total": len(self.lines), "done": self.cursor == len(self.lines),
                  "floating_pending": [group[0]["origin"] for group in self.floating],
                  "mismatches": self.mismatches, "trace": self.trace[-60:]}
        tmp = self.report_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, self.report_path)

    # ---- decoding what the gateway sent

    def split_unit(self, buf):
        """(unit, rest) when buf starts with a complete unit, else None."""
        if self.protocol == "msgpack":
            try:
                _, end = mpack.decode_one(buf)
            except mpack.Incomplete:
                return None
            return bytes(buf[:end]), buf[end:]
        if len(buf) < 4:
            return None
        n = int.from_bytes(buf[:4], "little")
        if len(buf) < 4 + n:
            return None
        return bytes(buf[4:4 + n]), buf[4 + n:]

    def actual_form(self, line, unit):
        if self.protocol == "msgpack":
            value = mpack.note_form(mpack.decode(unit))
            if isinstance(value, list) and len(value) == 4 and value[0] == 0:
                self.last_id = value[1]
                if value[2] == "plugin.StartInstance" and isinstance(value[3], list) and value[3]:
                    param = value[3][0]
                    if isinstance(param, dict) and isinstance(param.get("Config"), str):
                        param["Config"] = json.loads(param["Config"])
            return value
        if line.get("zero"):
            return None if not unit else f"a {len(unit)}-byte frame where a zero-length frame was recorded"
        form = self.pbform.to_form(line["pb_type"], unit)
        if line["pb_type"] == "kong_plugin_protocol.RpcCall":
            self.last_id = int(form.get("sequence", 0))
        return form

    def play_floating(self, conn, unit):
        """Plays the armed floating group this unit matches, if any."""
        for group in self.floating:
            first = group[0]
            if first["float_from"] > self.cursor:
                continue
            saved = self.last_id  # actual_form notes the unit's msgid/sequence: keep ours unless it matches
            try:
                matches = not compare.differences(first["expect"], self.actual_form(first, unit))
            except Exception:
                matches = False
            if not matches:
                self.last_id = saved
                continue
            self.floating.remove(group)
            self.current = conn
            self.trace.append(f"gw>srv {first['origin']} (floating)")
            for line in group[1:]:
                self.trace.append(f"srv>gw {line['origin']}")
                self.current.sendall(self.patched(line))
            return True
        return False

    def on_unit(self, conn, unit):
        if self.floating and self.play_floating(conn, unit):
            return
        line = self.next_line()
        if line is None or line["dir"] != "gw>srv" or line.get("close"):
            try:
                shown = json.dumps(mpack.note_form(mpack.decode(unit))) if self.protocol == "msgpack" else unit.hex()
            except ValueError:
                shown = unit.hex()
            self.fail(line, f"unexpected message from the gateway: {shown[:400]}")
            return
        if self.protocol == "protobuf":  # README §6.4: a whole event stays on its RpcCall's connection
            if line.get("pb_type") == "kong_plugin_protocol.RpcCall":
                self.call_conn = conn
            elif conn is not self.call_conn:
                self.fail(line, "a reply frame on another connection than the event's RpcCall")
        self.current = conn
        try:
            actual = self.actual_form(line, unit)
        except Exception as e:  # a unit that does not decode is a mismatch, not a crash
            self.fail(line, f"undecodable message {unit.hex()[:200]}: {e}")
            actual = None
        else:
            if line.get("zero"):
                if actual is not None:
                    self.fail(line, actual)
            else:
                for d in compare.differences(line["expect"], actual):
                    self.fail(line, d)
            if self.protocol == "msgpack":
                for problem in mpack.kong_encoding_problems(unit):
                    self.fail(line, problem)
        self.trace.append(f"gw>srv {line['origin']}")
        self.cursor += 1
        self.play_server_lines()

    def play_server_lines(self):
        while (line := self.next_line()) is not None and line["dir"] == "srv>gw":
            self.cursor += 1
            self.trace.append(f"srv>gw {line['origin']}")
            if line.get("close"):
                self.close(self.current)
                continue
            try:
                self.current.sendall(self.patched(line))
            except OSError as e:
                self.fail(line, f"could not write to the gateway: {e}")

    def patched(self, line):
        data = bytes.fromhex(line["hex"])
        if line.get("patch") == "msgid":
            return self.with_msgid(data)
        if line.get("patch") == "sequence":
            return self.with_sequence(data)
        return data

    def with_msgid(self, data):
        """[1, msgid, error, result]: only the msgid changes, the rest stays byte for byte."""
        if data[0] != 0x94:
            raise ValueError("a recorded response is not a 4-element array")
        return b"\x94" + mpack.encode(1) + mpack.encode(self.last_id) + data[self.header_end(data):]

    @staticmethod
    def header_end(data):
        """Where the recorded response continues after [1, msgid: the bytes kept as recorded."""
        _, pos = mpack.decode_one(data, 1)  # type
        _, pos = mpack.decode_one(data, pos)  # msgid
        return pos

    def with_sequence(self, data):
        ret = self.pbform.parse("kong_plugin_protocol.RpcReturn", data[4:])
        ret.sequence = self.last_id
        return self.pbform.frame(ret.SerializeToString())

    # ---- connections

    def on_eof(self, conn):
        line = self.next_line()
        if line is not None and line["dir"] == "gw>srv" and line.get("close") and conn is self.current:
            self.cursor += 1
            self.trace.append(f"gw>srv {line['origin']} (closed)")
            self.play_server_lines()

    def close(self, conn):
        if conn is None:
            return
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.closed.add(conn)


def serve(args):
    replay = Replay(args)
    replay.closed = set()
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.socket)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    buffers = {}
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                buffers[conn] = bytearray()
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data or sock in replay.closed:
                sel.unregister(sock)
                if sock not in replay.closed:
                    replay.on_eof(sock)
                sock.close()
                buffers.pop(sock, None)
                replay.write_report()
                continue
            buffers[sock] += data
            while (split := replay.split_unit(buffers[sock])) is not None:
                unit, buffers[sock] = split[0], bytearray(split[1])
                if buffers[sock]:  # Kong sends the next message only after the server's answer
                    replay.fail(replay.next_line(), "the gateway sent more before the server answered (pipelining)")
                replay.on_unit(sock, unit)
            replay.write_report()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--protocol", choices=("msgpack", "protobuf"), required=True)
    p.add_argument("--socket", required=True)
    p.add_argument("--script", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--pb-dir")
    args = p.parse_args()
    serve(args)


if __name__ == "__main__":
    main()
