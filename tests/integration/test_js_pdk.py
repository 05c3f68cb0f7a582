"""The PDK through the real gateway, called by JavaScript and TypeScript plugins on the real npm
kong-pdk server (`kong-js-pluginserver`, TypeScript through its ts-node), with real upstreams.

Plugins (tests/integration/plugins/js-pdk/):
  pdk-request.js   access: every getter about the request, client, route, node (returned by exit)
  pdk-upstream.ts  access: every kong.service.* / kong.service.request.* setter (checked upstream)
  pdk-response.js  access: multi-valued kong.response headers; response: kong.service.response.* and
                   kong.response.*; log: kong.log.*
  pdk-errors.ts    access: calls outside their phase, CR/LF header values, unknown method, error()
  pdk-rewrite.js   rewrite (global): every kong.service.request.* setter, over the route's defaults
  js-instance.js   instance lifecycle (reload → new instance, old one closed) and faults

"Every function" is checked against the table itself: test_every_pdk_function_was_called reads
the wire names from src/pdk (each entry registers one) and the names the gateway logged as called
("pdk call <name> by '<plugin>' in <phase>: <outcome>", debug level) and compares them.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import GATEHOUSE, ROOT, Gateway, free_port, stop_checked, wait_for_file, wait_listening
from test_plugin_phases import find_server_pid
import echo_upstream

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-pdk"
# ts-node (loaded by kong-pdk for .ts plugins) finds kong-pdk's types through this tsconfig.
TS_ENV = {"TS_NODE_PROJECT": str(PLUGINS / "tsconfig.json")}

NODE_ID = "6f3c1a52-58c3-4d3e-9c2b-3a0f1d2e4b5c"
CONSUMER_ID = "4b1f7f2e-0c1d-4e5a-8a7b-2c3d4e5f6a7b"
PLUGIN_IDS = {
    "pdk-request": "a1000000-0000-4000-8000-000000000001",
    "pdk-upstream": "a1000000-0000-4000-8000-000000000002",
    "pdk-response": "a1000000-0000-4000-8000-000000000003",
    "pdk-errors": "a1000000-0000-4000-8000-000000000004",
}
CALL_LINE = re.compile(r"pdk call (\S+) by '([^']+)' in (\w+): (\w+)")


def server_conf(prefix, extra=""):
    return (
        "plugins = bundled, pdk-request, pdk-upstream, pdk-response, pdk-errors, pdk-rewrite, js-instance\n"
        "pluginserver_names = js\n"
        f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
        f"pluginserver_js_start_cmd = {JS_SERVER} -v --plugins-directory {PLUGINS} --kong-prefix {prefix}\n"
        f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --dump-all-plugins\n"
        "pluginserver_js_ready_timeout = 60000\n" + extra
    )


def pdk_kong_yml(up1_port, up2_port, log_file):
    return f"""
_format_version: "3.0"
consumers:
  - id: {CONSUMER_ID}
    username: alice
    custom_id: alice-custom
upstreams:
  - name: second-upstream
    targets:
      - target: 127.0.0.1:{up2_port}
services:
  - name: echo
    url: http://127.0.0.1:{up1_port}
    routes:
      - name: req
        paths: ["~/pdk/req/(?<kind>[a-z]+)/(\\\\d+)$"]
        strip_path: false
        plugins:
          - name: pdk-request
            id: {PLUGIN_IDS["pdk-request"]}
            config: {{consumer_id: "{CONSUMER_ID}", consumer_username: alice}}
      - name: up
        paths: ["/pdk/up"]
        strip_path: false
        plugins:
          - name: pdk-upstream
            id: {PLUGIN_IDS["pdk-upstream"]}
            config: {{second_port: {up2_port}, upstream_name: second-upstream}}
      - name: resp
        paths: ["/pdk/resp"]
        strip_path: false
        plugins:
          - name: pdk-response
            id: {PLUGIN_IDS["pdk-response"]}
            config: {{log_file: "{log_file}"}}
      - name: err
        paths: ["/pdk/err"]
        strip_path: false
        plugins:
          - name: pdk-errors
            id: {PLUGIN_IDS["pdk-errors"]}
