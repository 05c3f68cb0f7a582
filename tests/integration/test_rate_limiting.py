"""Kong's rate-limiting plugin, native (issue #16): the local policy shared by a gateway's
workers, every limit_by with Kong's fallback to the client ip, Kong's headers and 429, and bad
configurations refused with Kong's messages. Counting tests use hour/day windows so that a window
boundary during a test is all but impossible; the second window is tested against the clock.
"""
import http.client
import json
import time

import pytest

import echo_upstream
from conftest import Gateway, stop_all
from test_proxy import get

ALICE_ID = "5b1e4c4e-6d9e-4a41-9a55-000000000a11"
BOB_ID = "5b1e4c4e-6d9e-4a41-9a55-000000000b0b"
ALICE_KEY_ID = "5b1e4c4e-6d9e-4a41-9a55-0000000a11ce"

CONSUMERS = f"""consumers:
  - id: {ALICE_ID}
    username: alice
    keyauth_credentials:
      - id: {ALICE_KEY_ID}
        key: alice-key
  - id: {BOB_ID}
    username: bob
    keyauth_credentials:
      - key: bob-key
"""


def route(name, plugins, paths=None):
    plugin_yml = "".join(f"          - name: {p}\n            config: {json.dumps(c)}\n" for p, c in plugins)
    return (f"      - name: {name}\n        paths: {json.dumps(paths or ['/' + name])}\n"
            f"        plugins:\n{plugin_yml}")


def rl(config):
    return ("rate-limiting", config)


def local_yml(port):
    routes = "".join([
        route("hour", [rl({"hour": 3})]),
        route("multi", [rl({"minute": 4, "hour": 4, "day": 100})]),
        route("second", [rl({"second": 2})]),
        route("hidden", [rl({"hour": 1, "hide_client_headers": True})]),
        route("custom", [rl({"hour": 1, "error_code": 503, "error_message": "slow down"})]),
        route("by-header", [rl({"hour": 1, "limit_by": "header", "header_name": "x-tenant"})]),
        route("by-path", [rl({"hour": 1, "limit_by": "path", "path": "/by-path/exact"})]),
        route("by-consumer", [("key-auth", {}), rl({"hour": 1, "limit_by": "consumer"})]),
        route("by-credential", [("key-auth", {}), rl({"hour": 1, "limit_by": "credential"})]),
        route("consumer-no-auth", [rl({"hour": 1})]),
        route("shared", [rl({"hour": 10})]),
        route("legacy", [rl({"hour": 1, "redis_host": "127.0.0.1", "redis_port": 6379, "redis_timeout": 100})]),
    ])
    service_scoped = f"""  - name: scoped
    url: http://127.0.0.1:{port}
    plugins:
      - name: rate-limiting
        config: {{"hour": 2, "limit_by": "service"}}
    routes:
      - name: svc-a
        paths: ["/svc-a"]
      - name: svc-b
        paths: ["/svc-b"]
"""
    return (f'_format_version: "3.0"\n{CONSUMERS}services:\n  - name: echo\n    url: http://127.0.0.1:{port}\n'
            f"    routes:\n      - name: plain\n        paths: [\"/plain\"]\n{routes}{service_scoped}")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    upstream = echo_upstream.start_in_thread(0, "up1")
    gateway = Gateway(tmp_path_factory.mktemp("ratelimit"), local_yml(upstream.server_port)).start()
    yield gateway
    stop_all([gateway])
    upstream.shutdown()
    upstream.server_close()


def statuses(gw, path, count, headers=None):
    return [get(gw, path, headers=headers)[0].status for _ in range(count)]


def test_limit_headers_count_down_then_429(gw):
    for remaining in (2, 1, 0):
        resp, body = get(gw, "/hour")
        assert resp.status == 200
        assert json.loads(body)["method"] == "GET"  # proxied
        assert resp.getheader("X-RateLimit-Limit-Hour") == "3"
        assert resp.getheader("X-RateLimit-Remaining-Hour") == str(remaining)
        assert resp.getheader("RateLimit-Limit") == "3"
        assert resp.getheader("RateLimit-Remaining") == str(remaining)
        assert 1 <= int(resp.getheader("RateLimit-Reset")) <= 3600
        assert resp.getheader("Retry-After") is None
    resp, body = get(gw, "/hour")
    assert resp.status == 429
    assert json.loads(body) == {"message": "API rate limit exceeded"}
    assert resp.getheader("Content-Type").startswith("application/json")
    assert resp.getheader("X-RateLimit-Remaining-Hour") == "0"
    assert resp.getheader("RateLimit-Remaining") == "0"
    assert resp.getheader("Retry-After") == resp.getheader("RateLimit-Reset")
    assert resp.getheader("X-Upstream-Name") is None  # never reached the upstream


