"""A hostile kong.yml through the real binary: alias bombs, cycles, depth, size, invalid UTF-8 and
duplicate keys are refused by `config check` (with file, line and the limit) in bounded memory and
time, and a running gateway refuses them on reload and keeps serving."""
import resource
import subprocess
import time

from conftest import GATEHOUSE, wait_listening
from test_proxy import get, kong_yml

# Memory ceiling for the processes under test (release builds: ASan reserves terabytes of
# address space, so the limit is only set where it means something).
MEMORY_LIMIT = 2 << 30
ASAN = b"__asan_init" in GATEHOUSE.read_bytes()


def limited_memory():
    if not ASAN:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def check(gw, timeout=30):
    started = time.monotonic()
    result = subprocess.run([str(GATEHOUSE), "config", "check", "-c", str(gw.conf)], capture_output=True,
                            text=True, timeout=timeout, preexec_fn=limited_memory)
    return result, time.monotonic() - started


def billion_laughs(levels=9):
    """Ten aliases per level: 10^levels nodes once expanded, about 600 bytes of text."""
    lines = ['_format_version: "3.0"', "_comment: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    anchors = "\n".join(f"x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels + 1))
    return "\n".join(lines) + "\n" + anchors + f"""
plugins:
  - name: bomb
    config:
      payload: *l{levels}
"""


def test_an_alias_bomb_is_refused_in_bounded_memory_and_time(make_gateway):
    gw = make_gateway(billion_laughs())
    result, elapsed = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "kong.yml:" in result.stderr and "YAML nodes (keys, values and list items, aliases expanded)" \
        in result.stderr, result.stderr
    assert elapsed < 10, elapsed


CYCLE = '_format_version: "3.0"\nplugins:\n  - name: loop\n    config: &c\n      again: *c\n'


def test_a_self_referencing_alias_is_refused(make_gateway):
    gw = make_gateway(CYCLE)
    result, _ = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "kong.yml:5: an alias inside the node it refers to (a cycle)" in result.stderr, result.stderr


def test_nesting_beyond_the_limit_is_refused(make_gateway):
    deep = "[" * 5000 + "]" * 5000
    gw = make_gateway(f'_format_version: "3.0"\nplugins:\n  - name: deep\n    config: {{x: {deep}}}\n')
    result, _ = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "kong.yml:4: nested deeper than 64 levels" in result.stderr, result.stderr


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(make_gateway):
    gw = make_gateway("")
    comment = "#" + "x" * 1023 + "\n"
    with open(gw.kong_yml, "w") as f:
        f.write('_format_version: "3.0"\n')
        f.write(comment * ((64 << 10) + 1))
    result, elapsed = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{gw.kong_yml}: larger than the 67108864 bytes gatehouse accepts" in result.stderr, result.stderr
    assert elapsed < 5, elapsed


def test_invalid_utf8_is_refused_with_file_and_line(make_gateway, upstream):
    text = kong_yml(upstream.server_port).replace("name: echo", "name: ech\xff").encode("latin-1")
    gw = make_gateway("")
    gw.kong_yml.write_bytes(text)
    line = text[:text.index(b"\xff")].count(b"\n") + 1
    result, _ = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"kong.yml:{line}: invalid UTF-8" in result.stderr, result.stderr


def test_duplicate_keys_are_refused(make_gateway, upstream):
    gw = make_gateway(kong_yml(upstream.server_port).replace(
        "    read_timeout: 1000\n", "    read_timeout: 1000\n    name: other\n"))
    result, _ = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "duplicate key 'name' (first at line 4)" in result.stderr, result.stderr


def start_with_limited_memory(gw):
    gw.stdout = open(gw.dir / "stdout.log", "ab")
    gw.proc = subprocess.Popen([str(GATEHOUSE), "start", "-c", str(gw.conf)], stdout=gw.stdout,
                               stderr=subprocess.STDOUT, env=gw.env, preexec_fn=limited_memory)
    assert wait_listening(gw.proc, gw.port), gw.logs()
    return gw


def test_reloading_an_alias_bomb_is_refused_and_the_gateway_keeps_serving(make_gateway, upstream):
    gw = start_with_limited_memory(make_gateway(kong_yml(upstream.server_port)))
    assert get(gw, "/api/x")[0].status == 200
    for hostile in (billion_laughs(), CYCLE):
        gw.kong_yml.write_text(hostile)
        reload = gw.cli("reload", timeout=60)
        assert reload.returncode == 1, reload.stdout + reload.stderr
        assert "reload refused, the previous configuration keeps serving" in reload.stderr, reload.stderr
        assert gw.proc.poll() is None, gw.logs()
        assert get(gw, "/api/x")[0].status == 200


def test_a_number_beyond_a_double_is_refused_with_its_line(make_gateway, upstream):
    """A plain number no double can hold (kong_yml_fuzz's crash input had 310 digits): before, the
    whole answer was 'Error: stod'."""
    gw = make_gateway(kong_yml(upstream.server_port) + "plugins:\n  - name: rate-limiting\n    config:\n"
                      "      minute: 1" + "0" * 320 + "\n")
    lines = gw.kong_yml.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith("minute:"))
    result, _ = check(gw)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"kong.yml:{line}: plugins[0] (name 'rate-limiting').config.minute: a number too large for a double" \
        in result.stderr, result.stderr
