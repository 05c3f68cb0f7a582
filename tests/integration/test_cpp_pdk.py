"""The C++ PDK end to end: the real gatehouse binary, real C++ plugin servers, real upstreams.

Every PDK test runs twice: over ProtoBuf:1 (pluginserver_<name>_protocol forces it) and over Gatehouse:1
(docs/protocol.md: reads prefetched with the event, writes batched), which must behave identically. Under
Gatehouse:1 the gateway is warmed up first so that the reads the probe makes are learned and prefetched.

cpp-pdk-probe (tests/integration/plugins/cpp-pdk) is a C++ PDK plugin whose config `group` selects which
kong.* methods a request exercises; it reports each call's result under its wire name (response header
x-pdk-<phase>, the log-phase report file, or the body of kong.response.exit). Each test asserts those
results against the request it sent, plus what the client and the echo upstream saw.
test_every_proto_method_is_exercised checks that together the groups call every rpc of
sdk/cpp/proto/pluginsocket.proto's Kong service, without an error.

Faults: a plugin server killed or exiting in the middle of an event, a throwing handler, an instance
purged by the server, and malformed frames from a hostile ProtoBuf:1 server
(pluginservers/hostile_pb_server.py), under both failure policies.
"""
import http.client
import json
import os
import re
import signal
import threading
import time

import pytest

from conftest import BUILD_DIR, ROOT, Gateway, free_port, stop_all

import echo_upstream

PROBE = BUILD_DIR / "examples" / "bin" / "cpp-pdk-probe"
HOSTILE = ROOT / "tests" / "integration" / "pluginservers" / "hostile_pb_server.py"
PROTO = ROOT / "sdk" / "cpp" / "proto" / "pluginsocket.proto"

NODE_ID = "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f"
SERVICE_ID = "5e2d9c1a-1111-4aaa-8bbb-000000000001"
REQUEST_ROUTE_ID = "5e2d9c1a-2222-4aaa-8bbb-000000000002"
ALICE = {"id": "4b1b1e1c-0000-4000-8000-00000000a11c", "username": "alice", "custom_id": "alice-custom",
         "tags": ["probe"]}
BOB = {"id": "4b1b1e1c-0000-4000-8000-000000000b0b", "username": "bob"}
INTERNAL_ERROR = {"message": "An unexpected error occurred"}
PROTOCOLS = ["ProtoBuf:1", "Gatehouse:1"]



# ---- the .proto's method list ------------------------------------------------------------------

def proto_wire_names():
    """Wire names of every rpc of `service Kong`: the MethodName option, else Kong's derivation
    (Kong.<Rpc>: "_" -> ".", a lower-case letter or digit followed by an upper-case one gets a "_")."""
    text = PROTO.read_text()
    service = text[text.index("service Kong {"):]
    names = set()
    for match in re.finditer(r"rpc (\w+)\([^)]*\) returns \([^)]*\)\s*(\{[^}]*\}|;)", service):
        option = re.search(r'\(MethodName\) = "([^"]+)"', match.group(2))
        if option:
            names.add(option.group(1))
            continue
        parts = [re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", p).lower() for p in match.group(1).split("_")]
        names.add("kong." + ".".join(parts))
    return names


def test_proto_lists_the_74_pdk_methods():
    names = proto_wire_names()
    assert len(names) == 74
    assert {"kong.nginx.get_tls1_version_str", "kong.ctx.shared.get", "kong.service.request.set_raw_body",
            "kong.service.response.get_raw_body", "kong.ip.is_trusted"} <= names


# ---- gateways ------------------------------------------------------------------------------------

def server_conf(name, start_cmd, query_cmd, extra=""):
    key = name.replace("-", "_")
    return (f"plugins = bundled, {name}\n"
            f"pluginserver_names = {name}\n"
            f"pluginserver_{key}_socket = {{prefix}}/{name}.socket\n"
            f"pluginserver_{key}_start_cmd = {start_cmd} -kong-prefix {{prefix}}\n"
            f"pluginserver_{key}_query_cmd = {query_cmd} -dump -kong-prefix {{prefix}}\n" + extra)


def probe_conf(extra="", protocol="ProtoBuf:1"):
    return server_conf("cpp-pdk-probe", PROBE, PROBE, "trusted_ips = 127.0.0.1\n"
                       f"node_id = {NODE_ID}\n"
                       f"pluginserver_cpp_pdk_probe_protocol = {protocol}\n" + extra)


def start_gateway(workdir, kong_yml, conf):
    gw = Gateway(workdir, kong_yml)
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.conf.write_text(gw.conf.read_text() + conf.replace("{prefix}", str(gw.prefix)))
    return gw.start()


def probe_route(group, path=None, **config):
    config = dict(group=group, **config)
    return f"""
      - name: probe-{group}
        paths: ["{path or '/pdk/' + group}"]
        strip_path: false
        plugins:
          - name: cpp-pdk-probe
            config: {json.dumps(config)}"""


def probe_kong_yml(up1, up2, closed_port, report_file):
    groups = ["client", "router", "ctx", "log", "response", "service-request", "service-target",
              "service-upstream", "service-response", "exit-response", "order", "exit-batch"]
    extra = {"ctx": {"report_file": str(report_file)}, "log": {"report_file": str(report_file)},
             "service-target": {"target_host": "127.0.0.1", "target_port": up2},
             "service-upstream": {"upstream": "probe-upstream"}}
    routes = "".join(probe_route(g, **extra.get(g, {})) for g in groups)
    return f"""
_format_version: "3.0"
consumers:
  - id: {ALICE["id"]}
    username: alice
    custom_id: alice-custom
    tags: [probe]
  - id: {BOB["id"]}
    username: bob
upstreams:
  - name: probe-upstream
    targets:
      - target: 127.0.0.1:{up2}
services:
  - name: probe-service
    id: {SERVICE_ID}
    url: http://127.0.0.1:{up1}
    routes:
      - name: probe-request
        id: {REQUEST_ROUTE_ID}
        paths: ['~/pdk/(?<group>request)/(\\w+)$']
        methods: [GET, POST]
        strip_path: false
        plugins:
          - name: cpp-pdk-probe
            config: {{"group": "request"}}{routes}
  - name: closed-service
    url: http://127.0.0.1:{closed_port}
    routes:{probe_route("exit")}
"""


@pytest.fixture(scope="module")
def upstreams():
    up1, up2 = echo_upstream.start_in_thread(0, "up1"), echo_upstream.start_in_thread(0, "up2")
    yield up1, up2
    for server in (up1, up2):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=PROTOCOLS)
