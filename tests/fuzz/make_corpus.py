#!/usr/bin/env python3
"""Writes the seed corpora (corpus/<target>/) and the generated dictionary (protobuf_fuzz.dict) of the
libFuzzer targets from the repository's own data: the recorded conformance transcripts and dumps
(tests/data), the example and fixture configurations, hand-written HTTP messages, and TLS
ClientHellos made by Python's ssl module. Deterministic: rerun it after changing a source, commit
the result. Crash inputs found later go to corpus/<target>/ by hand (named crash-*), never here.

    tests/fuzz/make_corpus.py
"""
import hashlib
import json
import re
import ssl
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "tests" / "fuzz"
DATA = ROOT / "tests" / "data" / "conformance"
PROTO = ROOT / "sdk" / "cpp" / "proto"


def write_seeds(target, seeds):
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        old.unlink()
    for name, data in seeds:
        (out / f"seed-{name}").write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def transcript_lines(prefix):
    for path in sorted(DATA.glob(f"{prefix}-*.jsonl")):
        for text in path.read_text().splitlines():
            if text.strip():
                yield path.stem, json.loads(text)


# ---- HTTP ---------------------------------------------------------------------------------------

REQUESTS = {
    "get": b"GET /echo/a?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: seed\r\nAccept: */*\r\n\r\n",
    "post-cl": b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n"
               b'{"item":"widget","qty":2}',
    "chunked-trailers": b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                 b"GET /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "expect-100": b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata",
    "upgrade": b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "absolute-form": b"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "options-star": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "cl-te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "folded": b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n",
}

RESPONSES = {
    "200-cl": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;a=b\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
    "until-close": b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody until the connection closes",
    "100-then-200": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
    "204": b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    "keepalive-2": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    "no-reason": b"HTTP/1.1 502 \r\nContent-Length: 0\r\n\r\n",
}


def http_seeds(messages, choices):
    return [(f"{name}-{choice:02x}", bytes([choice]) + data) for name, data in messages.items() for choice in choices]


# ---- plugin protocols --------------------------------------------------------------------------

def msgpack_seeds():
    seeds = {}
    for stem, line in transcript_lines("*-mp"):
        if line.get("hex"):
            seeds[hashlib.sha1(bytes.fromhex(line["hex"])).hexdigest()[:12]] = b"\x0f" + bytes.fromhex(line["hex"])
    return sorted(seeds.items())


BRIDGE_PHASES = ["access", "rewrite", "response", "log"]  # msgpack_bridge_fuzz's kPhases
SCENARIO_PHASE = {"rewrite": "rewrite", "access": "access", "response": "response", "log": "log", "exit": "access",
                  "error": "access", "close-restart": "log"}


def msgpack_bridge_seeds():
    """What the plugin server says in each MsgPack:1 transcript, in order; the choice byte picks the
    transcript's phase and StartInstance first (0x10), as recorded."""
    streams = {}
    for stem, line in transcript_lines("*-mp"):
        if line["dir"] == "srv>gw":
            streams.setdefault(stem, bytearray()).extend(bytes.fromhex(line["hex"]))
    seeds = []
    for stem, data in sorted(streams.items()):
        phase = SCENARIO_PHASE[stem.split("-", 2)[2]]
        seeds.append((stem, bytes([0x10 | BRIDGE_PHASES.index(phase)]) + bytes(data)))
    return seeds


def msgpack_str(text):
    """Kong's MessagePack for a string: fixstr up to 31 bytes, then str16 (never str8)."""
    raw = text.encode()
    return (bytes([0xa0 | len(raw)]) if len(raw) < 32 else b"\xda" + struct.pack(">H", len(raw))) + raw


def dictionary_entry(raw):
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7f and chr(b) not in '"\\' else f"\\x{b:02x}" for b in raw) + '"\n'


def protobuf_seeds():
    """Each go-pb transcript's PDK calls as the server sends them: method-name frame, argument frame."""
    streams = {}
    for stem, line in transcript_lines("go-pb"):
        note = line.get("note", "")
        if line["dir"] == "srv>gw" and (note.startswith("method ") or note.startswith("args ")):
            streams.setdefault(stem, bytearray()).extend(bytes.fromhex(line["hex"]))
    return [(f"{stem}-{c:02x}", bytes([c]) + bytes(data)) for stem, data in sorted(streams.items()) for c in (0, 7, 31)]


def frame(payload):
    return struct.pack("<I", len(payload)) + payload


def protoc_encode(message_type, text, proto="gatehouse.proto"):
    return subprocess.run(["protoc", f"-I{PROTO}", f"--encode={message_type}", proto], input=text.encode(),
                          capture_output=True, check=True).stdout