"""


class JsGateway(Gateway):
    """A Gateway whose start waits for the JS server: ts-node compiles the .ts plugins (type-checked)
    once for the query command and once for the server, which takes seconds on a busy machine."""

    def start(self):
        super().start(expect_ok=False)
        if not wait_listening(self.proc, self.port, timeout=90):
            self.proc.kill()
            raise AssertionError("gatehouse did not start:\n" + self.logs())
        return self


def make_js_gateway(workdir, kong_yml, extra_conf="", workers=2):
    gw = JsGateway(workdir, kong_yml, env=TS_ENV, workers=workers)
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.conf.write_text(gw.conf.read_text() + server_conf(gw.prefix, extra_conf))
    return gw


def request(gw, path, headers=None, method="GET", body=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def upstreams():
    servers = [echo_upstream.start_in_thread(0, "up1"), echo_upstream.start_in_thread(0, "up2")]
    yield servers
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def pdk_gw(tmp_path_factory, upstreams):
    work = tmp_path_factory.mktemp("js-pdk")
    log_file = work / "pdk-log.jsonl"
    up1, up2 = (s.server_port for s in upstreams)
    gw = make_js_gateway(
        work / "gw",
        pdk_kong_yml(up1, up2, log_file),
        extra_conf=f"trusted_ips = 127.0.0.1/32\nreal_ip_header = X-Forwarded-For\nnode_id = {NODE_ID}\n",
    )
    gw.log_file = log_file
    gw.up1_port = up1
    gw.start()
    yield gw
    gw.stop()


# ---- scenarios: each makes requests and asserts what the client and the upstream saw ----------


def scenario_request_getters(gw):
    body = json.dumps({"k": "v", "n": [1, 2]})
    resp, data = request(
        gw,
        "/pdk/req/items/42?a=1&b=2&b=3&flag",
        method="POST",
        body=body,
        headers={
            "Host": "Example.TEST:8123",
            "X-One": "1",
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "fwd.example",
            "X-Forwarded-Port": "8443",
            "X-Forwarded-Path": "/fwd/path",
            "X-Forwarded-Prefix": "/prefix",
            "X-Forwarded-For": "203.0.113.7",
        },
    )
    assert resp.status == 200, data
    assert resp.getheader("x-pdk-plugin") == "pdk-request"
    assert resp.getheader("content-type").startswith("application/json")  # exit with a table body
    r = json.loads(data)
    now_ms = time.time() * 1000

    assert r["scheme"] == "http"
    assert r["host"] == "example.test"
    assert r["port"] == gw.port
    assert (r["forwarded_scheme"], r["forwarded_host"], r["forwarded_port"]) == ("https", "fwd.example", 8443)
    assert (r["forwarded_path"], r["forwarded_prefix"]) == ("/fwd/path", "/prefix")
    assert r["http_version"] == 1.1
    assert r["method"] == "POST"
    assert r["path"] == r["raw_path"] == "/pdk/req/items/42"
    assert r["path_with_query"] == "/pdk/req/items/42?a=1&b=2&b=3&flag"
    assert r["raw_query"] == "a=1&b=2&b=3&flag"
    # multimaps travel as {name: [values]} over MsgPack (Kong's fix_mmap); a bare flag is []
    assert r["query"] == {"a": ["1"], "b": ["2", "3"], "flag": []}
    assert r["query_arg"] == "2"
    assert r["header"] == "1"
    assert r["headers"]["x-one"] == ["1"] and r["headers"]["host"] == ["Example.TEST:8123"]
    assert r["raw_body"] == body
    assert r["body"] == {"k": "v", "n": [1, 2]}
    # the groups only, from the first (Kong drops ngx.re.match's whole match at captures[0])
    assert r["uri_captures"] == {"unnamed": ["items", "42"], "named": {"kind": "items"}}
    assert now_ms - 10_000 < r["start_time"] <= now_ms

    assert r["client_ip"] == "127.0.0.1"
    assert r["client_forwarded_ip"] == "203.0.113.7"  # the peer is trusted, real_ip_header applies
    assert isinstance(r["client_port"], int) and r["client_port"] > 0
    assert isinstance(r["client_forwarded_port"], int)
    assert r["client_protocol"] == "https"  # allow_terminated + trusted X-Forwarded-Proto
    alice = {"id": CONSUMER_ID, "username": "alice", "custom_id": "alice-custom"}
    assert r["consumer_before"] is None
    assert {k: r["loaded_by_id"].get(k) for k in alice} == alice
    assert r["loaded_by_username"] == r["loaded_by_id"]
    assert r["authenticate"] is None
    assert r["consumer"] == r["loaded_by_id"]
    assert r["credential"] == {"id": "cred-1", "consumer": {"id": CONSUMER_ID}}
    assert r["route"]["name"] == "req" and r["route"]["strip_path"] is False
    assert r["service"]["name"] == "echo" and r["service"]["port"] == gw.up1_port
    assert r["route"]["service"] == {"id": r["service"]["id"]}

    assert r["ctx_shared"] == {"n": 1}
    assert r["nginx_ctx"] == "ngx-value"
    assert r["var_request_uri"] == "/pdk/req/items/42?a=1&b=2&b=3&flag"
    assert r["var_remote_addr"] == "203.0.113.7"  # nginx's $remote_addr after realip
    assert r["var_http_x_one"] == "1"
    assert r["subsystem"] == "http"
    assert r["tls1_version"] is None and r["tls1_version_js_alias"] is None  # plain HTTP
    assert abs(r["req_start_time"] * 1000 - r["start_time"]) < 1000

    assert r["node_id"] == NODE_ID
    assert r["hostname"] == socket.gethostname()
    assert r["memory_stats"]["workers_lua_vms"][0]["pid"] == gw.proc.pid
    assert r["memory_stats"]["workers_lua_vms"][0]["http_allocated_gc"] > 0
    assert (r["trusted_local"], r["trusted_other"]) == (True, False)
    assert r["plugin_id"] == PLUGIN_IDS["pdk-request"]
    assert r["cluster_id"] is None


def returns_of(resp):
    return json.loads(resp.getheader("x-returns"))


def scenario_upstream_request_setters(gw):
    resp, data = request(
        gw,
        "/pdk/up/original?orig=1",
        method="POST",
        body="original body",
        headers={"x-case": "request", "x-remove-me": "gone", "x-added": "first", "content-type": "text/plain"},
    )
    assert resp.status == 200, data
    seen = json.loads(data)
    assert seen["server"] == "up1"
    assert seen["method"] == "PUT"
    assert seen["path"] == "/changed/path"
    assert seen["query"] == "a=1&b=2&b=3&flag"  # ngx.encode_args: sorted keys, lists repeated
    assert seen["headers"]["x-set"] == "set-value"
    assert [v for k, v in seen["header_list"] if k.lower() == "x-added"] == ["first", "second"]
    assert "x-remove-me" not in seen["headers"]
    assert seen["headers"]["x-many-a"] == "a"
    assert [v for k, v in seen["header_list"] if k.lower() == "x-many-b"] == ["b1", "b2"]
    assert json.loads(seen["body"]) == {"greeting": "hello", "n": 42}
    assert seen["headers"]["content-type"] == "application/json"
    assert returns_of(resp) == {
        "set_scheme": None, "set_method": None, "set_path": None, "set_query": None, "set_header": None,
        "add_header": None, "clear_header": None, "set_headers": None, "set_body": True,
        "enable_buffering": None,
    }

    resp, data = request(gw, "/pdk/up/raw?old=1", method="POST", body="old", headers={"x-case": "raw"})
    seen = json.loads(data)
    assert (seen["path"], seen["query"]) == ("/pdk/up/raw", "z=26&y")
    assert (seen["body"], seen["body_length"]) == ("raw body from ts", len("raw body from ts"))
    assert returns_of(resp) == {"set_raw_query": None, "set_raw_body": None}


def scenario_upstream_target_and_balancer(gw):
    resp, data = request(gw, "/pdk/up/x", headers={"x-case": "target"})
    assert resp.status == 200, data
    assert json.loads(data)["server"] == "up2"  # set_target sent it to the second upstream
    assert returns_of(resp) == {"set_target": None, "set_retries": None, "set_tls_verify": True}

    resp, data = request(gw, "/pdk/up/x", headers={"x-case": "upstream"})
    assert resp.status == 200, data
    assert json.loads(data)["server"] == "up2"  # the Upstream entity's only target
    assert returns_of(resp) == {"set_upstream": True}

    resp, data = request(gw, "/pdk/up/x", headers={"x-case": "timeouts"})
    assert resp.status == 200, data
    assert returns_of(resp) == {"set_timeouts": None}


def test_set_timeouts_applies_to_the_upstream(pdk_gw):
    # the plugin's read timeout (300 ms) replaces the Service's 60 s: a slower upstream is a 504
    start = time.monotonic()
    resp, data = request(pdk_gw, "/pdk/up/slow?ms=1500", headers={"x-case": "timeouts"})
    assert resp.status == 504, data
    waited = time.monotonic() - start
    assert 0.3 <= waited < 1.3, f"a 300 ms read timeout answered after {waited:.2f} s"


def test_service_request_setters_in_rewrite_reach_the_upstream(tmp_path, upstreams):
    yml = f"""
