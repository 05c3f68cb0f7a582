"""Kong's bundled traffic-control plugins, native (issue #21): cors, ip-restriction,
request-termination, request-size-limiting, correlation-id, request-transformer and
response-transformer through the real binary and a real upstream; Kong's statuses, bodies and
headers; bad configurations refused with the reason; hostile input; pre-/post-function refused.
"""
import json
import re

import pytest

from conftest import Gateway, module_gateway, raw_request
from test_proxy import get

BIG_LIST = [f"10.{i // 256}.{i % 256}.1" for i in range(10000)]


def kong_yml(port):
    def route(name, plugin, config, paths=None):
        conf = json.dumps(config)
        return (f"      - name: {name}\n        paths: {json.dumps(paths or ['/' + name])}\n"
                f"        plugins:\n          - name: {plugin}\n            config: {conf}\n")
    routes = "".join([
        route("cors-all", "cors", {}),
        route("cors-list", "cors", {"origins": ["http://a.test", "(.*)\\.example\\.org"], "credentials": True,
                                    "exposed_headers": ["X-Exposed"], "max_age": 600, "headers": ["X-One", "X-Two"],
                                    "methods": ["GET", "POST"], "private_network": True}),
        route("cors-continue", "cors", {"preflight_continue": True}),
        route("ip-allow", "ip-restriction", {"allow": ["127.0.0.1"]}),
        route("ip-allow-other", "ip-restriction", {"allow": ["10.0.0.0/8", "::1"]}),
        route("ip-deny", "ip-restriction", {"deny": ["127.0.0.0/8"], "status": 401, "message": "go away"}),
        route("ip-deny-default", "ip-restriction", {"deny": ["127.0.0.1", "2001:db8::/32"]}),
        route("ip-big-allow", "ip-restriction", {"allow": BIG_LIST + ["127.0.0.1/32"]}),
        route("ip-big-deny", "ip-restriction", {"deny": BIG_LIST}),
        route("term", "request-termination", {}),
        route("term-body", "request-termination", {"status_code": 200, "body": "<h1>closed</h1>",
                                                   "content_type": "text/html"}),
        route("term-msg", "request-termination", {"status_code": 404, "message": "gone"}),
        route("term-trigger", "request-termination", {"status_code": 418, "message": "stopped", "trigger": "x-stop"}),
        route("term-echo", "request-termination", {"status_code": 200, "echo": True}),
        route("size", "request-size-limiting", {"allowed_payload_size": 1, "size_unit": "kilobytes"}),
        route("size-cl", "request-size-limiting", {"require_content_length": True}),
        route("cid", "correlation-id", {"echo_downstream": True}),
        route("cid-uuid", "correlation-id", {"generator": "uuid", "header_name": "X-Req"}),
        route("rt", "request-transformer", {
            "remove": {"headers": ["x-remove"], "querystring": ["drop"]},
            "rename": {"headers": ["x-old:x-new"], "querystring": ["old:new"]},
            "replace": {"headers": ["x-replace:replaced"]},
            "add": {"headers": ["x-add:$(query_params.who or 'nobody')", "x-from-header:$(headers.x_src)"],
                    "querystring": ["added:1"], "body": ["added:yes"]},
            "append": {"headers": ["x-append:second"]}}, paths=["/rt-main"]),
        route("rt-uri", "request-transformer", {"replace": {"uri": "/users/$(uri_captures.id)/profile"}},
              paths=[r"~/rt-uri/(?<id>\d+)$"]),
        route("rt-method", "request-transformer", {"http_method": "GET"}),
        route("resp-t", "response-transformer", {
            "remove": {"headers": ["x-upstream-name"], "json": ["client_port"]},
            "rename": {"json": ["server:backend"]},
            "add": {"headers": ["x-added:yes"], "json": ["flag:true", "n:3"], "json_types": ["boolean", "number"]},
            "append": {"headers": ["x-appended:1"]}}),
    ])
    return (f'_format_version: "3.0"\nservices:\n  - name: echo\n    url: http://127.0.0.1:{port}\n'
            f"    routes:\n      - name: plain\n        paths: [\"/plain\"]\n{routes}")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    yield from module_gateway(tmp_path_factory, "traffic", kong_yml)


