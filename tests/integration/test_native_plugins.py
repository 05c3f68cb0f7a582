"""Native plugins (C++ in the gateway, issue 15): enabled as Kong's bundled plugins, configs checked
by their schema, run in one priority order with external plugins, and kong.client.authenticate
from either kind feeds Kong's per-plugin precedence of the other.

The gatehouse-native-test plugin (src/plugins/bundled/gatehouse-native-test/) is registered only
with GATEHOUSE_TEST_NATIVE_PLUGINS=1; the JS plugins are the real npm kong-pdk server's
(tests/integration/plugins/js-floor/). A real gatehouse, a real upstream.
"""
import http.client
import json
import time

from test_floor_plugins import js_conf

NATIVE_ENV = {"GATEHOUSE_TEST_NATIVE_PLUGINS": "1"}


def get(gw, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=15)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def gateway(make_gateway, kong_yml, extra="", with_js=False):
    gw = make_gateway(kong_yml, env=NATIVE_ENV)
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.conf.write_text(gw.conf.read_text() + (js_conf(gw.prefix) if with_js else "") + extra)
    return gw


def service_yml(upstream_port, plugins="", consumers=""):
    return f"""
_format_version: "3.0"
{consumers}
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: r
        paths: ["/r"]
plugins:
{plugins}
"""


def test_native_plugin_runs_with_schema_defaults(make_gateway, upstream):
    gw = gateway(make_gateway, service_yml(upstream.server_port, "  - name: gatehouse-native-test")).start()
    resp, body = get(gw, "/r")
    assert resp.status == 200, body
    assert resp.getheader("x-native") == "native"  # the schema's default
    assert json.loads(body)["headers"]["x-native-upstream"] == "native"
    # The log phase ran after the response, with the access phase's kong.ctx.plugin.
    deadline = time.monotonic() + 10
    while "[gatehouse-native-test] log phase, access ran: yes" not in gw.logs():
        assert time.monotonic() < deadline, gw.logs()
        time.sleep(0.05)


def test_native_exit_and_failure_policy(make_gateway, upstream):
    plugins = "  - name: gatehouse-native-test\n    config: {tag: stop, exit_status: 403}"
    gw = gateway(make_gateway, service_yml(upstream.server_port, plugins)).start()
    resp, body = get(gw, "/r")
    assert resp.status == 403
    assert json.loads(body) == {"message": "stop"}
    assert resp.getheader("content-type") == "application/json; charset=utf-8"
    # A handler that throws: Kong's 500 for a plugin error, and the reason in the error log.
    resp, body = get(gw, "/r?native_fail")
    assert resp.status == 500
    assert json.loads(body) == {"message": "An unexpected error occurred"}
    assert "plugin 'gatehouse-native-test' failed in phase access (error): asked to fail" in gw.logs()


def test_native_config_refused_by_its_schema(make_gateway, upstream):
    plugins = "  - name: gatehouse-native-test\n    config: {tag: 5, bogus: true}"
    gw = gateway(make_gateway, service_yml(upstream.server_port, plugins))
    result = gw.cli("config", "check")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "plugin 'gatehouse-native-test'" in out
    assert "config.tag: expected a string" in out
    assert "config.bogus: unknown field" in out


def test_native_plugin_needs_bundled_or_its_name(make_gateway, upstream):
    yml = service_yml(upstream.server_port, "  - name: gatehouse-native-test")
    gw = gateway(make_gateway, yml, "plugins = off\n")
    result = gw.cli("config", "check")
    assert result.returncode != 0
    assert "plugin 'gatehouse-native-test'" in result.stdout + result.stderr
    assert "not enabled" in result.stdout + result.stderr
    gw = gateway(make_gateway, yml, "plugins = gatehouse-native-test\n")
    assert gw.cli("config", "check").returncode == 0