_format_version: "3.0"
plugins:
  - name: pdk-rewrite
services:
  - name: echo
    url: http://127.0.0.1:{upstreams[0].server_port}/base
    routes:
      - name: rw
        paths: ["/rw"]
"""
    gw = make_js_gateway(tmp_path / "gw", yml, workers=1).start()
    try:
        headers = {"X-Client": "from client", "X-Remove-Me": "please", "X-Keep": "kept"}
        resp, data = request(gw, "/rw/original?old=1", method="POST", body="client body", headers=headers)
        assert resp.status == 200, data
        seen = json.loads(data)
        # the route would send POST /base/original?old=1: the plugin's choices win
        assert (seen["method"], seen["path"]) == ("PUT", "/pdk/rewritten/path")
        assert sorted(seen["query"].split("&")) == ["q=1", "q=2", "z=x%20y"]
        upstream_headers = [(k.lower(), v) for k, v in seen["header_list"]]
        assert [v for k, v in upstream_headers if k == "x-rewrite-set"] == ["set"]
        assert [v for k, v in upstream_headers if k == "x-rewrite-added"] == ["one", "two"]
        assert [v for k, v in upstream_headers if k == "x-rewrite-multi"] == ["m1", "m2"]
        assert [v for k, v in upstream_headers if k == "x-client"] == ["from client", "added in rewrite"]
        assert "x-remove-me" not in seen["headers"] and seen["headers"]["x-keep"] == "kept"
        assert seen["headers"]["host"] == f"127.0.0.1:{upstreams[0].server_port}"  # still the service's
        assert (seen["body"], seen["headers"]["content-length"]) == ("body from rewrite", str(len("body from rewrite")))

        resp, data = request(gw, "/rw/original?old=1", headers={"X-Case": "raw"})
        assert resp.status == 200, data
        assert json.loads(data)["query"] == "raw=1&flag"
    finally:
        gw.stop()


def scenario_response_and_log(gw):
    before = log_lines(gw)
    resp, data = request(gw, "/pdk/resp/echo?q=1")
    assert resp.status == 201, data  # set_status in response
    assert json.loads(data)["path"] == "/pdk/resp/echo"  # the upstream body went through untouched
    seen = json.loads(resp.getheader("x-seen"))
    assert seen["upstream_status"] == 200 and seen["status"] == 200 and seen["status_after"] == 201
    assert seen["upstream_header"] == "up1" and seen["header"] == "up1"
    assert seen["upstream_headers"]["x-upstream-name"] == ["up1"]
    assert seen["headers"]["x-upstream-name"] == ["up1"]
    # the upstream's Content-Length, as Kong shows it (the body went through unchanged)
    assert seen["upstream_headers"]["content-length"] == [str(len(data))]
    assert seen["headers"]["content-length"] == [str(len(data))]
    assert resp.getheader("content-length") == str(len(data))
    assert json.loads(seen["upstream_raw_body"])["path"] == "/pdk/resp/echo"
    assert seen["upstream_body"]["query"] == "q=1"  # application/json parsed
    assert seen["source"] == "service"
    assert resp.getheader("x-resp-set") == "one"
    assert resp.headers.get_all("x-resp-added") == ["a", "b"]
    assert resp.getheader("x-upstream-name") is None  # cleared
    assert resp.getheader("x-resp-many") == "many"
    assert resp.headers.get_all("x-resp-list") == ["l1", "l2"]
    # set in access (add_header twice, set_header with a list): every value, in order
    assert resp.headers.get_all("x-access-added") == ["a1", "a2"]
    assert resp.headers.get_all("x-access-list") == ["l1", "l2"]
    assert seen["headers"]["x-access-added"] == ["a1", "a2"]

    line = wait_for(lambda: log_lines(gw)[len(before):], what="the log phase's line")[0]
    assert (line["status"], line["upstream_status"], line["source"]) == (201, 200, "service")
    ser = line["serialized"]
    assert ser["request"]["uri"] == "/pdk/resp/echo?q=1" and ser["request"]["method"] == "GET"
    assert ser["request"]["pdk_extra"] == "extra-value"  # set_serialize_value
    assert ser["response"]["status"] == 201
    assert ser["route"]["name"] == "resp" and ser["service"]["name"] == "echo"
    assert ser["client_ip"] == "127.0.0.1"
    assert "only in" in line["set_header_in_log"] and "log phase" in line["set_header_in_log"]
    assert "kong.service.request.set_header cannot be called in log phase" in line["service_set_header_in_log"]
    logs = wait_for(lambda: "[pdk-response] deprecation line" in gw.logs() and gw.logs(), what="kong.log lines")
    for level_line in ("plain kong.log from pdk-response", "alert line", "crit line", "err line", "warn line",
                       "notice line", "info line", "debug line"):
        assert f"[pdk-response] {level_line}" in logs


def log_lines(gw):
    if not gw.log_file.exists():
        return []
    return [json.loads(l) for l in gw.log_file.read_text().splitlines() if l.strip()]


def errors_of(resp):
    return json.loads(resp.getheader("x-errors"))


def scenario_phase_errors(gw):
    resp, data = request(gw, "/pdk/err/x", headers={"x-case": "phase"})
    assert resp.status == 200, data  # the plugin caught the errors; the request went on
    errors = errors_of(resp)
    assert errors["upstream_status_in_access"] == (
        "PDK method kong.service.response.get_status failed:  function kong.service.response.get_status "
        "cannot be called in access phase (only in: response, log)")
    assert "kong.service.response.get_raw_body cannot be called in access phase" in errors["upstream_body_in_access"]


def scenario_crlf_refused(gw):
    # read raw: an injected line would show up as a header of its own
    raw = raw_get(gw, "/pdk/err/x", {"x-case": "crlf"})
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), raw[:500]
    names = [line.split(b":")[0].strip().lower() for line in head.split(b"\r\n")[1:]]
    assert b"x-evil" not in names and b"x-injected" not in names, head
    assert b"x-fine" not in names  # a refused set_headers applies none of its headers
    seen = json.loads(body)
    assert "x-evil" not in seen["headers"] and "x-injected" not in seen["headers"]
    errors = json.loads(re.search(rb"(?im)^x-errors: (.*)\r$", head).group(1))
    for key in ("response_header", "upstream_header", "upstream_add_header", "response_headers"):
        assert errors[key].endswith('invalid header value for "x-evil": contains CR, LF or NUL'), errors


def raw_get(gw, path, headers):
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", gw.port), timeout=15) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while True:
            piece = s.recv(65536)
            if not piece:
                return b"".join(chunks)
            chunks.append(piece)


def scenario_unknown_method(gw):
    resp, data = request(gw, "/pdk/err/x", headers={"x-case": "unknown"})
    assert resp.status == 200, data
    assert errors_of(resp)["unknown"] == (
        "PDK method kong.request.get_nonexistent_thing failed:  "
        "method 'kong.request.get_nonexistent_thing' is not supported")


def scenario_response_error(gw):
    resp, data = request(gw, "/pdk/err/x", headers={"x-case": "error"})
    assert resp.status == 429
    assert json.loads(data) == {"message": "Too many requests"}


SCENARIOS = [
    scenario_request_getters,
    scenario_upstream_request_setters,
    scenario_upstream_target_and_balancer,
    scenario_response_and_log,
    scenario_phase_errors,
    scenario_crlf_refused,
    scenario_unknown_method,
    scenario_response_error,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("scenario_"))
def test_pdk(pdk_gw, scenario):
    scenario(pdk_gw)


def table_wire_names():
    """Every wire name the PDK table registers (entries are `{"kong.x.y", phases, step, handler}`)."""
    names = set()
    for source in (ROOT / "src" / "pdk").glob("*.cpp"):
        names.update(re.findall(r'\{"(kong(?:\.[A-Za-z0-9_]+)+)",', source.read_text()))
    return names


# Client-certificate functions need a TLS handshake (the certificate phase, a client certificate):
# test_tls.py calls each of them from a JS plugin (plugins/js-tls/js-cert.js) over MsgPack:1.
NEEDS_TLS = {"kong.client.tls.request_client_certificate", "kong.client.tls.disable_session_reuse",
             "kong.client.tls.get_full_client_certificate_chain", "kong.client.tls.set_client_verify"}


def test_every_pdk_function_was_called(pdk_gw):
    for scenario in SCENARIOS:
        scenario(pdk_gw)
    table = table_wire_names()
    assert len(table) > 80, sorted(table)  # the regex still matches the table's entries
    served = set()
    for name, plugin, phase, outcome in CALL_LINE.findall(pdk_gw.logs()):
        if outcome != "error":
            served.add(name)
    missing = table - served - NEEDS_TLS
    assert not missing, f"PDK functions no JS/TS plugin called successfully: {sorted(missing)}"


# ---- instance lifecycle and faults (js-instance.js) --------------------------------------------


def instance_kong_yml(up_port, tag="v1", extra_routes=""):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{up_port}
    routes:
      - name: inst
        paths: ["/inst"]
        plugins:
          - name: js-instance
            config: {{tag: "{tag}"}}
      - name: plain
        paths: ["/plain"]
{extra_routes}"""


