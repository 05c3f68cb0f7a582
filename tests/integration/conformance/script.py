"""Builds the replay scripts: one transcript of tests/data/conformance (README §1), turned into the
lines replay_server.py plays, with the expected form of every gateway message, the documented
substitutions, and the harness events a real request adds around the recorded one.

A line of a script is the transcript's line plus:
  origin   "<file>:<line>" or "harness: <what>" (used in mismatch reports)
  expect   (gw>srv) the decoded form the gateway's unit must match (compare.py)
  pb_type  (gw>srv, ProtoBuf) the message type to decode the unit as; zero: a zero-length frame
  answers  (gw>srv) the PDK method this unit answers, if any
  patch    (srv>gw) "msgid" or "sequence": replaced by the gateway's (README §5)
"""
import json
from pathlib import Path

import mpack

# The recorded transcripts, in the repository (tests/data/PROVENANCE.md), where the unit tests read them too.
CONFORMANCE = Path(__file__).resolve().parents[2] / "data" / "conformance"
ANY = {"$any": True}


def transcript_path(name):
    return CONFORMANCE / name


def protocol_of(name):
    return "protobuf" if name.startswith("go-pb-") else "msgpack"


def read_transcript(name):
    lines = []
    # read_text raises when the file is missing: a missing transcript fails its test.
    for number, text in enumerate(transcript_path(name).read_text().splitlines(), 1):
        if text.strip():
            raw = json.loads(text)
            raw["origin"] = f"{name}:{number}"
            lines.append(raw)
    return lines


# ---------------------------------------------------------------- MsgPack

def mp_line(raw):
    line = dict(raw)
    if raw.get("event") == "close":
        line["close"] = True
        return line
    note = mpack.note_form(mpack.decode(bytes.fromhex(raw["hex"])))
    if raw["dir"] == "srv>gw":
        line["patch"] = "msgid"
        return line
    note[1] = ANY  # msgid: the gateway's choice
    if note[2] == "plugin.StartInstance":
        note[3][0]["Config"] = json.loads(note[3][0]["Config"])
    line["expect"] = note
    return line


def mp_script(name):
    lines = [mp_line(raw) for raw in read_transcript(name)]
    asked = None
    for line in lines:
        if line.get("close"):
            continue
        if line["dir"] == "srv>gw":
            note = json.loads(line["note"])
            data = note[3].get("Data") if isinstance(note[3], dict) else None
            asked = data["Method"] if isinstance(data, dict) and "Method" in data else None
        else:
            line["answers"] = asked
            asked = None
    return lines


def mp_harness_event(instance_id, event_name, event_id, calls=(), what=""):
    """A whole event the recording does not contain: HandleEvent, the PDK calls the test plugin
    makes (method, args, expected Data or None for nil), and the event's end."""
    origin = f"harness: {event_name} event{what}"
    lines = [{"dir": "gw>srv", "origin": origin,
              "expect": [0, ANY, "plugin.HandleEvent", [{"InstanceId": instance_id, "EventName": event_name}]]}]
    for method, args, result in calls:
        request = [1, 0, None, {"Data": {"Method": method, "Args": args}, "EventId": event_id}]
        lines.append({"dir": "srv>gw", "origin": f"{origin}: {method}", "hex": mpack.encode(request).hex(),
                      "patch": "msgid"})
        param = {"EventId": event_id}
        if result is not None:
            param["Data"] = result
        lines.append({"dir": "gw>srv", "origin": f"{origin}: reply to {method}", "answers": method,
                      "expect": [0, ANY, "plugin.Step", [param]]})
    end = [1, 0, None, {"Data": "ret", "EventId": event_id}]
    lines.append({"dir": "srv>gw", "origin": f"{origin}: end", "hex": mpack.encode(end).hex(), "patch": "msgid"})
    return lines


def mp_set_result(line, value=None, step=None, absent=False):
    param = line["expect"][3][0]
    if absent:
        param.pop("Data", None)
    else:
        param["Data"] = value
    if step:
        line["expect"][2] = step


# ---------------------------------------------------------------- ProtoBuf

