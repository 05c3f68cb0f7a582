"""proxy-cache (memory strategy), native (issue #16): the real binary in front of a real upstream that
counts the requests it answers, so a hit is proven not to reach it. Kong's X-Cache-Status values
(Miss, Hit, Refresh, Bypass), its cache key (recomputed here from Kong's composition), cache_ttl /
storage_ttl expiry, vary_headers / vary_query_params, the cacheable status / method / content type
rules, cache_control semantics, the diagnostic header switches, Kong's /proxy-cache Admin API routes,
an entry larger than the cache, LRU eviction within the dictionary's size, concurrent clients.
"""
import hashlib
import http.client
import json
import threading
import time

import pytest

import cache_upstream
from conftest import Gateway, stop_all

ROUTE_ID = "6f7b5b0e-3f55-4b2a-9a55-0c1d2e3f4a5b"
PLUGIN_ID = "0a3c7f2e-7d0b-4d5e-8f6a-1b2c3d4e5f60"
ALICE_ID = "2b8e4f1a-0c1d-4e2f-a3b4-c5d6e7f80912"
BOB_ID = "3c9f5a2b-1d2e-4f30-b4c5-d6e7f8091a23"


def route(name, config, extra="", plugins_extra=""):
    return (f"      - name: {name}\n        paths: [\"/{name}\"]\n{extra}        plugins:\n"
            f"          - name: proxy-cache\n            config: {json.dumps(dict(strategy='memory', **config))}\n"
            f"{plugins_extra}")


def kong_yml(port):
    routes = "".join([
        route("basic", {}, extra=f"        id: {ROUTE_ID}\n").replace(
            "          - name: proxy-cache\n", f"          - name: proxy-cache\n            id: {PLUGIN_ID}\n", 1),
        route("ttl", {"cache_ttl": 1}),
        route("storage", {"cache_ttl": 1, "storage_ttl": 60}),
        route("vary", {"vary_headers": ["X-Tenant"], "vary_query_params": ["page"]}),
        route("custom", {"response_code": [200, 417], "request_method": ["GET", "POST"],
                         "content_type": ["text/html; charset=utf-8", "application/json", "*/*; v=1"]}),
        route("cc", {"cache_control": True}),
        route("ccstore", {"cache_control": True, "storage_ttl": 60}),
        route("quiet", {"response_headers": {"Age": False, "X-Cache-Status": False, "X-Cache-Key": False}}),
        route("nocase", {"ignore_uri_case": True}),
        route("tiny", {"memory": {"dictionary_name": "tiny"}}),
        route("small", {"memory": {"dictionary_name": "small"}}),
        route("auth", {}, plugins_extra="          - name: key-auth\n"),
    ])
    return (f'_format_version: "3.0"\nservices:\n  - name: up\n    url: http://127.0.0.1:{port}\n'
            f"    routes:\n{routes}"
            f"consumers:\n  - id: {ALICE_ID}\n    username: alice\n    keyauth_credentials:\n      - key: alice-key\n"
            f"  - id: {BOB_ID}\n    username: bob\n    keyauth_credentials:\n      - key: bob-key\n")


CONF = "nginx_http_lua_shared_dict = tiny 64k; small 160k\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    upstream = cache_upstream.start_in_thread()
    gateway = Gateway(tmp_path_factory.mktemp("proxy-cache"), kong_yml(upstream.server_port), conf_extra=CONF).start()
    yield gateway, upstream
    stop_all([gateway])
    upstream.shutdown()
    upstream.server_close()


@pytest.fixture
def gw(env):
    return env[0]


@pytest.fixture
def hits(env):
    """The upstream's request count, read as a function."""
    return lambda: env[1].hits