def request(gw, method, path, headers=None, body=None):
    resp, data = get(gw, path, method=method, headers=headers, body=body)
    return resp, data


def echoed(data):
    return json.loads(data)


# --- cors ---------------------------------------------------------------------------------------

def test_cors_without_origins_allows_all(gw):
    resp, _ = request(gw, "GET", "/cors-all", {"Origin": "http://x.test"})
    assert resp.status == 200
    assert resp.getheader("Access-Control-Allow-Origin") == "*"
    assert resp.getheader("Vary") is None


def test_cors_list_matches_literal_and_regex_origins(gw):
    resp, _ = request(gw, "GET", "/cors-list", {"Origin": "http://a.test"})
    assert resp.getheader("Access-Control-Allow-Origin") == "http://a.test"
    assert resp.getheader("Access-Control-Allow-Credentials") == "true"
    assert resp.getheader("Access-Control-Expose-Headers") == "X-Exposed"
    assert "Origin" in resp.getheader("Vary")
    resp, _ = request(gw, "GET", "/cors-list", {"Origin": "https://api.example.org"})
    assert resp.getheader("Access-Control-Allow-Origin") == "https://api.example.org"
    resp, _ = request(gw, "GET", "/cors-list", {"Origin": "https://api.example.org.evil.test"})
    assert resp.status == 200
    assert resp.getheader("Access-Control-Allow-Origin") is None


def test_cors_preflight_is_answered_by_the_gateway(gw):
    resp, body = request(gw, "OPTIONS", "/cors-list", {"Origin": "http://a.test", "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Private-Network": "true"})
    assert resp.status == 200
    assert body == b""
    assert resp.getheader("X-Upstream-Name") is None  # never reached the upstream
    assert resp.getheader("Access-Control-Allow-Origin") == "http://a.test"
    assert resp.getheader("Access-Control-Allow-Methods") == "GET,POST"
    assert resp.getheader("Access-Control-Allow-Headers") == "X-One,X-Two"
    assert resp.getheader("Access-Control-Max-Age") == "600"
    assert resp.getheader("Access-Control-Allow-Credentials") == "true"
    assert resp.getheader("Access-Control-Allow-Private-Network") == "true"


def test_cors_preflight_continue_reaches_the_upstream(gw):
    resp, body = request(gw, "OPTIONS", "/cors-continue", {"Origin": "http://a.test",
                                                            "Access-Control-Request-Method": "PUT"})
    assert resp.status == 200
    assert echoed(body)["method"] == "OPTIONS"
    assert resp.getheader("Access-Control-Allow-Origin") is None


