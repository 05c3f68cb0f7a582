"""ProtoBuf:1 messages as comparable JSON-like values (python3-protobuf and the module protoc
generates from sdk/cpp/proto/pluginsocket.proto, Kong's schema as we wrote it).

`load(dir)` compiles the schema into `dir` (once) and imports it. `to_form(type, payload)` parses a
frame's payload as the named message type and returns its canonical dict (json_format), with the
StartInstance config bytes parsed as JSON, so that map order, field order and default-value
omission never matter.
"""
import base64
import importlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROTO = ROOT / "sdk" / "cpp" / "proto" / "pluginsocket.proto"


def load(out_dir):
    out_dir = Path(out_dir)
    if not (out_dir / "pluginsocket_pb2.py").exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["protoc", f"-I{PROTO.parent}", "-I/usr/include", f"--python_out={out_dir}", PROTO.name],
                       check=True, cwd=PROTO.parent)
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    from google.protobuf import empty_pb2, struct_pb2  # noqa: F401  (registers the well-known types)
    return importlib.import_module("pluginsocket_pb2")


def new_message(full_name):
    from google.protobuf import descriptor_pool, message_factory
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.MessageFactory().GetPrototype(descriptor)()


def parse(full_name, payload):
    message = new_message(full_name)
    message.ParseFromString(payload)
    return message


def parse_text(full_name, text):
    from google.protobuf import text_format
    message = new_message(full_name)
    text_format.Parse(text, message)
    return message


def form(message):
    from google.protobuf import json_format
    out = json_format.MessageToDict(message, preserving_proto_field_name=True)
    start = out.get("cmd_start_instance") if isinstance(out, dict) else None
    if start and "config" in start:  # bytes: compare the JSON it carries, not base64 text
        start["config"] = json.loads(base64.b64decode(start["config"]))
    return out


def to_form(full_name, payload):
    return form(parse(full_name, payload))


def frame(payload):
    return len(payload).to_bytes(4, "little") + payload