def probe_gw(request, upstreams, tmp_path_factory):
    """One gateway per protocol for the method tests: one route per group (they do not disturb each other)."""
    workdir = tmp_path_factory.mktemp("cpp-pdk")
    up1, up2 = upstreams
    report_file = workdir / "log-phase.jsonl"
    yml = probe_kong_yml(up1.server_port, up2.server_port, free_port(), report_file)
    gw = start_gateway(workdir / "gw", yml, probe_conf(protocol=request.param))
    gw.report_file = report_file
    gw.upstreams = upstreams
    gw.protocol = request.param
    assert f"loading protocol {request.param} for plugin cpp-pdk-probe" in gw.logs()
    if request.param == "Gatehouse:1":
        warm_up(gw)
    yield gw
    gw.stop()


def warm_up(gw, rounds=4):
    """Every group a few times, so that later requests are prefetched (whichever worker serves them)."""
    for _ in range(rounds):
        for exercise in EXERCISES:
            exercise(gw)
        send(gw, "/pdk/order", headers={"X-Which": "x-warm", "X-Warm": "up"})
    assert "reads prefetched" in gw.logs(), "Gatehouse:1 never prefetched"


@pytest.fixture(params=PROTOCOLS)
def protocol(request):
    return request.param


# ---- requests and reports ------------------------------------------------------------------------

class Answer:
    def __init__(self, resp, body, client_port):
        self.status, self.body, self.client_port = resp.status, body, client_port
        self.headers = resp.headers
        self.resp = resp

    def header(self, name):
        return self.resp.getheader(name)

    def all(self, name):
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body)

    def report(self, phase):
        """The probe's record for a phase: {"values": {label: result}, "errors": {...}, "notes": {...}}."""
        raw = self.header(f"x-pdk-{phase}")
        assert raw, f"no x-pdk-{phase} header: {self.status} {dict(self.headers)} {self.body[:500]!r}"
        return json.loads(raw)


