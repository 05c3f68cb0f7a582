"""Kong's prometheus plugin, native (issue #16): GET /metrics on the admin and status listeners with
Kong's families, labels and buckets, counted only for the routes the plugin is enabled on; the
config switches turn families off; label values escaped; `promtool check metrics` parses the
exposition; a real Prometheus server scrapes gatehouse and answers a query about it.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse

import pytest

from conftest import ROOT, free_port
from test_proxy import get

KONG_BUCKETS = ["1", "2", "5", "7", "10", "15", "20", "30", "50", "75", "100", "200", "500", "750", "1000",
                "3000", "6000", "+Inf"]
UPSTREAM_BUCKETS = ["25", "50", "80", "100", "250", "400", "700", "1000", "2000", "5000", "10000", "30000",
                    "60000", "+Inf"]
ALL_ON = {"status_code_metrics": True, "latency_metrics": True, "bandwidth_metrics": True,
          "upstream_health_metrics": True}
HOSTILE = 'evil"\\route\nx'


def kong_yml(port, route_prometheus=True, global_plugin=None):
    """svc with routes: on-route, term-route, the hostile one and auth-route have prometheus (unless
    route_prometheus is false), off-route has none."""
    def prom(**extra):
        return [{"name": "prometheus", "config": dict(ALL_ON, **extra)}] if route_prometheus else []
    doc = {
        "_format_version": "3.0",
        "services": [{
            "name": "svc", "url": f"http://127.0.0.1:{port}",
            "routes": [
                {"name": "on-route", "paths": ["/on"], "plugins": prom()},
                {"name": "off-route", "paths": ["/off"]},
                {"name": "term-route", "paths": ["/term"],
                 "plugins": prom() + [{"name": "request-termination", "config": {"status_code": 503}}]},
                {"name": HOSTILE, "paths": ["/hostile"], "plugins": prom()},
                {"name": "auth-route", "paths": ["/auth"],
                 "plugins": [{"name": "key-auth"}] + prom(per_consumer=True)},
            ]}],
        "consumers": [{"username": 'eve"\\', "keyauth_credentials": [{"key": "eve-key"}]}],
        "upstreams": [{"name": "pool", "targets": [{"target": f"127.0.0.1:{port}"}]}],
    }
    if global_plugin is not None:
        doc["plugins"] = [global_plugin]
    return json.dumps(doc)


def scrape(port, path="/metrics"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp, body


def samples(body):
    """{'name{labels}': value} of every sample line, as printed."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def labels(**kv):
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def http_requests(route, code, source="service", consumer="", service="svc"):
    return "kong_http_requests_total" + labels(service=service, route=route, code=code, source=source,
                                               workspace="default", consumer=consumer)