def wire_name(rpc):
    """Kong's rule: ("Kong." .. rpc):gsub("_", "."):gsub("([a-z]%d*)([A-Z])", "%1_%2"):lower()."""
    return re.sub(r"([a-z]\d*)([A-Z])", r"\1_\2", ("Kong." + rpc).replace("_", ".")).lower()


def pdk_rpcs():
    text = (PROTO / "pluginsocket.proto").read_text()
    return re.findall(r"rpc (\w+)\(", text)


def gatehouse_seeds():
    header = protoc_encode("kong_plugin_protocol.String", 'v: "x-request-id"', "pluginsocket.proto")
    query = protoc_encode("kong_plugin_protocol.String", 'v: "page"', "pluginsocket.proto")

    def escaped(raw):
        return "".join(f"\\{b:03o}" for b in raw)

    reads = (f'reads {{ method: "kong.request.get_header" args: "{escaped(header)}" }} '
             f'reads {{ method: "kong.request.get_query_arg" args: "{escaped(query)}" }} '
             'reads { method: "kong.request.get_path" } reads { method: "kong.response.set_header" }')
    learn = protoc_encode("gatehouse_protocol.Reads", reads)
    declare = protoc_encode("gatehouse_protocol.Declaration",
                            f'phases {{ key: "access" value {{ {reads} }} }} '
                            'phases { key: "log" value { reads { method: "kong.client.get_ip" } } }')
    return [
        ("declare", frame(b"\x80" + declare)),
        ("learn-access", frame(bytes([2 << 2]) + learn)),
        ("declare-learn-forget", frame(b"\x81" + declare) + frame(bytes([1 | 3 << 2]) + learn) + frame(b"\x41")),
    ]


def dump_seeds():
    seeds = [(p.stem, p.read_bytes()) for p in sorted(DATA.glob("*-dump.json"))]
    js = (DATA / "js-mp-dump.json").read_bytes()
    seeds.append(("logged", b"\x1b[32minfo\x1b[0m starting\n" + js + b"\n\x1b[31mdone\x1b[0m\n"))
    return seeds


# ---- TLS -------------------------------------------------------------------------------------

def client_hello(server_name, maximum):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = maximum
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def client_hello_seeds():
    # The random and key shares change every run: the seeds are written once and kept as they are.
    seeds = [("tls13-sni", client_hello("api.example.com", ssl.TLSVersion.TLSv1_3)),
             ("tls12-sni", client_hello("a.b", ssl.TLSVersion.TLSv1_2)),
             ("no-sni", client_hello(None, ssl.TLSVersion.TLSv1_3))]
    return seeds


# ---- configuration files ---------------------------------------------------------------------

def files(patterns):
    out = []
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            out.append((str(path.relative_to(ROOT)).replace("/", "_"), path.read_bytes()))
    return out


def main():
    write_seeds("http_request_fuzz", http_seeds(REQUESTS, (0x3f, 0x00, 0x06)))
    write_seeds("http_response_fuzz", http_seeds(RESPONSES, (0x3f, 0x04, 0x7f)))
    write_seeds("msgpack_fuzz", msgpack_seeds())
    write_seeds("msgpack_bridge_fuzz", msgpack_bridge_seeds())
    write_seeds("protobuf_fuzz", protobuf_seeds())
    write_seeds("gatehouse_fuzz", gatehouse_seeds())
    write_seeds("dump_fuzz", dump_seeds())
    if not any((FUZZ / "corpus" / "client_hello_fuzz").glob("seed-*")):
        write_seeds("client_hello_fuzz", client_hello_seeds())
    write_seeds("kong_conf_fuzz", files(["examples/*/gatehouse.conf", "examples/*/gatehouse.conf.in",
                                         "tests/unit/conf/fixtures/*.conf"]))
    write_seeds("kong_yml_fuzz", files(["examples/*/kong.yml", "examples/*/kong.yml.in",
                                        "tests/unit/conf/fixtures/*.yml"]))
    names = sorted({wire_name(rpc) for rpc in pdk_rpcs()})
    (FUZZ / "protobuf_fuzz.dict").write_text(
        "# PDK method names of service Kong (sdk/cpp/proto/pluginsocket.proto), made by make_corpus.py\n"
        + "".join(f'"{name}"\n' for name in names))
    print(f"protobuf_fuzz.dict: {len(names)} method names")
    keys = ["Method", "Args", "EventId", "Data", "ret", "Id", "Name", "Config", "StartTime", "serverPid",
            "no plugin instance"]
    (FUZZ / "msgpack_bridge_fuzz.dict").write_text(
        "# MsgPack:1 keys and the PDK method names as a plugin server encodes them, made by make_corpus.py\n"
        '"\\x94\\x01"\n"\\x93\\x02"\n'  # a response's and a notification's start
        + "".join(dictionary_entry(msgpack_str(name)) for name in keys + names))


if __name__ == "__main__":
    main()