def send(gw, path, method="GET", headers=None, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    conn.connect()
    client_port = conn.sock.getsockname()[1]
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return Answer(resp, data, client_port)


def values_of(report):
    assert report["errors"] == {}, report["errors"]
    return report["values"]


def methods_in(report):
    return {label.split("#")[0] for label in values_of(report)}


def log_phase_reports(gw):
    if not gw.report_file.exists():
        return []
    complete = gw.report_file.read_text().split("\n")[:-1]  # the plugin may be writing the last line
    return [json.loads(line) for line in complete if line]


def wait_log_phase_report(gw, group, after, timeout=10):
    """The first log-phase record of `group` written after the first `after` records."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for report in log_phase_reports(gw)[after:]:
            if report["notes"]["group"] == group:
                return report
        time.sleep(0.05)
    raise AssertionError(f"no log-phase report of {group}: {log_phase_reports(gw)[after:]}")


# ---- one exercise per group: the request, and what came back -------------------------------------
# Each returns (answer, reports, methods the plugin demonstrably called).

def exercise_one_phase(gw, path, phase, **request):
    a = send(gw, path, **request)
    report = a.report(phase)
    return a, [report], methods_in(report)


def exercise_request(gw):
    headers = {"Host": "probe.test:8443", "X-Probe": "probe-value", "Content-Type": "text/plain",
               "X-Forwarded-Proto": "https", "X-Forwarded-Host": "fwd.test", "X-Forwarded-Port": "9443"}
    return exercise_one_phase(gw, "/pdk/request/item42?x=1&y=2&y=3&flag", "access", method="POST",
                              body=b"hello body", headers=headers)


def exercise_client(gw):
    return exercise_one_phase(gw, "/pdk/client", "access",
                              headers={"X-Real-IP": "203.0.113.7", "X-Forwarded-Proto": "https"})


def exercise_router(gw):
    return exercise_one_phase(gw, "/pdk/router", "access")


def exercise_ctx(gw):
    before = len(log_phase_reports(gw))
    a = send(gw, "/pdk/ctx?marker=ctx", headers={"X-Probe": "probe-value"})
    access, response = a.report("access"), a.report("response")
    log = wait_log_phase_report(gw, "ctx", before)
    return a, [access, response, log], methods_in(access) | methods_in(response) | methods_in(log)


def exercise_log(gw):
    before = len(log_phase_reports(gw))
    a = send(gw, "/pdk/log?marker=log")
    report = a.report("access")
    log = wait_log_phase_report(gw, "log", before)
    return a, [report, log], methods_in(report) | methods_in(log)


def exercise_response(gw):
    return exercise_one_phase(gw, "/pdk/response", "response")


def exercise_service_request(gw):
    return exercise_one_phase(gw, "/pdk/service-request?old=1", "access", method="POST", body=b"original body",
                              headers={"X-Remove-Me": "please", "X-Keep": "kept", "X-Probe-Multi": "old"})


def exercise_service_target(gw):
    return exercise_one_phase(gw, "/pdk/service-target?dropped=1", "access")


def exercise_service_upstream(gw):
    return exercise_one_phase(gw, "/pdk/service-upstream", "access")


def exercise_service_response(gw):
    return exercise_one_phase(gw, "/pdk/service-response/status/201", "response")


def exercise_exit(gw):
    a = send(gw, "/pdk/exit")
    report = a.json()  # the body of kong.response.exit is the record
    exited = {"kong.response.exit"} if a.status == 403 and a.header("x-pdk-exit") == "by cpp" else set()
    return a, [report], methods_in(report) | exited


def exercise_exit_response(gw):
    a = send(gw, "/pdk/exit-response")
    report = a.json()
    exited = {"kong.response.exit"} if a.status == 202 else set()
    return a, [report], methods_in(report) | exited


EXERCISES = [exercise_request, exercise_client, exercise_router, exercise_ctx, exercise_log, exercise_response,
             exercise_service_request, exercise_service_target, exercise_service_upstream,
             exercise_service_response, exercise_exit, exercise_exit_response]


def test_every_proto_method_is_exercised(probe_gw):
    exercised = set()
    for exercise in EXERCISES:
        _, _, methods = exercise(probe_gw)
        exercised |= methods
    expected = proto_wire_names()
    assert expected - exercised == set(), "never called through the gateway"
    assert exercised - expected == set(), "called, but not an rpc of the .proto"


# ---- what each group saw and did -----------------------------------------------------------------

def test_request_getters(probe_gw):
    a, [report], _ = exercise_request(probe_gw)
    v = values_of(report)
    assert a.status == 200
    assert v["kong.request.get_scheme"] == "http"
    assert v["kong.request.get_host"] == "probe.test"
    assert v["kong.request.get_port"] == probe_gw.port
    # the peer (127.0.0.1) is in trusted_ips: the X-Forwarded-* headers count
    assert v["kong.request.get_forwarded_scheme"] == "https"
    assert v["kong.request.get_forwarded_host"] == "fwd.test"
    assert v["kong.request.get_forwarded_port"] == 9443
    assert v["kong.request.get_http_version"] == 1.1
    assert v["kong.request.get_method"] == "POST"
    assert v["kong.request.get_path"] == "/pdk/request/item42"
    assert v["kong.request.get_path_with_query"] == "/pdk/request/item42?x=1&y=2&y=3&flag"
    assert v["kong.request.get_raw_query"] == "x=1&y=2&y=3&flag"
    assert v["kong.request.get_query_arg"] == "1"
    assert v["kong.request.get_query_arg#missing"] == ""
    # a valueless flag (Kong: true) has no string to put in the C++ map: dropped, as go-pdk does
    assert v["kong.request.get_query"] == {"x": ["1"], "y": ["2", "3"]}
    assert v["kong.request.get_query_arg#flag"] == "true"
    assert v["kong.request.get_query#max2"] == {"x": ["1"], "y": ["2"]}
    assert v["kong.request.get_header"] == "probe-value"
    assert v["kong.request.get_header#missing"] == ""
    headers = v["kong.request.get_headers"]
    assert headers["x-probe"] == ["probe-value"]
    assert headers["host"] == ["probe.test:8443"]
    assert headers["content-length"] == ["10"]
    assert v["kong.request.get_raw_body"] == "hello body"
    # the groups only, from the first (Kong drops ngx.re.match's whole match at captures[0])
    assert v["kong.request.get_uri_captures"] == {"unnamed": ["request", "item42"],
                                                  "named": {"group": "request"}}
    # getters change nothing: the upstream saw the request as sent
    seen = a.json()
    assert (seen["method"], seen["raw_path"], seen["body"]) == ("POST", "/pdk/request/item42?x=1&y=2&y=3&flag",
                                                                  "hello body")
    assert seen["headers"]["x-probe"] == "probe-value"


def test_client_ip_and_consumers(probe_gw):
    a, [report], _ = exercise_client(probe_gw)
    v = values_of(report)
    assert a.status == 200
    assert v["kong.client.get_ip"] == "127.0.0.1"
    assert v["kong.client.get_port"] == a.client_port
    assert v["kong.client.get_forwarded_ip"] == "203.0.113.7"  # X-Real-IP from a trusted peer
    assert v["kong.client.get_forwarded_port"] == a.client_port
    assert v["kong.client.get_protocol"] == "http"
    assert v["kong.client.get_protocol#allow_terminated"] == "https"
    assert v["kong.client.get_consumer#before"] is None
    assert v["kong.client.get_credential#before"] is None
    alice = v["kong.client.load_consumer"]
    assert {k: alice[k] for k in ALICE} == ALICE
    assert v["kong.client.load_consumer#by_username"]["id"] == BOB["id"]
    assert v["kong.client.load_consumer#unknown"] is None
    assert v["kong.client.authenticate"] is None
    assert v["kong.client.get_consumer"] == alice
    assert v["kong.client.get_credential"] == {"id": "cred-alice", "consumer_id": ALICE["id"]}
    assert v["kong.ip.is_trusted"] is True
    assert v["kong.ip.is_trusted#untrusted"] is False
    assert a.json()["headers"]["x-real-ip"] == "203.0.113.7"


def test_router_getters(probe_gw):
    a, [report], _ = exercise_router(probe_gw)
    v = values_of(report)
    route, service = v["kong.router.get_route"], v["kong.router.get_service"]
    assert route["name"] == "probe-router"
    assert route["paths"] == ["/pdk/router"]
    assert route["strip_path"] is False
    assert route["service_id"] == SERVICE_ID
    assert service["id"] == SERVICE_ID
    assert service["name"] == "probe-service"
    assert (service["protocol"], service["host"], service["port"]) == ("http", "127.0.0.1",
                                                                       probe_gw.upstreams[0].server_port)
    assert a.json()["server"] == "up1"


def test_ctx_nginx_node_across_phases(probe_gw):
    started = time.time()
    a, [access, response, log], _ = exercise_ctx(probe_gw)
    shared = {"n": 1, "list": [1, "two", True], "nested": {"k": "v"}}
    v = values_of(access)
    assert v["kong.ctx.shared.set"] is None
    assert v["kong.ctx.shared.get"] == shared
    assert v["kong.ctx.shared.get#unset"] is None
    assert v["kong.nginx.set_ctx"] is None
    assert v["kong.nginx.get_ctx"] == "ctx-value"
    assert v["kong.nginx.get_var"] == "GET"
    assert v["kong.nginx.get_var#header"] == "probe-value"
    assert v["kong.nginx.get_var#uri"] == "/pdk/ctx"
    assert v["kong.nginx.get_tls1_version_str"] == ""  # plain HTTP
    assert started - 5 < v["kong.nginx.req_start_time"] <= time.time()
    assert v["kong.nginx.get_subsystem"] == "http"
    assert v["kong.node.get_id"] == NODE_ID
    vms = v["kong.node.get_memory_stats"]["workers_lua_vms"]
    assert [vm["pid"] for vm in vms] == [probe_gw.proc.pid]
    assert vms[0]["http_allocated_gc"] > 0
    # the same request's values, seen again in later phases (other events, other connections)
    assert values_of(response) == {"kong.ctx.shared.get": shared, "kong.nginx.get_ctx": "ctx-value"}
    assert values_of(log) == {"kong.ctx.shared.get": shared, "kong.nginx.get_ctx": "ctx-value"}
    assert a.status == 200 and a.json()["query"] == "marker=ctx"


def test_log_functions_reach_the_gateway_log(probe_gw):
    a, [report, log], _ = exercise_log(probe_gw)
    v = values_of(report)
    assert a.status == 200
    logs = probe_gw.logs()
    for n, level in enumerate(["alert", "crit", "err", "warn", "notice", "info", "debug"], start=1):
        assert v[f"kong.log.{level}"] is None
        assert re.search(rf"\[cpp-pdk-probe\] cpp-probe-{level}{n}", logs), level
    assert v["kong.log.set_serialize_value"] is None
    serialized = v["kong.log.serialize"]
    assert serialized["probe_extra"] == "from-cpp"
    assert serialized["request"]["method"] == "GET"
    assert serialized["request"]["querystring"] == {"marker": "log"}
    assert serialized["route"]["name"] == "probe-log"
    # in the log phase the response is known
    final = values_of(log)["kong.log.serialize"]
    assert final["response"]["status"] == 200
    assert final["probe_extra"] == "from-cpp"


def test_response_getters_and_setters(probe_gw):
    a, [report], _ = exercise_response(probe_gw)
    v = values_of(report)
    assert v["kong.response.get_status"] == 200
    assert v["kong.response.get_header"] == "up1"
    assert v["kong.response.get_headers"]["x-upstream-name"] == ["up1"]
    assert v["kong.response.get_headers"]["content-length"] == [str(len(a.body))]  # the upstream's, as Kong
    assert v["kong.response.get_source"] == "service"
    assert v["kong.response.get_status#after"] == 299
    assert v["kong.response.get_header#after"] == "set"
    # what the client got
    assert a.status == 299
    assert a.header("x-probe-set") == "set"
    assert a.all("x-probe-added") == ["one", "two"]
    assert a.header("x-upstream-name") is None
    assert a.all("x-probe-multi") == ["m1", "m2"]
    assert a.header("x-probe-single") == "s"
    assert a.json()["server"] == "up1"  # the body is the upstream's


def test_service_request_setters(probe_gw):
    a, [report], _ = exercise_service_request(probe_gw)
    assert all(value is None for value in values_of(report).values())
    seen = a.json()
    assert seen["method"] == "PUT"
    assert seen["path"] == "/probe/new-path"
    assert sorted(seen["query"].split("&")) == ["q=1", "q=2", "z=x%20y"]
    headers = [[k.lower(), v] for k, v in seen["header_list"]]
    assert ["x-probe-set", "set"] in headers
    assert [v for k, v in headers if k == "x-probe-added"] == ["one", "two"]
    assert [v for k, v in headers if k == "x-probe-multi"] == ["m1", "m2"]
    assert "x-remove-me" not in seen["headers"]
    assert seen["headers"]["x-keep"] == "kept"
    assert seen["body"] == "body from cpp"
    assert seen["headers"]["content-length"] == str(len("body from cpp"))


def test_service_set_target(probe_gw):
    a, [report], _ = exercise_service_target(probe_gw)
    assert values_of(report) == {"kong.service.set_target": None, "kong.service.request.set_raw_query": None}
    seen = a.json()
    assert seen["server"] == "up2"
    assert seen["query"] == "raw=1&flag"


def test_service_set_upstream(probe_gw):
    a, [report], _ = exercise_service_upstream(probe_gw)
    assert values_of(report) == {"kong.service.set_upstream#unknown": False, "kong.service.set_upstream": True}
    assert a.json()["server"] == "up2"


def test_service_response_getters(probe_gw):
    a, [report], _ = exercise_service_response(probe_gw)
    v = values_of(report)
    assert a.status == 201
    assert v["kong.service.response.get_status"] == 201
    assert v["kong.service.response.get_header"] == "up1"
    assert v["kong.service.response.get_headers"]["content-type"] == ["application/json"]
    assert v["kong.service.response.get_headers"]["content-length"] == [str(len(a.body))]  # Kong shows it
    assert v["kong.service.response.get_raw_body"] == a.body.decode() == '{"status": 201}'


def test_exit_in_access_never_reaches_the_service(probe_gw):
    pid = server_pid(probe_gw, "cpp-pdk-probe")
    for _ in range(3):  # the connection closed by the exit is not an error: no retry, no restart
        a, [report], _ = exercise_exit(probe_gw)
        assert a.status == 403  # the service's port is closed: proxying would give 502
        assert a.header("x-pdk-exit") == "by cpp"
        assert a.header("content-type") == "application/json"
        assert values_of(report) == {"kong.request.get_method": "GET"}
    assert server_pid(probe_gw, "cpp-pdk-probe") == pid
    assert "plugin 'cpp-pdk-probe': instance" not in probe_gw.logs()  # never "lost"


def test_exit_in_response_replaces_the_upstream_body(probe_gw):
    a, [report], _ = exercise_exit_response(probe_gw)
    assert a.status == 202
    body = values_of(report)["kong.service.response.get_raw_body"]
    assert json.loads(body)["path"] == "/pdk/exit-response"  # what the upstream echoed
    assert a.header("content-type") == "application/json"
    assert a.header("content-length") == str(len(a.body))


# ---- ordering: what batching must not change ----------------------------------------------------

def test_write_then_read_sees_the_write_and_a_refused_write_is_lost(probe_gw):
    for which, value in [("x-one", "1"), ("x-two", "2"), ("x-one", "again")]:
        a = send(probe_gw, "/pdk/order", headers={"X-Which": which, which: value})
        assert a.status == 200, a.body
        report = a.report("access")
        assert report["errors"] == {}
        v = report["values"]
        assert v["kong.ctx.shared.get#before"] is None
        assert v["kong.ctx.shared.get#after"] == "written"  # not the prefetched null
        # a read whose argument changes per request: never a stale prefetched answer
        assert v["kong.request.get_header#dynamic"] == value
        # the refused write changed nothing, and the write after it still applied
        assert a.json()["method"] == "GET"
        assert a.json()["headers"]["x-after-error"] == "applied"


def test_exit_in_the_middle_of_writes(probe_gw):
    for _ in range(3):  # under Gatehouse:1 the connection is reused after an exit
        a = send(probe_gw, "/pdk/exit-batch")
        assert a.status == 403
        assert a.body == b"stopped"
        assert a.header("x-exit") == "yes"
        assert a.header("x-before-exit") == "applied"
        assert a.header("x-after-exit") is None


def test_protocol_choice_is_reported(probe_gw):
    out = probe_gw.cli("plugins", "--json")
    assert out.returncode == 0, out.stderr
    document = out.stdout[out.stdout.index("{"):]
    protocols = {p["name"]: p["protocol"] for s in json.loads(document)["servers"] for p in s["plugins"]}
    assert protocols["cpp-pdk-probe"] == probe_gw.protocol


# ---- declared reads (Gatehouse:1) -------------------------------------------------------------------
# The `declared` group declares its access reads (pdk::Reads; the header name comes from its config),
# plus a write and kong.client.load_consumer, which the gateway must refuse to prefetch; it also
# makes one read it does not declare. The gateway logs, per Gatehouse:1 event, how many calls the
# plugin still had to wait for: that is how the test sees the round trips.

DECLARED_HEADER = "x-custom-declared"


def declared_gateway(upstreams, workdir, protocol):
    yml = f"""
_format_version: "3.0"
services:
  - name: probe-service
    url: http://127.0.0.1:{upstreams[0].server_port}
    routes:{probe_route("declared", declared_header=DECLARED_HEADER)}
"""
    return start_gateway(workdir, yml, probe_conf(protocol=protocol))


def access_events(gw, count, timeout=5):
    """(instance, calls answered over the wire) of the first `count` access events, in order."""
    pattern = r"Gatehouse:1 \S+: access event of instance (\d+): (\d+) calls answered over the wire"
    deadline = time.time() + timeout
    while True:
        events = [(int(i), int(n)) for i, n in re.findall(pattern, gw.logs())]
        if len(events) >= count or time.time() > deadline:
            assert len(events) >= count, gw.logs()[-3000:]
            return events[:count]
        time.sleep(0.05)


def pdk_method_counts(gw):
    """{(calls|round_trips|prefetched, method): value} of gatehouse_pdk_method_*_total on /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    pattern = r'^gatehouse_pdk_method_(\w+)_total\{method="([^"]+)"\} (\S+)$'
    return {(kind, method): float(v) for kind, method, v in re.findall(pattern, body, re.M)}


def send_declared(gw, n):
    return send(gw, "/pdk/declared", headers={DECLARED_HEADER: f"declared-{n}", "X-Undeclared": f"undeclared-{n}"})


def test_declared_reads_are_prefetched_from_the_first_event(upstreams, tmp_path):
    gw = declared_gateway(upstreams, tmp_path / "gatehouse", "Gatehouse:1")
    classic = declared_gateway(upstreams, tmp_path / "protobuf", "ProtoBuf:1")
    try:
        answers = [send_declared(gw, n) for n in range(6)]
        # the first event of the fresh instance: the three declared reads came with it, only the
        # undeclared one cost a round trip; it was learned, so no later event (either worker) waits
        events = access_events(gw, len(answers))
        assert [calls for _, calls in events] == [1, 0, 0, 0, 0, 0], events
        assert len({instance for instance, _ in events}) == 1
        assert "3 reads prefetched for access" in gw.logs()
        # the same results as ProtoBuf:1, request by request
        for n, a in enumerate(answers):
            b = send_declared(classic, n)
            assert (a.status, b.status) == (200, 200), (a.body, b.body)
            assert values_of(a.report("access")) == values_of(b.report("access")) == {
                "kong.request.get_header": f"declared-{n}", "kong.request.get_path": "/pdk/declared",
                "kong.client.get_ip": "127.0.0.1", "kong.request.get_header#undeclared": f"undeclared-{n}"}
            # the declared write never ran, under either protocol
            assert a.header("x-declared-write") is None and b.header("x-declared-write") is None
        # the wrong declarations were refused, with their names; nothing else went wrong
        logs = gw.logs()
        for refused in ("access: kong.response.set_header", "access: kong.client.load_consumer"):
            assert f"plugin cpp-pdk-probe declares {refused}, which is not a side-effect-free read" in logs
        # ProtoBuf:1 (Kong's protocol) never sees a declaration
        assert "not a side-effect-free read" not in classic.logs()
        # /metrics per PDK method: Gatehouse:1 sent the declared reads with every event and waited
        # once (the undeclared read, first event); ProtoBuf:1 waited for every call
        ours, kongs = pdk_method_counts(gw), pdk_method_counts(classic)
        assert ours[("prefetched", "kong.client.get_ip")] == 6, ours
        assert ours[("round_trips", "kong.request.get_header")] == 1, ours
        assert ("round_trips", "kong.client.get_ip") not in ours, ours
        assert kongs[("round_trips", "kong.request.get_header")] == 12, kongs
        assert kongs[("round_trips", "kong.client.get_ip")] == 6, kongs
        assert not any(kind == "prefetched" for kind, _ in kongs), kongs
        assert gw.proc.poll() is None and classic.proc.poll() is None
    finally:
        gw.stop()
        classic.stop()


def test_a_restarted_server_starts_from_its_declarations_again(upstreams, tmp_path):
    """What was learned for the instances of a process dies with it: the new process's instance
    (same id: the C++ PDK keys instances by __seq__) declares again and learns its undeclared read
    again, rather than inheriting the old plan."""
    gw = declared_gateway(upstreams, tmp_path / "gatehouse", "Gatehouse:1")
    try:
        assert [send_declared(gw, n).status for n in range(3)] == [200] * 3
        assert [calls for _, calls in access_events(gw, 3)] == [1, 0, 0]
        pid = server_pid(gw, "cpp-pdk-probe")
        os.kill(pid, signal.SIGKILL)
        server_pid(gw, "cpp-pdk-probe", other_than=pid)
        answers = [send_declared(gw, n) for n in range(3, 6)]
        assert [a.status for a in answers] == [200] * 3, [a.body for a in answers]
        for n, a in zip(range(3, 6), answers):
            assert values_of(a.report("access"))["kong.request.get_header#undeclared"] == f"undeclared-{n}"
        after = access_events(gw, 6)[3:]
        assert [calls for _, calls in after] == [1, 0, 0], after
        assert gw.logs().count("3 reads prefetched for access") == 2, gw.logs()[-3000:]
    finally:
        gw.stop()


# ---- faults --------------------------------------------------------------------------------------

def server_pid(gw, name, other_than=None, timeout=20):
    """The pid of server `name` once it is running and ready (and, if given, not `other_than`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = gw.cli("plugins", "--running", "--json")
        if out.returncode == 0:
            # config warnings may come first (node_id is reported unknown although kong.node.get_id uses it)
            document = out.stdout[out.stdout.index("{"):] if out.stdout.startswith("[") else out.stdout
            for server in json.loads(document)["servers"]:
                if server["name"] == name and server.get("ready") and server.get("pid") not in (None, other_than):
                    return server["pid"]
        time.sleep(0.1)
    raise AssertionError(f"server {name} not running (other than {other_than}):\n" + gw.logs()[-3000:])


def in_background(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as e:  # noqa: BLE001 — reported to the test thread
            result["error"] = e
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def wait_for_file(path, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline and not path.exists():
        time.sleep(0.02)
    assert path.exists(), f"{path} never appeared"


@pytest.fixture
def fault_gateway(upstreams, tmp_path):
    """A gateway per fault test (the faults restart its servers)."""
    gateways = []

    def make(routes, conf):
        yml = f"""
_format_version: "3.0"
services:
  - name: probe-service
    url: http://127.0.0.1:{upstreams[0].server_port}
    routes:{routes}
"""
        gw = start_gateway(tmp_path / f"gw{len(gateways)}", yml, conf)
        gateways.append(gw)
        return gw

    yield make
    stop_all(gateways)


POLICIES = ["fail_closed", "fail_open"]


def assert_failed_per_policy(answer, policy, status=500):
    if policy == "fail_closed":
        assert answer.status == status, answer.body
        assert answer.header("content-type").startswith("application/json")
        return
    assert answer.status == 200, answer.body  # the plugin was skipped, the request went on
    assert answer.json()["server"] == "up1"
    assert answer.header("x-pdk-access") is None


def assert_probe_works_again(gw, old_pid):
    new_pid = server_pid(gw, "cpp-pdk-probe", other_than=old_pid)
    a = send(gw, "/pdk/request/again", headers={"X-Probe": "after"})
    assert a.status == 200, a.body
    assert values_of(a.report("access"))["kong.request.get_header"] == "after"
    return new_pid


@pytest.mark.parametrize("policy", POLICIES)
def test_server_killed_mid_event(fault_gateway, tmp_path, policy, protocol):
    marker = tmp_path / "entered"
    routes = probe_route("hang", marker_file=str(marker), sleep_ms=60000) + probe_route(
        "request", path="/pdk/request")
    gw = fault_gateway(routes, probe_conf(f"pluginserver_cpp_pdk_probe_on_error = {policy}\n", protocol))
    pid = server_pid(gw, "cpp-pdk-probe")
    thread, result = in_background(lambda: send(gw, "/pdk/hang"))
    wait_for_file(marker)
    started = time.time()
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=15)
    assert not thread.is_alive(), "the client hangs after the plugin server died"
    assert time.time() - started < 10
    assert "error" not in result, result.get("error")  # an HTTP answer, not a dropped connection
    assert_failed_per_policy(result["value"], policy)
    if policy == "fail_closed":
        assert result["value"].json() == INTERNAL_ERROR
    assert_probe_works_again(gw, pid)
    assert gw.proc.poll() is None


@pytest.mark.parametrize("policy", POLICIES)
def test_server_exiting_mid_event(fault_gateway, tmp_path, policy, protocol):
    routes = probe_route("crash", marker_file=str(tmp_path / "crashed")) + probe_route("request", path="/pdk/request")
    gw = fault_gateway(routes, probe_conf(f"pluginserver_cpp_pdk_probe_on_error = {policy}\n", protocol))
    pid = server_pid(gw, "cpp-pdk-probe")
    a = send(gw, "/pdk/crash", timeout=15)
    assert_failed_per_policy(a, policy)
    assert (tmp_path / "crashed").exists()
    assert_probe_works_again(gw, pid)
    assert re.search(r"cpp-pdk-probe.*exited with code 3", gw.logs()), gw.logs()[-2000:]


def test_throwing_handler_answers_500_and_the_server_stays(fault_gateway, protocol):
    routes = probe_route("throw") + probe_route("request", path="/pdk/request")
    gw = fault_gateway(routes, probe_conf(protocol=protocol))
    pid = server_pid(gw, "cpp-pdk-probe")
    a = send(gw, "/pdk/throw")
    assert a.status == 500
    assert a.json() == INTERNAL_ERROR
    assert "cpp-pdk-probe threw on purpose" in gw.logs()
    assert send(gw, "/pdk/request").status == 200
    assert server_pid(gw, "cpp-pdk-probe") == pid


# ---- a hostile ProtoBuf:1 server ---------------------------------------------------------------------

def hostile_route(mode):
    return f"""
      - name: hostile-{mode}
        paths: ["/hostile/{mode}"]
        strip_path: false
        plugins:
          - name: hostile-pb
            config: {{"mode": "{mode}"}}"""


def hostile_conf(extra="", gatehouse=False):
    """gatehouse: the server's dump offers Gatehouse:1, which the gateway then speaks."""
    cmd = f"/usr/bin/python3 {HOSTILE}"
    return server_conf("hostile-pb", cmd, cmd + (" -gatehouse" if gatehouse else ""), extra)


def hostile_gateway(fault_gateway, mode, extra="", gatehouse=False):
    return fault_gateway(hostile_route(mode) + hostile_route("ok"), hostile_conf(extra, gatehouse))


def test_instance_purged_by_the_server_is_restarted_and_the_event_retried(fault_gateway):
    gw = hostile_gateway(fault_gateway, "purge")
    pid = server_pid(gw, "hostile-pb")
    served_by = []
    for _ in range(3):
        a = send(gw, "/hostile/purge")
        assert a.status == 200, a.body
        assert a.json()["server"] == "up1"
        served_by.append(a.header("x-hostile"))
    # every event after the first found its instance purged: a new one was started, the event retried
    logs = gw.logs()
    assert logs.count("no plugin instance") == 2, logs[-3000:]
    assert logs.count("mode purge") >= 3 + 3  # 3 starts + 3 events
    assert all(s and s.endswith(f"pid {pid}") for s in served_by), served_by
    assert server_pid(gw, "hostile-pb") == pid  # an instance lost is not a server restart


def wait_for_events(gw, plugin, phase, count, timeout=10.0):
    """Waits until /metrics counts `count` finished events of `plugin` in `phase` (an event is
    counted when its answer is in: the marker that a request's later phases are over, since the
    client has its response before the log phase runs)."""
    wanted = {f'plugin="{plugin}"', f'phase="{phase}"'}
    deadline = time.time() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
        values = [float(value) for labels, value in
                  re.findall(r'^gatehouse_plugin_events_total\{([^}]*)\} (\S+)$', body, re.M)
                  if wanted <= set(labels.split(","))]
        if values and values[0] >= count:
            return
        assert time.time() < deadline, f"{wanted} events never reached {count}:\n" + body[-3000:]
        time.sleep(0.05)


def test_restarted_server_gets_a_fresh_instance_directly(fault_gateway):
    # The server dies between requests: the gateway forgets its instances when the new process starts,
    # so the next event starts one instance and runs once (no event sent to a dead instance id first).
    gw = fault_gateway(probe_route("request", path="/pdk/request"), probe_conf())
    pid = server_pid(gw, "cpp-pdk-probe")
    assert send(gw, "/pdk/request/first").status == 200
    # Between requests for real: the first request's log-phase event (after its response) is over.
    wait_for_events(gw, "cpp-pdk-probe", "log", 1)
    os.kill(pid, signal.SIGKILL)
    server_pid(gw, "cpp-pdk-probe", other_than=pid)
    seen_before = len(gw.logs())
    a = send(gw, "/pdk/request/again", headers={"X-Probe": "after"})
    assert a.status == 200, a.body
    assert values_of(a.report("access"))["kong.request.get_header"] == "after"
    after = gw.logs()[seen_before:]
    assert after.count("started instance") == 1, after
    assert "lost" not in after and "failed in phase" not in after, after


MALFORMED = ["oversized", "truncated", "garbage", "garbage-method", "garbage-return", "wrong-sequence",
             "garbage-on-start"]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("mode", MALFORMED)
def test_malformed_frames_give_a_clean_error_and_a_restart(fault_gateway, mode, policy):
    gw = hostile_gateway(fault_gateway, mode, "pluginserver_hostile_pb_timeout = 10000\n"
                                              f"pluginserver_hostile_pb_on_error = {policy}\n")
    pid = server_pid(gw, "hostile-pb")
    started = time.time()
    a = send(gw, f"/hostile/{mode}")
    assert time.time() - started < 5, "the gateway waited for the rest of a malformed frame"
    assert_failed_per_policy(a, policy)
    if policy == "fail_closed":
        assert a.json() == INTERNAL_ERROR
    assert gw.proc.poll() is None
    # the server that sent junk is restarted; the plugin served again by the new one
    new_pid = server_pid(gw, "hostile-pb", other_than=pid)
    ok = send(gw, "/hostile/ok")
    assert ok.status == 200, ok.body
    assert ok.header("x-hostile").endswith(f"pid {new_pid}")
    # the log says what happened: a protocol error, not a timeout
    assert f"pluginserver 'hostile-pb' (pid {pid}) broke the protocol (" in gw.logs(), gw.logs()[-3000:]
    assert "did not answer in time" not in gw.logs()


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("protocol", ["ProtoBuf:1", "Gatehouse:1"])
def test_hung_server_gives_504_and_a_restart(fault_gateway, policy, protocol):
    gw = hostile_gateway(fault_gateway, "hang", "pluginserver_hostile_pb_timeout = 1000\n"
                                                f"pluginserver_hostile_pb_on_error = {policy}\n",
                         gatehouse=protocol == "Gatehouse:1")
    assert f"loading protocol {protocol} for plugin hostile-pb" in gw.logs()
    pid = server_pid(gw, "hostile-pb")
    started = time.monotonic()
    a = send(gw, "/hostile/hang")
    waited = time.monotonic() - started
    assert 1.0 <= waited < 2.0, f"a 1 s timeout answered after {waited:.2f} s"
    assert_failed_per_policy(a, policy, status=504)
    new_pid = server_pid(gw, "hostile-pb", other_than=pid)
    ok = send(gw, "/hostile/ok")
    assert ok.status == 200 and ok.header("x-hostile").endswith(f"pid {new_pid}")
    assert f"pluginserver 'hostile-pb' (pid {pid}) did not answer in time (" in gw.logs(), gw.logs()[-3000:]
    assert "broke the protocol" not in gw.logs()