def call(gw, path, method="GET", headers=None, body=None, port=None):
    conn = http.client.HTTPConnection("127.0.0.1", port or gw.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def admin(gw, method, path):
    return call(gw, path, method=method, port=gw.admin_port)


def status(resp):
    return resp.getheader("X-Cache-Status")


def kong_key(prefix, method, uri, params="", headers=""):
    return hashlib.sha256(f"{prefix}|{method}|{uri}|{params}|{headers}".encode()).hexdigest()


def test_miss_then_hit_without_the_upstream(gw, hits):
    before = hits()
    r1, b1 = call(gw, "/basic/respond?X-Thing=one&X-RateLimit-Remaining-Minute=5")
    assert r1.status == 200 and status(r1) == "Miss"
    key = r1.getheader("X-Cache-Key")
    assert len(key) == 64
    assert hits() == before + 1
    r2, b2 = call(gw, "/basic/respond?X-Thing=one&X-RateLimit-Remaining-Minute=5")
    assert r2.status == 200 and status(r2) == "Hit"
    assert hits() == before + 1, "a hit must not reach the upstream"
    assert b2 == b1 and r2.getheader("Content-Length") == str(len(b1))
    assert r2.getheader("X-Cache-Key") == key
    assert r2.getheader("X-Thing") == "one" and r2.getheader("Content-Type") == "application/json"
    assert r1.getheader("X-RateLimit-Remaining-Minute") == "5"
    assert r2.getheader("X-RateLimit-Remaining-Minute") is None, "a stale remaining count is not replayed"
    assert int(r2.getheader("Age")) >= 0
    # Kong marks a hit as proxied: the proxied latency headers, not X-Kong-Response-Latency.
    assert r2.getheader("X-Kong-Proxy-Latency") is not None
    assert r2.getheader("X-Kong-Upstream-Latency") is not None
    assert r2.getheader("X-Kong-Response-Latency") is None


def test_cache_key_is_kongs(gw):
    resp, _ = call(gw, "/basic/respond?b=2&a=1&flag")
    assert resp.getheader("X-Cache-Key") == kong_key(ROUTE_ID, "GET", "GET /basic/respond", "a=1:b=2:flag")
    resp, _ = call(gw, "/basic/status/200")
    assert resp.getheader("X-Cache-Key") == kong_key(ROUTE_ID, "GET", "GET /basic/status/200 HTTP/1.1")
    # The order of the query arguments does not matter.
    first, _ = call(gw, "/basic/respond?p=1&q=2")
    again, _ = call(gw, "/basic/respond?q=2&p=1")
    assert status(first) == "Miss" and status(again) == "Hit"


def test_consumers_get_their_own_entries(gw, hits):
    ra, _ = call(gw, "/auth/respond", headers={"apikey": "alice-key"})
    rb, _ = call(gw, "/auth/respond", headers={"apikey": "bob-key"})
    assert status(ra) == "Miss" and status(rb) == "Miss"
    assert ra.getheader("X-Cache-Key") != rb.getheader("X-Cache-Key")
    again, _ = call(gw, "/auth/respond", headers={"apikey": "alice-key"})
    assert status(again) == "Hit"
    # key-auth answers first: the cache never sees an unauthenticated request.
    refused, _ = call(gw, "/auth/respond")
    assert refused.status == 401 and status(refused) is None


def test_cache_ttl_expiry(gw, hits):
    r, _ = call(gw, "/ttl/respond")
    assert status(r) == "Miss"
    r, _ = call(gw, "/ttl/respond")
    assert status(r) == "Hit"
    time.sleep(2.1)  # cache_ttl is 1 second: the entry is gone from the store
    before = hits()
    r, _ = call(gw, "/ttl/respond")
    assert status(r) == "Miss" and hits() == before + 1


def test_storage_ttl_keeps_a_stale_entry_to_refresh(gw):
    assert status(call(gw, "/storage/respond")[0]) == "Miss"
    assert status(call(gw, "/storage/respond")[0]) == "Hit"
    time.sleep(2.1)  # past cache_ttl, within storage_ttl
    assert status(call(gw, "/storage/respond")[0]) == "Refresh"
    assert status(call(gw, "/storage/respond")[0]) == "Hit"


def test_vary_headers_and_query_params(gw, hits):
    a, _ = call(gw, "/vary/respond?page=1&junk=1", headers={"X-Tenant": "a"})
    b, _ = call(gw, "/vary/respond?page=1&junk=2", headers={"X-Tenant": "b"})
    assert status(a) == "Miss" and status(b) == "Miss"
    before = hits()
    a2, _ = call(gw, "/vary/respond?page=1&junk=3", headers={"x-tenant": "a"})
    assert status(a2) == "Hit" and hits() == before, "only page and X-Tenant are in the key"
    p2, _ = call(gw, "/vary/respond?page=2", headers={"X-Tenant": "a"})
    assert status(p2) == "Miss"


def test_uncacheable_requests_and_responses_bypass(gw, hits):
    for method, path in [("POST", "/basic/respond"), ("GET", "/basic/respond?status=418"),
                         ("GET", "/basic/respond?Content-Type=text/html"),
                         ("GET", "/basic/respond?Content-Type=application/json;%20charset=utf-8")]:
        for _ in range(2):
            before = hits()
            resp, _ = call(gw, path, method=method)
            assert status(resp) == "Bypass", (method, path)
            assert hits() == before + 1


def test_configured_codes_methods_and_types(gw):
    assert status(call(gw, "/custom/respond?status=417")[0]) == "Miss"
    assert status(call(gw, "/custom/respond?status=417")[0]) == "Hit"
    assert status(call(gw, "/custom/respond", method="PUT", body="x")[0]) == "Bypass"
    assert status(call(gw, "/custom/respond?Content-Type=text/html")[0]) == "Bypass"
    html = "/custom/respond?Content-Type=text/html;%20charset=utf-8"
    assert status(call(gw, html, method="POST", body="x")[0]) == "Miss"
    assert status(call(gw, html, method="POST", body="x")[0]) == "Hit"
    wild = "/custom/respond?Content-Type=image/png;v=1"
    assert status(call(gw, wild)[0]) == "Miss"
    assert status(call(gw, wild)[0]) == "Hit"


def test_a_chunked_response_is_cached_whole(gw):
    r1, b1 = call(gw, "/basic/respond?chunked=1&bytes=5000")
    assert status(r1) == "Miss" and r1.getheader("Content-Length") is None
    r2, b2 = call(gw, "/basic/respond?chunked=1&bytes=5000")
    assert status(r2) == "Hit" and b2 == b1 and r2.getheader("Content-Length") == "5000"


def test_cache_control_response_directives(gw):
    for cc in ["private,%20max-age=60", "no-store", "no-cache", "max-age=0", "public"]:
        resp, _ = call(gw, f"/cc/respond?Cache-Control={cc}")
        assert status(resp) == "Bypass", cc
    assert status(call(gw, "/cc/respond")[0]) == "Bypass"  # no TTL at all
    for cc in ["max-age=60", "s-maxage=60"]:
        assert status(call(gw, f"/cc/respond?Cache-Control={cc}")[0]) == "Miss"
        assert status(call(gw, f"/cc/respond?Cache-Control={cc}")[0]) == "Hit"
    expires = time.strftime("%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", time.gmtime(time.time() + 600))
    assert status(call(gw, f"/cc/respond?Expires={expires}")[0]) == "Miss"
    assert status(call(gw, f"/cc/respond?Expires={expires}")[0]) == "Hit"


def test_cache_control_request_directives(gw, hits):
    path = "/cc/respond?Cache-Control=max-age=60&r=1"
    for cc in ["no-store", "no-cache"]:
        assert status(call(gw, path, headers={"Cache-Control": cc})[0]) == "Bypass"
    assert status(call(gw, path, headers={"Authorization": "Bearer x"})[0]) == "Bypass"
    resp, body = call(gw, "/cc/respond?never=cached", headers={"Cache-Control": "only-if-cached"})
    assert resp.status == 504 and body == b""
    assert status(call(gw, path)[0]) == "Miss"
    assert status(call(gw, path)[0]) == "Hit"
    assert status(call(gw, path, headers={"Cache-Control": "min-fresh=600"})[0]) == "Refresh"
    time.sleep(1.1)
    assert status(call(gw, path, headers={"Cache-Control": "max-age=0"})[0]) == "Refresh"
    assert status(call(gw, path, headers={"Cache-Control": "max-age=60"})[0]) == "Hit"


def test_max_stale_with_storage_ttl(gw):
    path = "/ccstore/respond?Cache-Control=max-age=1"
    assert status(call(gw, path)[0]) == "Miss"
    time.sleep(3.1)
    # Stale by 2 seconds: served without directives (Kong), refreshed when the client allows 1.
    assert status(call(gw, path)[0]) == "Hit"
    assert status(call(gw, path, headers={"Cache-Control": "max-stale=1"})[0]) == "Refresh"


def test_header_switches_and_kong_debug(gw):
    for _ in range(2):
        resp, _ = call(gw, "/quiet/respond")
        assert status(resp) is None and resp.getheader("X-Cache-Key") is None and resp.getheader("Age") is None
    resp, _ = call(gw, "/quiet/respond", headers={"Kong-Debug": "1"})
    assert status(resp) == "Hit" and resp.getheader("Age") is not None and len(resp.getheader("X-Cache-Key")) == 64


def test_ignore_uri_case(gw):
    r1, _ = call(gw, "/nocase/respond")
    r2, _ = call(gw, "/nocase/RESPOND")
    assert status(r1) == "Miss" and status(r2) == "Hit"
    assert r1.getheader("X-Cache-Key") == r2.getheader("X-Cache-Key")


def test_admin_routes_purge_and_show(gw, hits):
    resp, body = call(gw, "/basic/respond?admin=1")
    key = resp.getheader("X-Cache-Key")
    shown, data = admin(gw, "GET", f"/proxy-cache/{key}")
    assert shown.status == 200
    entry = json.loads(data)
    assert entry["status"] == 200 and entry["body"] == body.decode() and entry["body_len"] == len(body)
    assert entry["headers"]["X-Cache-Key"] == key and entry["version"] == 1 and entry["ttl"] == 300
    assert abs(entry["timestamp"] - time.time()) < 60
    shown, data = admin(gw, "GET", f"/proxy-cache/{PLUGIN_ID}/caches/{key}")
    assert shown.status == 200 and json.loads(data)["headers"]["X-Cache-Key"] == key

    assert admin(gw, "DELETE", f"/proxy-cache/{PLUGIN_ID}/caches/{key}")[0].status == 204
    assert admin(gw, "DELETE", f"/proxy-cache/{PLUGIN_ID}/caches/{key}")[0].status == 404
    assert admin(gw, "GET", f"/proxy-cache/{key}")[0].status == 404
    assert status(call(gw, "/basic/respond?admin=1")[0]) == "Miss"
    assert admin(gw, "DELETE", f"/proxy-cache/{key}")[0].status == 204
    assert admin(gw, "DELETE", f"/proxy-cache/{key}")[0].status == 404
    assert status(call(gw, "/basic/respond?admin=1")[0]) == "Miss"

    assert status(call(gw, "/vary/respond?purge=all")[0]) in ("Miss", "Hit")
    assert admin(gw, "DELETE", "/proxy-cache")[0].status == 204
    assert status(call(gw, "/basic/respond?admin=1")[0]) == "Miss"
    assert status(call(gw, "/vary/respond?purge=all")[0]) == "Miss"

    assert admin(gw, "GET", f"/proxy-cache/{ROUTE_ID}/caches/{key}")[0].status == 404  # not a plugin
    assert admin(gw, "GET", "/proxy-cache")[0].status == 405
    assert admin(gw, "POST", f"/proxy-cache/{key}")[0].status == 405


def test_an_entry_larger_than_the_cache_is_never_stored(gw, hits):
    for _ in range(2):
        before = hits()
        resp, body = call(gw, "/tiny/respond?bytes=100000")
        assert resp.status == 200 and len(body) == 100000
        assert status(resp) == "Miss" and hits() == before + 1
    for _ in range(2):  # announced without a length: given up while it streams
        resp, body = call(gw, "/tiny/respond?bytes=100000&chunked=1")
        assert resp.status == 200 and len(body) == 100000 and status(resp) == "Miss"
    assert "larger than the cache" in gw.error_log.read_text()
    # Smaller ones still fit.
    assert status(call(gw, "/tiny/respond?bytes=1000")[0]) == "Miss"
    assert status(call(gw, "/tiny/respond?bytes=1000")[0]) == "Hit"


def test_lru_eviction_keeps_the_dictionary_bounded(gw):
    # "small" holds 160 KiB: 40 entries of 16 KiB cannot all stay; the least recently used go.
    keys = []
    for i in range(40):
        resp, _ = call(gw, f"/small/respond?bytes=16384&n={i}")
        assert status(resp) == "Miss"
        keys.append(resp.getheader("X-Cache-Key"))
    held = [admin(gw, "GET", f"/proxy-cache/{key}")[0].status == 200 for key in keys]
    assert 0 < sum(held) <= 10
    assert held[-1] and not held[0], "the most recent entries stay, the oldest went"
    assert status(call(gw, "/small/respond?bytes=16384&n=39")[0]) == "Hit"
    assert status(call(gw, "/small/respond?bytes=16384&n=0")[0]) == "Miss"


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_memory_stays_flat_under_many_distinct_entries(gw):
    # 40 MB of distinct cacheable responses through a 160 KiB dictionary.
    for i in range(50):
        call(gw, f"/small/respond?bytes=200000&warm={i}")
    before = rss_kib(gw.proc.pid)
    for i in range(200):
        resp, body = call(gw, f"/small/respond?bytes=200000&flat={i}")
        assert resp.status == 200 and len(body) == 200000
    assert rss_kib(gw.proc.pid) - before < 20 * 1024


def test_concurrent_clients(gw, hits):
    errors = []
    bodies = {}

    def client(n):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            for i in range(40):
                path = f"/basic/respond?conc={i % 5}&bytes=3000"
                conn.request("GET", path)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200 or len(data) != 3000:
                    errors.append((resp.status, len(data)))
                bodies.setdefault(path, set()).add(data)
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    before = hits()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert hits() - before <= 5 * 8, "each key reaches the upstream at most once per client racing its miss"
    # Once stored, every client got the same stored body for a key.
    for path in bodies:
        final = call(gw, path)
        assert status(final[0]) == "Hit"


@pytest.mark.parametrize("config,message", [
    ({"strategy": "memory", "memory": {"dictionary_name": "nope"}}, "missing shared dict 'nope'"),
    ({}, "strategy"),
    ({"strategy": "redis"}, "strategy"),
    ({"strategy": "memory", "response_code": []}, "response_code"),
    ({"strategy": "memory", "cache_ttl": 0}, "config.cache_ttl: value must be greater than 0"),
])
def test_bad_configs_are_refused(tmp_path, config, message):
    yml = ('_format_version: "3.0"\nservices:\n  - name: up\n    url: http://127.0.0.1:9\n'
           f"    routes:\n      - name: r\n        paths: [\"/r\"]\n        plugins:\n"
           f"          - name: proxy-cache\n            config: {json.dumps(config)}\n")
    check = Gateway(tmp_path, yml).cli("config", "check")
    assert check.returncode == 1, check.stdout
    assert message in check.stderr, check.stderr