def pb_note(text):
    """(kind, type, text-format body, zero-length) of a ProtoBuf note."""
    kind = "rpc"
    for prefix in ("args ", "reply "):
        if text.startswith(prefix):
            kind, text = prefix.strip(), text[len(prefix):]
    zero = text.startswith("(zero-length frame) ")
    if zero:
        text = text[len("(zero-length frame) "):]
    if "{" not in text:
        return kind, None, None, zero
    type_name, body = text.split("{", 1)
    return kind, type_name, body[:-1], zero


def pb_line(raw, pbform):
    line = dict(raw)
    if raw.get("event") == "close":
        line["close"] = True
        return line
    if raw["dir"] == "srv>gw":
        kind, type_name, _, _ = pb_note(raw["note"])
        if type_name == "kong_plugin_protocol.RpcReturn":
            line["patch"] = "sequence"
        return line
    kind, type_name, body, zero = pb_note(raw["note"])
    line["zero"] = zero
    if zero:
        return line
    line["pb_type"] = type_name
    expect = pbform.form(pbform.parse_text(type_name, body))
    if type_name == "kong_plugin_protocol.RpcCall":
        expect["sequence"] = ANY
    line["expect"] = expect
    return line


def pb_script(name, pbform):
    lines = [pb_line(raw, pbform) for raw in read_transcript(name)]
    asked = None
    for line in lines:
        if line.get("close"):
            continue
        if line["dir"] == "srv>gw" and line["note"].startswith("method "):
            asked = line["note"][len("method "):]
        elif line["dir"] == "gw>srv" and line["note"].startswith("reply "):
            line["answers"] = asked
            asked = None
    return lines


def pb_harness_event(pbform, instance_id, event_name, calls=(), what=""):
    """As mp_harness_event; calls are (method, args message type, args text, reply type or None for a
    zero-length reply, expected reply form)."""
    origin = f"harness: {event_name} event{what}"
    lines = [{"dir": "gw>srv", "origin": origin, "zero": False, "pb_type": "kong_plugin_protocol.RpcCall",
              "expect": {"sequence": ANY, "cmd_handle_event": {"instance_id": instance_id, "event_name": event_name}}}]
    for method, args_type, args_text, reply_type, reply in calls:
        args = pbform.parse_text(args_type, args_text).SerializeToString()
        lines.append({"dir": "srv>gw", "origin": f"{origin}: {method}", "hex": pbform.frame(method.encode()).hex()})
        lines.append({"dir": "srv>gw", "origin": f"{origin}: {method} args", "hex": pbform.frame(args).hex()})
        reply_line = {"dir": "gw>srv", "origin": f"{origin}: reply to {method}", "answers": method,
                      "zero": reply_type is None}
        if reply_type:
            reply_line.update(pb_type=reply_type, expect=reply)
        lines.append(reply_line)
    end = pbform.new_message("kong_plugin_protocol.RpcReturn")
    lines.append({"dir": "srv>gw", "origin": f"{origin}: end of event", "hex": "00000000"})
    lines.append({"dir": "srv>gw", "origin": f"{origin}: RpcReturn", "hex": pbform.frame(end.SerializeToString()).hex(),
                  "patch": "sequence"})
    return lines


def pb_set_result(line, type_name=None, form=None):
    """The reply this gateway line must carry instead of the recorded one (None: zero-length)."""
    line["zero"] = form is None
    if form is not None:
        line["pb_type"] = type_name or line["pb_type"]
        line["expect"] = form
    else:
        line.pop("expect", None)


# ---------------------------------------------------------------- common

def replies_to(lines, method):
    """The gateway lines answering `method`, in order."""
    return [line for line in lines if line.get("answers") == method]


def first_event_index(lines):
    """Index of the first HandleEvent the gateway sends (harness events go before it)."""
    for i, line in enumerate(lines):
        if line["dir"] != "gw>srv" or line.get("close") or "expect" not in line:
            continue
        e = line["expect"]
        if (isinstance(e, list) and e[2] == "plugin.HandleEvent") or (isinstance(e, dict) and "cmd_handle_event" in e):
            return i
    raise ValueError("no HandleEvent in the transcript")


def write(lines, path):
    Path(path).write_text("".join(json.dumps(line) + "\n" for line in lines))