def eventually(condition, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def wait_for_sample(port, series, value, timeout=10.0):
    """The log phase runs after the response: poll the exposition until the series has `value`."""
    deadline = time.time() + timeout
    while True:
        body = scrape(port)[1]
        if samples(body).get(series) == value or time.time() > deadline:
            return body
        time.sleep(0.02)


@pytest.fixture
def gw(make_gateway, upstream):
    status_port = free_port()
    gw = make_gateway(kong_yml(upstream.server_port),
                      conf_extra=f"status_listen = 127.0.0.1:{status_port}\n").start()
    gw.status_port = status_port
    return gw


def test_counts_requests_of_enabled_routes_with_kongs_families(gw):
    for path in ("/on/a", "/on/b", "/on/status/400", "/off/a", "/off/b", "/term"):
        get(gw, path)
    body = wait_for_sample(gw.admin_port, http_requests("term-route", "503", source="kong"), 1)
    s = samples(body)
    assert s[http_requests("on-route", "200")] == 2
    assert s[http_requests("on-route", "400")] == 1
    assert s[http_requests("term-route", "503", source="kong")] == 1
    assert "off-route" not in body  # no plugin there: not counted (as Kong)
    route = dict(service="svc", route="on-route", workspace="default")
    for family, buckets in (("kong_request_latency_ms", UPSTREAM_BUCKETS),
                            ("kong_upstream_latency_ms", UPSTREAM_BUCKETS),
                            ("kong_kong_latency_ms", KONG_BUCKETS)):
        found = re.findall(family + r'_bucket\{service="svc",route="on-route",workspace="default",le="([^"]+)"\}',
                           body)
        assert found == buckets, family
        assert s[family + "_bucket" + labels(**route, le="+Inf")] == 3
        assert s[family + "_count" + labels(**route)] == 3
        assert f"# TYPE {family} histogram" in body
    # A terminated request never reached the upstream: no upstream latency for it.
    assert "kong_upstream_latency_ms_count" + labels(service="svc", route="term-route", workspace="default") \
        not in s
    ingress = s["kong_bandwidth_bytes" + labels(service="svc", route="on-route", direction="ingress",
                                                 workspace="default", consumer="")]
    egress = s["kong_bandwidth_bytes" + labels(service="svc", route="on-route", direction="egress",
                                                workspace="default", consumer="")]
    assert ingress > 3 * len("GET /on/a HTTP/1.1\r\n") and egress > ingress
    assert s["kong_nginx_metric_errors_total"] == 0
    assert s["kong_datastore_reachable"] == 1
    node = re.search(r'kong_node_info\{node_id="([0-9a-f-]{36})",version="[^"]+"\} 1', body)
    assert node
    conn = dict(node_id=node.group(1), subsystem="http")
    assert s["kong_nginx_requests_total" + labels(**conn)] >= 6
    assert s["kong_nginx_connections_total" + labels(**conn, state="accepted")] >= 6
    assert s["kong_nginx_connections_total" + labels(**conn, state="active")] >= 0
    assert "# TYPE kong_http_requests_total counter" in body
    assert "# HELP kong_http_requests_total HTTP status codes per consumer/service/route in Kong" in body


def test_metrics_on_the_status_listener_too(gw):
    get(gw, "/on/a")
    wait_for_sample(gw.admin_port, http_requests("on-route", "200"), 1)
    resp, body = scrape(gw.status_port)
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/plain; charset=UTF-8"
    assert samples(body)[http_requests("on-route", "200")] == 1
    conn = http.client.HTTPConnection("127.0.0.1", gw.status_port, timeout=10)
    conn.request("POST", "/metrics", body="x")
    assert conn.getresponse().status == 405


def test_consumer_label_and_hostile_names_are_escaped(gw):
    assert get(gw, "/auth/x", headers={"apikey": "eve-key"})[0].status == 200
    assert get(gw, "/auth/x")[0].status == 401
    get(gw, "/hostile/x")
    escaped_route = 'evil\\"\\\\route\\nx'
    body = wait_for_sample(gw.admin_port, http_requests(escaped_route, "200"), 1)
    s = samples(body)
    assert s[http_requests("auth-route", "200", consumer='eve\\"\\\\')] == 1
    assert s[http_requests("auth-route", "401", source="kong")] == 1  # no consumer yet: ""
    assert s[http_requests(escaped_route, "200")] == 1
    for line in body.splitlines():  # every line is a comment or a sample: no raw newline got through
        assert line.startswith("#") or re.match(r'^[a-z_]+(\{.*\})? -?[0-9.e+Inf]+$', line), line


def test_exposition_passes_promtool(gw):
    for path in ("/on/a", "/term", "/hostile/x"):
        get(gw, path)
    get(gw, "/auth/x", headers={"apikey": "eve-key"})
    body = wait_for_sample(gw.admin_port, http_requests("auth-route", "200", consumer='eve\\"\\\\'), 1)
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    # Exit 3 is lint only, about Kong's own names ("_ms" is not a base unit, a gauge named
    # "..._total", a counter without it); a parse error is exit 1.
    assert check.returncode in (0, 3), check.stdout + check.stderr
    for problem in (check.stdout + check.stderr).splitlines():
        assert re.search(r"use base unit|should not contain abbreviated units|"
                         r"(non-)?counter metrics should (not )?have \"_total\" suffix", problem), problem


def test_upstream_target_health(gw):
    body = scrape(gw.admin_port)[1]
    found = re.findall(r'kong_upstream_target_health\{upstream="pool",target="([^"]+)",address="([^"]+)",'
                       r'state="([a-z_]+)",subsystem="http"\} ([01])', body)
    assert len(found) == 4, body
    target = found[0][0]
    assert all(f[0] == target and f[1] == target for f in found)
    assert {f[2]: f[3] for f in found} == {"healthchecks_off": "1", "healthy": "0", "unhealthy": "0",
                                           "dns_error": "0"}


@pytest.mark.parametrize("switch,family", [
    ("status_code_metrics", "kong_http_requests_total"),
    ("latency_metrics", "kong_kong_latency_ms"),
    ("bandwidth_metrics", "kong_bandwidth_bytes"),
    ("upstream_health_metrics", "kong_upstream_target_health"),
])
def test_each_switch_turns_its_family_on_alone(make_gateway, upstream, switch, family):
    gw = make_gateway(kong_yml(upstream.server_port, route_prometheus=False,
                               global_plugin={"name": "prometheus", "config": {switch: True}})).start()
    get(gw, "/on/a")
    deadline = time.time() + 10
    while family not in scrape(gw.admin_port)[1] and time.time() < deadline:
        time.sleep(0.02)
    body = scrape(gw.admin_port)[1]
    assert f"# TYPE {family} " in body
    others = {"kong_http_requests_total", "kong_kong_latency_ms", "kong_upstream_latency_ms",
              "kong_request_latency_ms", "kong_bandwidth_bytes", "kong_upstream_target_health"} - {family}
    if family == "kong_kong_latency_ms":
        others -= {"kong_upstream_latency_ms", "kong_request_latency_ms"}
    for other in others:
        assert other not in body, other


def test_counts_survive_a_reload(gw, upstream):
    """The registry is the gateway's, not a snapshot's: a reload (even one that changes the
    prometheus plugin's config) keeps what was counted, as Kong's shared dict does."""
    for path in ("/on/a", "/on/b"):
        get(gw, path)
    wait_for_sample(gw.admin_port, http_requests("on-route", "200"), 2)
    gw.kong_yml.write_text(kong_yml(upstream.server_port).replace('"per_consumer": true', '"per_consumer": false'))
    reload = gw.cli("reload")
    assert reload.returncode == 0, reload.stderr
    get(gw, "/on/c")
    body = wait_for_sample(gw.admin_port, http_requests("on-route", "200"), 3)
    assert samples(body)[http_requests("on-route", "200")] == 3, body


def test_without_a_prometheus_plugin_only_the_node_gauges(make_gateway, upstream):
    gw = make_gateway(kong_yml(upstream.server_port, route_prometheus=False)).start()
    get(gw, "/on/a")
    body = scrape(gw.admin_port)[1]
    assert "kong_nginx_connections_total{" in body and "kong_datastore_reachable 1" in body
    for absent in ("kong_http_requests_total", "kong_nginx_metric_errors_total", "kong_upstream_target_health"):
        assert absent not in body


# ---- gatehouse's own families: external plugins and plugin servers ----

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
JS_PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js"


def js_server_conf(prefix, plugins_dir, plugin, extra=""):
    """The real kong-js-pluginserver, supervised, serving the plugins of `plugins_dir`."""
    return (f"plugins = bundled, {plugin}\npluginserver_names = js\n"
            f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
            f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {plugins_dir} --kong-prefix {prefix}\n"
            f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {plugins_dir} --dump-all-plugins\n"
            "pluginserver_js_ready_timeout = 60000\n" + extra)


def js_route_yml(port, plugin, config):
    return json.dumps({"_format_version": "3.0", "services": [{
        "name": "svc", "url": f"http://127.0.0.1:{port}",
        "routes": [{"name": "js", "paths": ["/js"], "plugins": [{"name": plugin, "config": config}]}]}]})


def start_ready(gw):
    gw.start()
    assert eventually(lambda: scrape(gw.admin_port, "/status/ready")[0].status == 200, 60), gw.logs()
    return gw


def test_gatehouse_families_for_a_real_js_plugin_server(make_gateway, upstream, tmp_path):
    """js-hello (MsgPack:1 on the real kong-js-pluginserver) makes two PDK calls in access."""
    gw = start_ready(make_gateway(js_route_yml(upstream.server_port, "js-hello", {"message": "hi"}),
                                  conf_extra=js_server_conf(tmp_path, JS_PLUGINS, "js-hello")))
    for _ in range(3):
        resp, _ = get(gw, "/js/x")
        assert resp.status == 200 and resp.getheader("x-hello-from-javascript")
    access = labels(plugin="js-hello", phase="access")
    s = samples(scrape(gw.admin_port)[1])
    assert s["gatehouse_plugin_events_total" + access] == 3
    assert s["gatehouse_plugin_pdk_calls_total" + access] == 6
    assert s["gatehouse_plugin_round_trips_total" + access] == 9  # the event and each call
    assert s["gatehouse_plugin_event_duration_ms_count" + access] == 3
    assert s["gatehouse_plugin_event_duration_ms_bucket" + labels(plugin="js-hello", phase="access", le="+Inf")] == 3
    assert s['gatehouse_pdk_method_calls_total{method="kong.request.get_header"}'] >= 3
    # MsgPack:1 waits for every call; only Gatehouse:1 prefetches
    get_header = '{method="kong.request.get_header"}'
    assert (s["gatehouse_pdk_method_round_trips_total" + get_header]
            == s["gatehouse_pdk_method_calls_total" + get_header])
    assert not any(k.startswith("gatehouse_pdk_method_prefetched_total") for k in s)
    assert s['gatehouse_plugin_server_up{server="js"}'] == 1
    assert s['gatehouse_plugin_server_restarts_total{server="js"}'] == 0
    assert not any(k.startswith("gatehouse_plugin_failures_total") for k in s)

    pid = int(re.findall(r"\[pluginserver\] started js, pid (\d+)", gw.logs())[0])
    os.kill(pid, signal.SIGKILL)
    exposition = lambda: samples(scrape(gw.admin_port)[1])  # noqa: E731
    assert eventually(lambda: exposition().get('gatehouse_plugin_server_restarts_total{server="js"}') == 1
                      and exposition().get('gatehouse_plugin_server_up{server="js"}') == 1, 60), gw.logs()
    assert exposition()['gatehouse_plugin_server_last_exit_code{server="js"}'] == 128 + signal.SIGKILL


def test_failures_are_counted_by_kind(make_gateway, upstream, tmp_path):
    """js-instance cannot start with fail_start (an `error`); waiting past the server's timeout is
    a `timeout` (the server is then restarted)."""
    plugins = tmp_path / "js-plugins"
    plugins.mkdir()
    (plugins / "js-instance.js").write_text((ROOT / "tests/integration/plugins/js-pdk/js-instance.js").read_text())
    yml = json.dumps({"_format_version": "3.0", "services": [{
        "name": "svc", "url": f"http://127.0.0.1:{upstream.server_port}",
        "routes": [{"name": "broken", "paths": ["/broken"],
                    "plugins": [{"name": "js-instance", "config": {"tag": "b", "fail_start": True}}]},
                   {"name": "slow", "paths": ["/slow"],
                    "plugins": [{"name": "js-instance", "config": {"tag": "s"}}]}]}]})
    gw = start_ready(make_gateway(yml, conf_extra=js_server_conf(tmp_path, plugins, "js-instance",
                                                                 "pluginserver_js_timeout = 500\n")))
    assert get(gw, "/broken/x")[0].status == 500
    assert get(gw, "/slow/x", headers={"x-wait-ms": "3000"})[0].status == 504
    s = samples(scrape(gw.admin_port)[1])
    failures = "gatehouse_plugin_failures_total"
    assert s[failures + labels(plugin="js-instance", phase="access", kind="error")] == 1
    assert s[failures + labels(plugin="js-instance", phase="access", kind="timeout")] == 1
    assert s["gatehouse_plugin_events_total" + labels(plugin="js-instance", phase="access")] == 2


# ---- a real Prometheus server scrapes gatehouse ----

def api(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return json.loads(resp.read()) if resp.status == 200 else None
    except (OSError, ValueError):
        return None  # not listening yet
    finally:
        conn.close()


@pytest.fixture
def prometheus_server(tmp_path):
    """Debian's prometheus on a free loopback port, its own data dir; `start(target)` scrapes
    `target` ("127.0.0.1:port") every second."""
    procs = []

    def start(target):
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          "scrape_configs:\n  - job_name: gatehouse\n"
                          f"    static_configs:\n      - targets: ['{target}']\n")
        log = open(tmp_path / "prometheus.log", "wb")
        procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT))
        return port

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_real_prometheus_scrapes_the_status_listener(gw, prometheus_server, tmp_path):
    for _ in range(2):
        get(gw, "/on/a")
    port = prometheus_server(f"127.0.0.1:{gw.status_port}")

    def target_up():
        targets = api(port, "/api/v1/targets")
        active = targets["data"]["activeTargets"] if targets else []
        return any(t["health"] == "up" and t["scrapeUrl"].endswith(f":{gw.status_port}/metrics") for t in active)
    assert eventually(target_up, 60), (tmp_path / "prometheus.log").read_text()[-3000:]

    query = "/api/v1/query?query=" + urllib.parse.quote('kong_http_requests_total{route="on-route",code="200"}')

    def value():
        answer = api(port, query)
        result = answer["data"]["result"] if answer and answer.get("status") == "success" else []
        return result[0]["value"][1] if result else None
    assert eventually(lambda: value() == "2", 30), value()
    answer = api(port, query)["data"]["result"][0]["metric"]
    assert answer["service"] == "svc" and answer["source"] == "service" and answer["workspace"] == "default"
    assert answer["job"] == "gatehouse"
