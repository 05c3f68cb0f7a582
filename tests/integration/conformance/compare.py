"""Strict structural comparison of decoded protocol messages, with the few matchers the replay needs.

Values are JSON-like (dict, list, str, int, float, bool, None; msgpack bin as {"$bin": text}).
int, float and bool are different types (Python's 1 == 1.0 == True is not used). Map key order
never matters. An expected value may be a matcher:
  {"$any": true}           any value (the key must be present)
  {"$optional": <value>}   in a map: the key may be absent; if present it must match <value>
  {"$type": "str"|"int"|"float"|"bool"|"map"|"list"}
  {"$match": "<regex>"}    a string matching the regular expression (re.fullmatch)
  {"$json": <value>}       a string holding JSON that matches <value>, where maps may have more
                           keys than <value> names (e.g. kong.log.serialize's structure)
"""
import json
import re

_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "map": dict, "list": list}


def _is_matcher(v):
    return isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("$any", "$optional", "$type", "$match", "$json")


def _short(v):
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "..."


def differences(expected, actual, path="$", extra_keys=False):
    """A list of human-readable differences; empty when `actual` matches `expected`."""
    if _is_matcher(expected):
        kind, arg = next(iter(expected.items()))
        if kind == "$any":
            return []
        if kind == "$optional":
            return differences(arg, actual, path, extra_keys)
        if kind == "$json":
            try:
                parsed = json.loads(actual) if isinstance(actual, str) else None
            except ValueError:
                parsed = None
            if parsed is None:
                return [f"{path}: expected a JSON string, got {_short(actual)}"]
            return differences(arg, parsed, path + "<json>", extra_keys=True)
        if kind == "$type":
            ok = type(actual) is _TYPES[arg]
            return [] if ok else [f"{path}: expected a {arg}, got {_short(actual)}"]
        ok = isinstance(actual, str) and re.fullmatch(arg, actual) is not None
        return [] if ok else [f"{path}: expected a string matching {arg!r}, got {_short(actual)}"]
    if type(expected) is not type(actual):
        return [f"{path}: expected {_short(expected)} ({type(expected).__name__}), "
                f"got {_short(actual)} ({type(actual).__name__})"]
    if isinstance(expected, dict):
        out = []
        for key, value in expected.items():
            if key not in actual:
                if not (_is_matcher(value) and "$optional" in value):
                    out.append(f"{path}.{key}: missing (expected {_short(value)})")
                continue
            out += differences(value, actual[key], f"{path}.{key}", extra_keys)
        for key in actual:
            if key not in expected and not extra_keys:
                out.append(f"{path}.{key}: unexpected key, value {_short(actual[key])}")
        return out
    if isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} elements {_short(expected)}, got {len(actual)} {_short(actual)}"]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual)):
            out += differences(e, a, f"{path}[{i}]", extra_keys)
        return out
    return [] if expected == actual else [f"{path}: expected {_short(expected)}, got {_short(actual)}"]
