"""Plugin precedence as Kong resolves it, and the per-event deadline (issue 15, items 7 and 9).

The real npm kong-pdk JS server, the real gatehouse, a real upstream.
"""
import http.client
import time

import pytest

from conftest import ROOT

JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
PLUGINS = ROOT / "tests" / "integration" / "plugins" / "js-floor"


def js_conf(prefix, extra=""):
    return (
        "plugins = bundled, js-auth, js-tag, js-busy, js-slow-log\n"
        "pluginserver_names = js\n"
        f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
        f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --kong-prefix {prefix}\n"
        f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {PLUGINS} --dump-all-plugins\n" + extra
    )


def start(make_gateway, kong_yml, extra=""):
    gw = make_gateway(kong_yml)
    gw.conf.write_text(gw.conf.read_text() + js_conf(gw.prefix, extra))
    gw.prefix.mkdir(parents=True, exist_ok=True)
    return gw.start()


def get(gw, path, headers=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def precedence_yml(upstream_port):
    return f"""
_format_version: "3.0"
consumers:
  - username: alice
  - username: bob
  - username: carol
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: r
        paths: ["/r"]
plugins:
  - name: js-auth
  - name: js-tag
    consumer: alice
    config: {{tag: "alice-config"}}
  - name: js-tag
    consumer: bob
    config: {{tag: "bob-config"}}
"""


def test_consumer_scoped_plugin_runs_after_authentication(make_gateway, upstream):
    gw = start(make_gateway, precedence_yml(upstream.server_port))
    resp, _ = get(gw, "/r", {"x-user": "alice"})
    assert resp.status == 200
    assert resp.getheader("x-tag") == "alice-config"
    resp, _ = get(gw, "/r", {"x-user": "bob"})
    assert resp.status == 200
    assert resp.getheader("x-tag") == "bob-config"
    # A consumer with no configuration of its own, and no consumer at all: neither alice's nor bob's.
    resp, _ = get(gw, "/r", {"x-user": "carol"})
    assert resp.status == 200 and resp.getheader("x-tag") is None
    resp, _ = get(gw, "/r")
    assert resp.status == 200 and resp.getheader("x-tag") is None


def busy_yml(upstream_port):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: busy
        paths: ["/busy"]
        plugins:
          - name: js-busy
      - name: quiet
        paths: ["/quiet"]
"""


@pytest.mark.parametrize("policy,status", [("fail_closed", 504), ("fail_open", 200)])
def test_plugin_that_keeps_calling_is_cut_at_the_event_deadline(make_gateway, upstream, policy, status):
    gw = start(make_gateway, busy_yml(upstream.server_port),
               f"pluginserver_js_timeout = 1000\npluginserver_js_on_error = {policy}\n")
    get(gw, "/quiet")  # the server is up
    began = time.monotonic()
    resp, body = get(gw, "/busy", timeout=10)
    took = time.monotonic() - began
    assert resp.status == status, body
    assert 0.9 <= took < 4.0, took
    if status == 504:
        assert b"The plugin server is timing out" in body
    assert "plugin 'js-busy' failed in phase access (timeout): the event ran past its deadline (1000 ms" in gw.logs()
    # The server answered every call in time: it is not restarted, and keeps serving.
    assert "did not answer in time" not in gw.logs()
    resp, _ = get(gw, "/quiet")
    assert resp.status == 200