FAULT_ROUTES = """
      - name: throws
        paths: ["/throws"]
        plugins:
          - name: js-instance
            config: {tag: "thrower", throw_in_access: true}
      - name: nostart
        paths: ["/nostart"]
        plugins:
          - name: js-instance
            config: {tag: "broken", fail_start: true}
"""


def instance_status(gw, instance_id):
    """Asks the JS server itself (plugin.InstanceStatus over its socket, MessagePack-RPC)."""
    name = b"plugin.InstanceStatus"
    message = bytes([0x94, 0x00, 0x01, 0xA0 | len(name)]) + name + bytes([0x91, instance_id])
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(gw.prefix / "js_pluginserver.sock"))
        s.sendall(message)
        return s.recv(65536)


def instance_header(gw, path="/inst", headers=None):
    resp, data = request(gw, path, headers=headers)
    assert resp.status == 200, data
    return resp.getheader("x-instance")


def reload_and_wait(gw, kong_yml, until):
    gw.kong_yml.write_text(kong_yml)
    assert gw.cli("reload").returncode == 0
    wait_for(until, timeout=20, what="the reloaded configuration")


def test_reload_with_changed_config_starts_a_new_instance_and_closes_the_old(tmp_path, upstreams):
    up = upstreams[0].server_port
    gw = make_js_gateway(tmp_path / "gw", instance_kong_yml(up, "v1")).start()
    try:
        assert instance_header(gw) == "1:v1"
        assert instance_header(gw) == "1:v1"  # reused
        assert b"js-instance" in instance_status(gw, 0)
        reload_and_wait(gw, instance_kong_yml(up, "v2"), lambda: instance_header(gw) == "2:v2")
        closed = "closed instance 0 of plugin 'js-instance'"
        wait_for(lambda: closed in gw.logs(), what="CloseInstance of the superseded instance")
        # the JS server really dropped it (its own answer), and keeps the new one
        assert b"no plugin instance #0" in instance_status(gw, 0)
        assert b"js-instance" in instance_status(gw, 1)
        wait_for(lambda: "method: plugin.CloseInstance args: [0]" in gw.logs(), what="the server's debug log")
        # a reload that does not change the config keeps the instance
        reload_and_wait(gw, instance_kong_yml(up, "v2") + "\n", lambda: True)
        time.sleep(0.5)
        assert instance_header(gw) == "2:v2"
        assert gw.logs().count("closed instance") == 1
    finally:
        gw.stop()


