"""A small MessagePack codec that keeps the protocol's type distinctions (str vs bin, int vs float).

Only what MsgPack:1 uses: nil, bool, int, float, str, bin, array, map (no ext). Decoded values are
Python values with `bytes` for bin; `note_form` turns them into the transcripts' note JSON
({"$bin": text} for bin), which is what the replay compares.
"""
import struct


class Incomplete(Exception):
    """The buffer ends inside an object: read more bytes."""


def decode_one(buf, pos=0):
    """Decodes one object at buf[pos:]; returns (value, next position). Raises Incomplete."""

    def need(n):
        if pos + n > len(buf):
            raise Incomplete()

    need(1)
    b = buf[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0x80 <= b <= 0x8F:
        return _map(buf, pos, b & 0x0F)
    if 0x90 <= b <= 0x9F:
        return _array(buf, pos, b & 0x0F)
    if 0xA0 <= b <= 0xBF:
        return _raw(buf, pos, b & 0x1F, text=True)
    fixed = {0xC0: None, 0xC2: False, 0xC3: True}
    if b in fixed:
        return fixed[b], pos
    sized = {  # type byte → (struct format of the length/value, kind)
        0xC4: (">B", "bin"), 0xC5: (">H", "bin"), 0xC6: (">I", "bin"),
        0xCA: (">f", "num"), 0xCB: (">d", "num"),
        0xCC: (">B", "num"), 0xCD: (">H", "num"), 0xCE: (">I", "num"), 0xCF: (">Q", "num"),
        0xD0: (">b", "num"), 0xD1: (">h", "num"), 0xD2: (">i", "num"), 0xD3: (">q", "num"),
        0xD9: (">B", "str"), 0xDA: (">H", "str"), 0xDB: (">I", "str"),
        0xDC: (">H", "array"), 0xDD: (">I", "array"), 0xDE: (">H", "map"), 0xDF: (">I", "map"),
    }
    if b not in sized:
        raise ValueError(f"unsupported MessagePack type byte 0x{b:02x}")
    fmt, kind = sized[b]
    size = struct.calcsize(fmt)
    need(size)
    (n,) = struct.unpack_from(fmt, buf, pos)
    pos += size
    if kind == "num":
        return n, pos
    if kind in ("bin", "str"):
        return _raw(buf, pos, n, text=kind == "str")
    return (_array if kind == "array" else _map)(buf, pos, n)


def _raw(buf, pos, n, text):
    if pos + n > len(buf):
        raise Incomplete()
    data = bytes(buf[pos:pos + n])
    return (data.decode("utf-8") if text else data), pos + n


def _array(buf, pos, n):
    out = []
    for _ in range(n):
        v, pos = decode_one(buf, pos)
        out.append(v)
    return out, pos


def _map(buf, pos, n):
    out = {}
    for _ in range(n):
        k, pos = decode_one(buf, pos)
        v, pos = decode_one(buf, pos)
        out[k] = v
    return out, pos


def kong_encoding_problems(data):
    """Byte choices lua-MessagePack (as Kong configures it) never makes: str8, float32, and integers
    not in their shortest form (conformance README §2). Returns a list of descriptions."""
    problems = []
    pos = 0
    while pos < len(data):
        b = data[pos]
        if b == 0xD9:
            problems.append(f"str8 at byte {pos} (Kong writes fixstr or str16)")
        elif b == 0xCA:
            problems.append(f"float32 at byte {pos} (Kong writes float64)")
        elif 0xCC <= b <= 0xD3:
            value, _ = decode_one(data, pos)
            if len(_int(value)) < 1 + struct.calcsize(">BHIQbhiq"[b - 0xCC]):
                problems.append(f"integer {value} at byte {pos} not in its shortest form")
        pos = _skip_head(data, pos)
    return problems


def _skip_head(data, pos):
    """Position after the head of the object at pos (containers: their first element)."""
    b = data[pos]
    if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3) or 0x80 <= b <= 0x9F:
        return pos + 1
    if 0xA0 <= b <= 0xBF:
        return pos + 1 + (b & 0x1F)
    heads = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xCA: 4, 0xCB: 8,
             0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4}
    if b in heads:
        return pos + 1 + heads[b]
    length = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}[b]
    size = struct.calcsize(length)
    (n,) = struct.unpack_from(length, data, pos + 1)
    return pos + 1 + size + n


def decode(data):
    value, end = decode_one(data)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the object")
    return value


def note_form(value):
    """The transcripts' note JSON for a decoded value: bin → {"$bin": text}."""
    if isinstance(value, bytes):
        try:
            return {"$bin": value.decode("utf-8")}
        except UnicodeDecodeError:
            return {"$bin_hex": value.hex()}
    if isinstance(value, list):
        return [note_form(v) for v in value]
    if isinstance(value, dict):
        return {k: note_form(v) for k, v in value.items()}
    return value


def from_note(value):
    """The inverse of note_form: {"$bin": text} → bytes."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return value["$bin"].encode("utf-8")
        if set(value) == {"$bin_hex"}:
            return bytes.fromhex(value["$bin_hex"])
        return {k: from_note(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_note(v) for v in value]
    return value


def encode(value):
    """Encodes like lua-MessagePack as Kong configures it: shortest ints, float64, str16 not str8."""
    if value is None:
        return b"\xc0"
    if value is True or value is False:
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(len(raw), 0xA0, 31, None, 0xDA, 0xDB) + raw
    if isinstance(value, bytes):
        return _head(len(value), None, 0, 0xC4, 0xC5, 0xC6) + value
    if isinstance(value, list):
        return _head(len(value), 0x90, 15, None, 0xDC, 0xDD) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        body = b"".join(encode(k) + encode(v) for k, v in value.items())
        return _head(len(value), 0x80, 15, None, 0xDE, 0xDF) + body
    raise TypeError(f"cannot encode {type(value).__name__}")


def _head(n, fix, fix_max, b8, b16, b32):
    if fix is not None and n <= fix_max:
        return bytes([fix | n])
    if b8 is not None and n <= 0xFF:
        return bytes([b8, n])
    if n <= 0xFFFF:
        return bytes([b16]) + struct.pack(">H", n)
    return bytes([b32]) + struct.pack(">I", n)


def _int(n):
    if 0 <= n <= 0x7F:
        return bytes([n])
    if -32 <= n < 0:
        return struct.pack(">b", n)
    for lo, hi, code, fmt in ((0, 0xFF, 0xCC, ">B"), (0, 0xFFFF, 0xCD, ">H"), (0, 0xFFFFFFFF, 0xCE, ">I"),
                              (-0x80, 0x7F, 0xD0, ">b"), (-0x8000, 0x7FFF, 0xD1, ">h"),
                              (-0x80000000, 0x7FFFFFFF, 0xD2, ">i")):
        if lo <= n <= hi:
            return bytes([code]) + struct.pack(fmt, n)
    return (b"\xcf" + struct.pack(">Q", n)) if n > 0 else (b"\xd3" + struct.pack(">q", n))
