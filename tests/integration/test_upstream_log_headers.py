"""The log phase sees the response headers the client got, also when the response was streamed
(a route without `response`-phase plugins): kong.response.get_headers and kong.log.serialize."""
import http.client
import json
import time

from conftest import ROOT

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-upstream-log"


def kong_yml(upstream_port, log_file):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: streamed
        paths: ["/streamed"]
        plugins:
          - name: js-log-headers
            config: {{log_file: "{log_file}"}}
"""


def start_gateway(make_gateway, upstream, log_file):
    gw = make_gateway(kong_yml(upstream.server_port, log_file))
    gw.conf.write_text(
        gw.conf.read_text()
        + "plugins = bundled, js-log-headers\n"
        + "pluginserver_names = js\n"
        + f"pluginserver_js_socket = {gw.prefix}/js_pluginserver.sock\n"
        + f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --kong-prefix {gw.prefix}\n"
        + f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --dump-all-plugins\n")
    gw.prefix.mkdir(parents=True, exist_ok=True)
    return gw.start()


def logged(log_file, uri, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log_file.exists():
            for line in log_file.read_text().splitlines():
                entry = json.loads(line)
                if entry["uri"] == uri:
                    return entry
        time.sleep(0.05)
    raise AssertionError(f"no log-phase entry for {uri}")


def lowered(headers):
    """name -> value (get_headers gives lists through the JS PDK, serialize a string per name)."""
    return {name.lower(): value[0] if isinstance(value, list) and len(value) == 1 else value
            for name, value in headers.items()}


def test_log_phase_sees_the_streamed_response_headers(make_gateway, upstream, tmp_path):
    log_file = tmp_path / "log-headers.jsonl"
    gw = start_gateway(make_gateway, upstream, log_file)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=15)
    conn.request("GET", "/streamed/x")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, body
    assert resp.getheader("X-Upstream-Name") == "up1"

    entry = logged(log_file, "/streamed/x")
    # Before: both were {} on this path (only the buffered path copied the upstream's headers).
    for seen in (lowered(entry["headers"]), lowered(entry["serialized"])):
        assert seen["x-upstream-name"] == "up1", entry
        assert seen["content-type"] == "application/json", entry
        assert seen["content-length"] == str(len(body)), entry
        assert seen["x-set-in-access"] == "yes", entry  # set by the plugin before the upstream answered