def test_superseded_instance_is_closed_only_after_its_last_request(tmp_path, upstreams):
    up = upstreams[0].server_port
    # the held event lasts as long as the reload (seconds: the query compiles the .ts plugins)
    gw = make_js_gateway(tmp_path / "gw", instance_kong_yml(up, "v1"),
                         extra_conf="pluginserver_js_timeout = 60000\n").start()
    try:
        assert instance_header(gw) == "1:v1"
        slow, release = {}, tmp_path / "release"
        # this request holds the old configuration (and its instance) until `release` exists
        hold = {"x-wait-for-file": str(release)}
        worker = threading.Thread(target=lambda: slow.update(h=instance_header(gw, headers=hold)))
        worker.start()
        wait_for(lambda: gw.logs().count("pdk call kong.request.get_header by 'js-instance'") >= 4,
                 what="the slow request inside the plugin")
        reload_and_wait(gw, instance_kong_yml(up, "v2"), lambda: instance_header(gw) == "2:v2")
        time.sleep(0.5)
        assert worker.is_alive()
        assert "closed instance" not in gw.logs()  # still in use by the slow request
        release.touch()
        worker.join(10)
        assert slow["h"] == "1:v1"  # served to the end by the old instance
        wait_for(lambda: "closed instance 0 of plugin 'js-instance'" in gw.logs(), what="CloseInstance")
        assert b"no plugin instance #0" in instance_status(gw, 0)
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def fault_gw(tmp_path_factory, upstreams):
    work = tmp_path_factory.mktemp("js-faults")
    gw = make_js_gateway(work / "gw", instance_kong_yml(upstreams[0].server_port, "v1", FAULT_ROUTES),
                         extra_conf="pluginserver_js_timeout = 5000\n").start()
    yield gw
    gw.stop()