def test_plugins_command_lists_native_beside_external(make_gateway, upstream):
    gw = gateway(make_gateway, service_yml(upstream.server_port), with_js=True)
    result = gw.cli("plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    native = next(line for line in lines if "gatehouse-native-test" in line).split()
    assert native == ["gatehouse-native-test", "1.0.0", "900", "yes", "access,log"]
    assert any("js-auth" in line for line in lines)
    document = json.loads(gw.cli("plugins", "--json").stdout)
    assert {"name": "gatehouse-native-test", "version": "1.0.0", "priority": 900,
            "phases": ["access", "log"], "enabled": True} in document["native"]


CONSUMERS = """consumers:
  - username: alice
  - username: bob"""


def test_native_authentication_selects_external_consumer_plugin(make_gateway, upstream):
    # gatehouse-native-test (priority 900) authenticates; js-tag (800) is configured for alice only.
    plugins = """  - name: gatehouse-native-test
    config: {authenticate_header: x-native-user}
  - name: js-tag
    consumer: alice
    config: {tag: alice-config}"""
    gw = gateway(make_gateway, service_yml(upstream.server_port, plugins, CONSUMERS), with_js=True).start()
    resp, body = get(gw, "/r", {"x-native-user": "alice"})
    assert resp.status == 200, body
    assert resp.getheader("x-native-consumer") == "alice"
    assert resp.getheader("x-tag") == "alice-config"
    resp, _ = get(gw, "/r", {"x-native-user": "bob"})
    assert resp.status == 200 and resp.getheader("x-tag") is None
    resp, _ = get(gw, "/r")
    assert resp.status == 200 and resp.getheader("x-tag") is None


def test_external_authentication_selects_native_consumer_plugin(make_gateway, upstream):
    # js-auth (priority 1000) authenticates; gatehouse-native-test (900) is configured for alice only.
    plugins = """  - name: js-auth
  - name: gatehouse-native-test
    consumer: alice
    config: {tag: alice-native}"""
    gw = gateway(make_gateway, service_yml(upstream.server_port, plugins, CONSUMERS), with_js=True).start()
    resp, body = get(gw, "/r", {"x-user": "alice"})
    assert resp.status == 200, body
    assert resp.getheader("x-native") == "alice-native"
    assert resp.getheader("x-native-consumer") == "alice"
    resp, _ = get(gw, "/r", {"x-user": "bob"})
    assert resp.status == 200 and resp.getheader("x-native") is None


def test_upstream_headers_built_only_when_edited_are_the_same(make_gateway, upstream):
    # The upstream header list is built on a plugin's first kong.service.request.* header edit:
    # a route whose plugin edits none, one whose plugin sets one and a route without plugins send
    # the same forwarding headers; hop-by-hop ones (and those Connection names) never go upstream.
    kong_yml = f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream.server_port}
    routes:
      - name: plain
        paths: ["/plain"]
      - name: quiet
        paths: ["/quiet"]
        plugins:
          - name: request-size-limiting
      - name: edit
        paths: ["/edit"]
        plugins:
          - name: gatehouse-native-test
"""
    gw = gateway(make_gateway, kong_yml).start()
    client_headers = {"X-Client": "kept", "Connection": "keep-alive, x-hop", "X-Hop": "dropped",
                      "X-Forwarded-For": "192.0.2.7"}

    def received(path):
        resp, body = get(gw, path, client_headers)
        assert resp.status == 200, body
        headers = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
        for varying in ("x-kong-request-id", "x-forwarded-path", "x-forwarded-prefix"):
            headers.pop(varying, None)
        return headers

    plain = received("/plain")
    assert plain["x-client"] == "kept" and "x-hop" not in plain
    assert plain["x-forwarded-for"] == "192.0.2.7, 127.0.0.1"  # nginx's $proxy_add_x_forwarded_for
    assert received("/quiet") == plain
    edited = received("/edit")
    assert edited.pop("x-native-upstream") == "native"
    assert edited == plain