def test_cors_origin_with_cr_lf_is_refused_before_any_plugin(gw):
    reply = raw_request(gw.port, b"GET /cors-list HTTP/1.1\r\nHost: x\r\nOrigin: http://a.test\rSet-Cookie: x=1\r\n"
                                 b"Connection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"Set-Cookie" not in reply


def test_cors_huge_origin_is_not_reflected(gw):
    resp, _ = request(gw, "GET", "/cors-list", {"Origin": "http://" + "a" * 6000 + ".example.org.evil"})
    assert resp.status == 200
    assert resp.getheader("Access-Control-Allow-Origin") is None


# --- ip-restriction -----------------------------------------------------------------------------

def test_ip_restriction_allow_and_deny(gw):
    assert request(gw, "GET", "/ip-allow")[0].status == 200
    resp, body = request(gw, "GET", "/ip-allow-other")
    assert resp.status == 403
    assert echoed(body) == {"message": "IP address not allowed: 127.0.0.1"}
    assert resp.getheader("Content-Type").startswith("application/json")
    resp, body = request(gw, "GET", "/ip-deny")
    assert (resp.status, echoed(body)) == (401, {"message": "go away"})
    resp, body = request(gw, "GET", "/ip-deny-default")
    assert (resp.status, echoed(body)) == (403, {"message": "IP address not allowed: 127.0.0.1"})


def test_ip_restriction_ten_thousand_entries(gw):
    assert request(gw, "GET", "/ip-big-allow")[0].status == 200
    assert request(gw, "GET", "/ip-big-deny")[0].status == 200


# --- request-termination ------------------------------------------------------------------------

def test_request_termination_default_and_configured_answers(gw):
    resp, body = request(gw, "GET", "/term")
    assert (resp.status, echoed(body)) == (503, {"message": "Service unavailable"})
    resp, body = request(gw, "GET", "/term-body")
    assert (resp.status, body) == (200, b"<h1>closed</h1>")
    assert resp.getheader("Content-Type") == "text/html"
    resp, body = request(gw, "GET", "/term-msg")
    assert (resp.status, echoed(body)) == (404, {"message": "gone"})


def test_request_termination_trigger(gw):
    assert request(gw, "GET", "/term-trigger")[0].status == 200  # no trigger: proxied
    resp, body = request(gw, "GET", "/term-trigger", {"X-Stop": "1"})
    assert (resp.status, echoed(body)) == (418, {"message": "stopped"})
    assert request(gw, "GET", "/term-trigger?x-stop")[0].status == 418


def test_request_termination_echo(gw):
    resp, body = request(gw, "POST", "/term-echo?a=1", {"X-Hello": "world", "Content-Type": "application/json"},
                         body='{"k":"v"}')
    assert resp.status == 200
    doc = echoed(body)
    assert doc["request"]["method"] == "POST"
    assert doc["request"]["headers"]["x-hello"] == "world"
    assert doc["request"]["query"] == {"a": "1"}
    assert doc["request"]["raw_body"] == '{"k":"v"}'
    assert doc["request"]["path"] == "/term-echo"
    assert doc["matched_route"]["name"] == "term-echo"
    assert doc["matched_service"]["name"] == "echo"


# --- request-size-limiting ----------------------------------------------------------------------

def test_request_size_limiting(gw):
    assert request(gw, "POST", "/size", body=b"x" * 1024)[0].status == 200
    resp, body = request(gw, "POST", "/size", body=b"x" * 1025)
    assert (resp.status, echoed(body)) == (413, {"message": "Request size limit exceeded"})
    resp, body = request(gw, "POST", "/size", {"Expect": "100-continue"}, body=b"x" * 1025)
    assert (resp.status, echoed(body)) == (417, {"message": "Request size limit exceeded"})


def test_request_size_limiting_counts_a_chunked_body(gw):
    reply = raw_request(gw.port, b"POST /size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                                 b"\r\n400\r\n" + b"y" * 1024 + b"\r\n1\r\nz\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_request_size_limiting_refuses_a_huge_declared_body_without_reading_it(gw):
    reply = raw_request(gw.port, b"POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n"
                                 b"Connection: close\r\n\r\nonly-a-little")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_request_size_limiting_require_content_length(gw):
    reply = raw_request(gw.port, b"POST /size-cl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                 b"Connection: close\r\n\r\n1\r\na\r\n0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 411"), reply[:200]
    assert b'{"message":"A valid Content-Length header is required"}' in reply
    assert request(gw, "POST", "/size-cl", body=b"abc")[0].status == 200


# --- correlation-id -----------------------------------------------------------------------------

def test_correlation_id_uuid_counter_echoed_downstream(gw):
    ids = []
    for _ in range(2):
        resp, body = request(gw, "GET", "/cid")
        sent = echoed(body)["headers"]["kong-request-id"]
        assert resp.getheader("Kong-Request-ID") == sent
        ids.append(sent)
    assert all(re.fullmatch(r"[0-9a-f-]{36}#\d+", i) for i in ids), ids
    assert ids[0] != ids[1]


def test_correlation_id_keeps_the_clients_id(gw):
    resp, body = request(gw, "GET", "/cid", {"Kong-Request-ID": "mine"})
    assert echoed(body)["headers"]["kong-request-id"] == "mine"
    assert resp.getheader("Kong-Request-ID") == "mine"


def test_correlation_id_uuid_generator_not_echoed(gw):
    resp, body = request(gw, "GET", "/cid-uuid")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        echoed(body)["headers"]["x-req"])
    assert resp.getheader("X-Req") is None


# --- request-transformer ------------------------------------------------------------------------

def test_request_transformer_headers_and_query(gw):
    resp, body = request(gw, "GET", "/rt-main?drop=1&old=o&who=alice",
                         {"X-Remove": "1", "X-Old": "o", "X-Replace": "r", "X-Append": "first", "X-Src": "s"})
    assert resp.status == 200
    doc = echoed(body)
    h = doc["headers"]
    assert "x-remove" not in h and "x-old" not in h
    assert h["x-new"] == "o"
    assert h["x-replace"] == "replaced"
    assert h["x-add"] == "alice"
    assert h["x-from-header"] == "s"
    assert [v for k, v in doc["header_list"] if k.lower() == "x-append"] == ["first", "second"]
    assert doc["query"] == "added=1&new=o&who=alice"


def test_request_transformer_json_and_form_bodies(gw):
    resp, body = request(gw, "POST", "/rt-main", {"Content-Type": "application/json"}, body='{"a":1}')
    doc = echoed(body)
    assert json.loads(doc["body"]) == {"a": 1, "added": "yes"}
    assert doc["body_length"] == len(doc["body"])
    resp, body = request(gw, "POST", "/rt-main", {"Content-Type": "application/x-www-form-urlencoded"}, body="a=1")
    assert echoed(body)["body"] == "a=1&added=yes"
    resp, body = request(gw, "POST", "/rt-main", {"Content-Type": "application/json"}, body="{broken")
    assert echoed(body)["body"] == "{broken"  # not JSON: passed on untouched


def test_request_transformer_uri_template_and_method(gw):
    resp, body = request(gw, "GET", "/rt-uri/42")
    assert resp.status == 200, body
    assert echoed(body)["path"] == "/users/42/profile"
    resp, body = request(gw, "POST", "/rt-method?q=1", {"Content-Type": "application/x-www-form-urlencoded"},
                         body="b=2")
    doc = echoed(body)
    assert doc["method"] == "GET"
    assert doc["query"] == "b=2&q=1"


# --- response-transformer -----------------------------------------------------------------------

def test_response_transformer_headers_and_json(gw):
    resp, body = request(gw, "GET", "/resp-t")
    assert resp.status == 200
    assert resp.getheader("X-Upstream-Name") is None
    assert resp.getheader("X-Added") == "yes"
    assert resp.getheader("X-Appended") == "1"
    doc = echoed(body)
    assert "client_port" not in doc
    assert doc["backend"] == "up1" and "server" not in doc
    assert doc["flag"] is True and doc["n"] == 3
    assert int(resp.getheader("Content-Length")) == len(body)


# --- configuration refused ----------------------------------------------------------------------

BAD_CONFIGS = [
    ("ip-restriction", {"allow": ["10.0.0.0/33"]}, "invalid ip or cidr range: '10.0.0.0/33'"),
    ("ip-restriction", {}, "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"),
    ("cors", {"origins": ["[unclosed"]}, "'[unclosed' is not a valid regex"),
    ("request-termination", {"message": "m", "body": "b"}, "message cannot be used with content_type or body"),
    ("request-termination", {"status_code": 99}, "config.status_code"),
    ("request-size-limiting", {"size_unit": "gigabytes"}, "config.size_unit"),
    ("correlation-id", {"generator": "random"}, "config.generator"),
    ("request-transformer", {"add": {"headers": ["x-a:$(os.execute('id'))"]}}, "gatehouse runs no Lua"),
    ("request-transformer", {"add": {"headers": ["x-a"]}}, "key 'x-a' has no value"),
    ("post-function", {"access": ["kong.log('hi')"]}, "post-function"),
    ("pre-function", {"access": ["kong.log('hi')"]}, "pre-function"),
]


@pytest.mark.parametrize("plugin,config,message", BAD_CONFIGS)
def test_bad_configuration_is_refused_with_the_reason(tmp_path, plugin, config, message):
    yml = (f'_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:9\n    routes:\n'
           f'      - name: r\n        paths: ["/r"]\n        plugins:\n          - name: {plugin}\n'
           f"            config: {json.dumps(config)}\n")
    check = Gateway(tmp_path, yml).cli("config", "check")
    assert check.returncode == 1, check.stdout
    assert message in check.stderr, check.stderr


def test_lua_plugins_are_refused_with_the_external_plugin_way(tmp_path):
    yml = ('_format_version: "3.0"\nplugins:\n  - name: post-function\n'
           '    config:\n      access: ["ngx.log(ngx.ERR, 1)"]\n')
    check = Gateway(tmp_path, yml).cli("config", "check")
    assert check.returncode == 1
    assert "runs Lua code" in check.stderr and "external plugin" in check.stderr, check.stderr