def test_plugin_that_throws_in_its_handler(fault_gw):
    # kong-js-pluginserver catches the exception, logs it and ends the event: as under Kong, the
    # request goes on without what the handler did after the throw.
    resp, data = request(fault_gw, "/throws/x")
    assert resp.status == 200, data
    assert resp.getheader("x-instance").endswith(":thrower")  # done before the throw
    assert "x-instance-reached" not in json.loads(data)["headers"]  # after the throw: never done
    wait_for(lambda: "unhandled exception in js-instance.access" in fault_gw.logs(), what="the server's report")
    assert "js-instance bug: thrown in access" in fault_gw.logs()


def test_plugin_that_cannot_start_fails_closed(fault_gw):
    resp, data = request(fault_gw, "/nostart/x")
    assert resp.status == 500
    assert json.loads(data) == {"message": "An unexpected error occurred"}
    assert "js-instance refuses to start" in fault_gw.logs()
    assert request(fault_gw, "/plain/x")[0].status == 200


def test_plugin_that_cannot_start_is_skipped_with_fail_open(tmp_path, upstreams):
    gw = make_js_gateway(tmp_path / "gw", instance_kong_yml(upstreams[0].server_port, "v1", FAULT_ROUTES),
                         extra_conf="pluginserver_js_on_error = fail_open\n").start()
    try:
        resp, data = request(gw, "/nostart/x")
        assert resp.status == 200, data
        assert json.loads(data)["server"] == "up1"  # proxied without the plugin
        assert "skipped (fail_open)" in gw.logs()
    finally:
        gw.stop()