def test_several_periods_report_each_and_the_tightest(gw):
    resp, _ = get(gw, "/multi")
    hour_reset = 3600 - int(time.time()) % 3600
    assert resp.getheader("X-RateLimit-Limit-Minute") == "4"
    assert resp.getheader("X-RateLimit-Limit-Hour") == "4"
    assert resp.getheader("X-RateLimit-Limit-Day") == "100"
    assert resp.getheader("X-RateLimit-Remaining-Hour") == "3"
    assert resp.getheader("X-RateLimit-Remaining-Day") == "99"
    # minute and hour tie on remaining: Kong describes the longer window.
    assert resp.getheader("RateLimit-Limit") == "4"
    assert abs(int(resp.getheader("RateLimit-Reset")) - hour_reset) <= 1
    assert statuses(gw, "/multi", 4) == [200, 200, 200, 429]


def test_second_window_resets_with_the_clock(gw):
    # Start just after a second boundary so the burst stays inside one window.
    time.sleep(1 - (time.time() % 1) + 0.02)
    assert statuses(gw, "/second", 3) == [200, 200, 429]
    time.sleep(1 - (time.time() % 1) + 0.02)
    resp, _ = get(gw, "/second")
    assert resp.status == 200
    assert resp.getheader("X-RateLimit-Remaining-Second") == "1"


def test_hide_client_headers(gw):
    resp, _ = get(gw, "/hidden")
    assert resp.status == 200
    assert not [h for h, _ in resp.getheaders() if "ratelimit" in h.lower()]
    resp, body = get(gw, "/hidden")
    assert resp.status == 429
    assert json.loads(body) == {"message": "API rate limit exceeded"}
    assert resp.getheader("Retry-After") is None
    assert not [h for h, _ in resp.getheaders() if "ratelimit" in h.lower()]


def test_error_code_and_message(gw):
    assert get(gw, "/custom")[0].status == 200
    resp, body = get(gw, "/custom")
    assert resp.status == 503
    assert json.loads(body) == {"message": "slow down"}


def test_limit_by_header_falls_back_to_ip(gw):
    assert statuses(gw, "/by-header", 2, {"X-Tenant": "a"}) == [200, 429]
    assert statuses(gw, "/by-header", 2, {"X-Tenant": "b"}) == [200, 429]
    # Without the header the client's ip is the identity: its own counter.
    assert statuses(gw, "/by-header", 2) == [200, 429]


def test_limit_by_path(gw):
    assert statuses(gw, "/by-path/exact", 2) == [200, 429]
    # Another path under the route is counted by ip instead, separately.
    assert statuses(gw, "/by-path/other", 2) == [200, 429]


def test_limit_by_consumer_and_credential(gw):
    for path in ("/by-consumer", "/by-credential"):
        assert statuses(gw, path, 2, {"apikey": "alice-key"}) == [200, 429]
        assert statuses(gw, path, 2, {"apikey": "bob-key"}) == [200, 429]


def test_limit_by_consumer_without_authentication_uses_the_ip(gw):
    assert statuses(gw, "/consumer-no-auth", 2) == [200, 429]


def test_limit_by_service_is_shared_by_its_routes(gw):
    assert get(gw, "/svc-a")[0].status == 200
    assert get(gw, "/svc-b")[0].status == 200
    assert get(gw, "/svc-a")[0].status == 429
    assert get(gw, "/svc-b")[0].status == 429


def test_legacy_flat_redis_fields_are_accepted(gw):
    assert statuses(gw, "/legacy", 2) == [200, 429]


def test_workers_share_the_local_counters(gw):
    # Every request on its own connection: SO_REUSEPORT spreads them over both workers.
    assert sorted(statuses(gw, "/shared", 25)) == [200] * 10 + [429] * 15


def test_routes_without_the_plugin_are_untouched(gw):
    for _ in range(5):
        resp, _ = get(gw, "/plain")
        assert resp.status == 200
        assert resp.getheader("RateLimit-Limit") is None


BAD_CONFIGS = [
    ({"policy": "cluster", "minute": 1}, "config.policy: expected one of: local, redis"),
    ({}, "at least one of these fields must be non-empty: 'config.second', 'config.minute'"),
    ({"minute": 0}, "config.minute: value must be greater than 0"),
    ({"second": 10, "minute": 5}, "The limit for minute(5.0) cannot be lower than the limit for second(10.0)"),
    ({"minute": 1, "limit_by": "header"}, "config.header_name: required field missing"),
    ({"minute": 1, "limit_by": "path"}, "config.path: required field missing"),
    ({"minute": 1, "policy": "redis"}, "config.redis.host: required field missing"),
    ({"minute": 1, "policy": "redis", "redis": {"host": "h"}}, "config.redis.port: required field missing"),
    ({"minute": 1, "sync_rate": 5}, "sync_rate can only be used with the redis policy"),
    ({"minute": 1, "limit_by": "nobody"}, "config.limit_by: expected one of"),
    ({"minute": 1, "redis_port": "x"}, "config.redis_port: expected an integer"),
]


@pytest.mark.parametrize("config,message", BAD_CONFIGS)
def test_bad_configuration_is_refused_with_kongs_message(tmp_path, config, message):
    yml = (f'_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:9\n    routes:\n'
           f'      - name: r\n        paths: ["/r"]\n        plugins:\n          - name: rate-limiting\n'
           f"            config: {json.dumps(config)}\n")
    check = Gateway(tmp_path, yml).cli("config", "check")
    assert check.returncode == 1, check.stdout
    assert message in check.stderr, check.stderr