def test_server_killed_mid_event_gives_an_error_not_a_hang(fault_gw, tmp_path):
    assert instance_header(fault_gw).endswith(":v1")
    pid = find_server_pid(fault_gw)
    result = {}
    started = tmp_path / "event-open"

    def slow_request():
        resp, data = request(fault_gw, "/inst/x", headers={"x-wait-ms": "4000", "x-started-file": str(started)})
        result.update(status=resp.status, body=data, answered=time.time())

    client = threading.Thread(target=slow_request)
    client.start()
    wait_for_file(started)  # the event is open: the plugin is waiting inside access
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    client.join(10)
    assert not client.is_alive()
    assert result["status"] == 500, result
    assert json.loads(result["body"]) == {"message": "An unexpected error occurred"}
    # answered when the server died, not when the plugin would have ended (4 s) nor at the 5 s timeout
    assert result["answered"] - killed < 1.0, result["answered"] - killed
    # restarted by the supervisor; the plugin works again (a new instance on the new server)
    # (the new server compiles the .ts plugins again before it listens: that takes seconds)
    wait_for(lambda: request(fault_gw, "/inst/x")[0].status == 200, timeout=90, what="the plugin again")
    assert find_server_pid(fault_gw) != pid


# ---- examples/js-ts-plugins, run as documented -------------------------------------------------

EXAMPLE = ROOT / "examples" / "js-ts-plugins"


@pytest.fixture
def example_gw(tmp_path, upstreams):
    port, admin, prefix = free_port(), free_port(), tmp_path / "prefix"
    conf = (EXAMPLE / "gatehouse.conf.in").read_text().replace("@ROOT@", str(ROOT))
    conf = conf.replace("/tmp/gatehouse-js-ts", str(prefix))
    conf = conf.replace("0.0.0.0:8000", f"127.0.0.1:{port}").replace("127.0.0.1:8001", f"127.0.0.1:{admin}")
    conf = conf.replace(str(EXAMPLE / "kong.yml"), str(tmp_path / "kong.yml"))
    conf = re.sub(r"proxy_error_log = .*", f"proxy_error_log = {tmp_path / 'error.log'}", conf)
    (tmp_path / "gatehouse.conf").write_text(conf)
    yml = (EXAMPLE / "kong.yml").read_text().replace("127.0.0.1:9000", f"127.0.0.1:{upstreams[0].server_port}")
    (tmp_path / "kong.yml").write_text(yml.replace("/tmp/gatehouse-js-ts", str(prefix)))
    output = tmp_path / "stdout.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen([str(GATEHOUSE), "start", "-c", str(tmp_path / "gatehouse.conf")],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_listening(proc, port, timeout=90), (tmp_path / "error.log").read_text()
        yield port, prefix, tmp_path / "error.log"
    finally:
        stop_checked(proc, output, tmp_path / "error.log")


def example_request(port, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def test_example_js_ts_plugins(example_gw):
    port, prefix, error_log = example_gw
    # ts-key-auth: no key, a wrong key → 401 from the gateway; a good key → the upstream learns who
    resp, body = example_request(port, "/api/hello", {"Host": "demo.test"})
    assert resp.status == 401 and resp.getheader("www-authenticate") == "Key"
    assert json.loads(body) == {"message": "No valid API key found"}
    assert example_request(port, "/api/hello", {"apikey": "wrong"})[0].status == 401
    resp, body = example_request(port, "/api/hello", {"Host": "demo.test", "apikey": "alice-key"})
    assert resp.status == 200, body
    seen = json.loads(body)
    assert seen["headers"]["x-consumer-username"] == "alice" and "apikey" not in seen["headers"]
    # js-hello and ts-hello are global
    assert resp.getheader("x-hello-from-javascript") == "Hello from JavaScript, demo.test"
    assert resp.getheader("x-hello-from-typescript") == "Hello from TypeScript, demo.test"
    # js-rewrite-body: the buffered upstream JSON comes back wrapped
    resp, body = example_request(port, "/public/items?id=7")
    assert resp.status == 200 and resp.getheader("x-rewritten") == "true"
    wrapped = json.loads(body)
    assert wrapped["rewritten_by"] == "js-rewrite-body"
    assert wrapped["upstream"]["path"] == "/items" and wrapped["upstream"]["query"] == "id=7"
    # ts-file-log: one serialized record per request, after the response
    log = prefix / "requests.log"
    records = wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 4 and
                       [json.loads(l) for l in log.read_text().splitlines()], what="the log records")
    by_uri = {r["request"]["uri"]: r for r in records}
    assert by_uri["/public/items?id=7"]["response"]["status"] == 200
    assert by_uri["/public/items?id=7"]["logged_by"] == "ts-file-log"
    authed = [r for r in records if r["response"]["status"] == 200 and r["request"]["uri"] == "/api/hello"]
    assert authed and authed[0]["consumer"]["username"] == "alice"
    # The plugin's kong.log line reaches the error log after its record file: waited for, not read at once.
    wait_for(lambda: "[ts-file-log] logged GET /public/items?id=7 → 200" in error_log.read_text(),
             what="ts-file-log's line in the error log")
