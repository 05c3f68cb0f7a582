"""Kong's rate-limiting plugin, native (issue #16): the local policy shared by a gateway's
workers, every limit_by with Kong's fallback to the client ip, Kong's headers and 429, and bad
configurations refused with Kong's messages. Counting tests use hour/day windows so that a window
boundary during a test is all but impossible; the second window is tested against the clock.
"""
import json
import threading
import time

import pytest

from conftest import Gateway, module_gateway, free_port
from redis_server import RedisServer
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
    yield from module_gateway(tmp_path_factory, "ratelimit", local_yml)


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


# --- redis policy -------------------------------------------------------------------------------

ROUTE_ID = "8a3f1c52-2b6e-4c1f-9a55-00000000e0e0"
EMPTY = "00000000-0000-0000-0000-000000000000"


def redis_yml(upstream_port, redis_port, extra_routes=""):
    def redis_route(name, config, route_id=None):
        conf = dict({"policy": "redis", "redis": {"host": "127.0.0.1", "port": redis_port, "timeout": 1000}},
                    **config)
        ident = f"      - id: {route_id}\n        name: {name}\n" if route_id else f"      - name: {name}\n"
        return (ident + f"        paths: [\"/{name}\"]\n        plugins:\n          - name: rate-limiting\n"
                f"            config: {json.dumps(conf)}\n")
    routes = "".join([
        redis_route("r-hour", {"hour": 3}, ROUTE_ID),
        redis_route("r-shared", {"hour": 4}),
        redis_route("r-tolerant", {"hour": 1000}),
        redis_route("r-strict", {"hour": 1000, "fault_tolerant": False}),
        redis_route("r-db", {"hour": 5, "redis": {"host": "127.0.0.1", "port": redis_port, "database": 3}}),
        redis_route("r-legacy", {"hour": 2, "redis": None, "redis_host": "127.0.0.1", "redis_port": redis_port,
                                 "redis_timeout": 300}),
    ])
    return (f'_format_version: "3.0"\nservices:\n  - name: echo\n    url: http://127.0.0.1:{upstream_port}\n'
            f"    routes:\n      - name: plain\n        paths: [\"/plain\"]\n{routes}{extra_routes}")


@pytest.fixture
def redis(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def hour_start_ms():
    now = int(time.time())
    return (now - now % 3600) * 1000


def test_redis_policy_counts_with_kongs_keys_and_expiry(make_gateway, upstream, redis):
    gw = make_gateway(redis_yml(upstream.server_port, redis.port)).start()
    assert statuses(gw, "/r-hour", 4) == [200, 200, 200, 429]
    key = f"ratelimit:{ROUTE_ID}:{EMPTY}:127.0.0.1:{hour_start_ms()}:hour"
    assert redis.command("GET", key) == "3"
    assert 0 < redis.command("TTL", key) <= 3600
    resp, _ = get(gw, "/r-hour")
    assert resp.getheader("X-RateLimit-Remaining-Hour") == "0"
    assert resp.getheader("Retry-After") is not None


def counters_by_period(redis, expected_count, timeout=10.0):
    """{period: (value, ttl)} of every rate-limiting key once `expected_count` exist (the increment
    is sent after the response, so Redis may see it a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        keys = redis.command("KEYS", "ratelimit:*")
        if len(keys) >= expected_count or time.monotonic() > deadline:
            return {k.rsplit(":", 1)[1]: (k, redis.command("TYPE", k), redis.command("TTL", k)) for k in keys}
        time.sleep(0.02)


def wait_for_value(redis, key, value, timeout=10.0):
    deadline = time.monotonic() + timeout
    while redis.command("GET", key) != value and time.monotonic() < deadline:
        time.sleep(0.02)
    return redis.command("GET", key)


def test_redis_increments_every_period_with_its_own_expiry(make_gateway, upstream, redis):
    conf = {"policy": "redis", "minute": 100, "hour": 100, "day": 100,
            "redis": {"host": "127.0.0.1", "port": redis.port}}
    extra = (f"      - name: r-periods\n        paths: [\"/r-periods\"]\n        plugins:\n"
             f"          - name: rate-limiting\n            config: {json.dumps(conf)}\n")
    gw = make_gateway(redis_yml(upstream.server_port, redis.port, extra)).start()
    assert statuses(gw, "/r-periods", 1) == [200]
    keys = counters_by_period(redis, 3)
    assert sorted(keys) == ["day", "hour", "minute"], keys
    for period, bound in (("minute", 60), ("hour", 3600), ("day", 86400)):
        key, kind, ttl = keys[period]
        assert kind == "string" and 0 < ttl <= bound, (period, kind, ttl)
        assert wait_for_value(redis, key, "1") == "1"
    # Another program's value of another type under one key: reading it fails (fault_tolerant lets
    # the request through, Kong's behaviour), and the other periods, before and after it, still count.
    redis.command("DEL", keys["hour"][0])
    redis.command("LPUSH", keys["hour"][0], "not-a-counter")
    resp, _ = get(gw, "/r-periods")
    assert resp.status == 200 and resp.getheader("X-RateLimit-Limit-Minute") is None
    assert wait_for_value(redis, keys["minute"][0], "2") == "2"
    assert wait_for_value(redis, keys["day"][0], "2") == "2"
    assert redis.command("TYPE", keys["hour"][0]) == "list"
    gw.wait_for_log("WRONGTYPE")
    assert "failed to get usage" in gw.logs()


def test_redis_database_and_legacy_fields(make_gateway, upstream, redis):
    gw = make_gateway(redis_yml(upstream.server_port, redis.port)).start()
    assert statuses(gw, "/r-db", 1) == [200]
    keys = redis.command("KEYS", "ratelimit:*", db=3)
    assert len(keys) == 1 and keys[0].endswith(":hour"), keys
    assert redis.command("KEYS", "ratelimit:*") == []
    assert statuses(gw, "/r-legacy", 3) == [200, 200, 429]


def test_two_gateways_on_one_redis_share_a_limit(make_gateway, upstream, redis):
    yml = redis_yml(upstream.server_port, redis.port)
    gw1 = make_gateway(yml).start()
    gw2 = make_gateway(yml).start()
    seen = [get(gw, "/r-shared")[0].status for gw in (gw1, gw2, gw1, gw2, gw1, gw2)]
    assert seen == [200, 200, 200, 200, 429, 429]


def test_password_and_acl_user(make_gateway, upstream, tmp_path):
    server = RedisServer(tmp_path / "redis-auth", password="s3cret", users=["alice on >alice-pw ~* +@all"]).start()
    try:
        def route(name, redis_conf, fault_tolerant=False):
            conf = {"policy": "redis", "hour": 2, "fault_tolerant": fault_tolerant,
                    "redis": dict({"host": "127.0.0.1", "port": server.port, "timeout": 300}, **redis_conf)}
            return (f"      - name: {name}\n        paths: [\"/{name}\"]\n        plugins:\n"
                    f"          - name: rate-limiting\n            config: {json.dumps(conf)}\n")
        extra = (route("r-pass", {"password": "s3cret"}) + route("r-user", {"username": "alice", "password": "alice-pw"})
                 + route("r-wrong", {"password": "nope"}))
        gw = make_gateway(redis_yml(upstream.server_port, 9, extra)).start()
        assert statuses(gw, "/r-pass", 3) == [200, 200, 429]
        assert statuses(gw, "/r-user", 3) == [200, 200, 429]
        resp, body = get(gw, "/r-wrong")
        assert resp.status == 500
        assert json.loads(body) == {"message": "An unexpected error occurred"}
        assert "failed to auth Redis" in gw.logs()
    finally:
        server.stop()


def test_redis_down_at_start_follows_fault_tolerant(make_gateway, upstream, tmp_path):
    port = free_port()
    gw = make_gateway(redis_yml(upstream.server_port, port)).start()
    resp, _ = get(gw, "/r-tolerant")
    assert resp.status == 200
    assert resp.getheader("X-RateLimit-Limit-Hour") is None  # no usage, no headers (Kong)
    resp, body = get(gw, "/r-strict")
    assert resp.status == 500
    assert json.loads(body) == {"message": "An unexpected error occurred"}
    assert "failed to get usage" in gw.logs()
    # Redis comes up on that port: the limits apply again.
    server = RedisServer(tmp_path / "late", port=port).start()
    try:
        resp, _ = get(gw, "/r-tolerant")
        assert resp.status == 200 and resp.getheader("X-RateLimit-Limit-Hour") == "1000"
        assert get(gw, "/r-strict")[0].status == 200
    finally:
        server.stop()


def timed_get(gw, path):
    start = time.monotonic()
    resp, body = get(gw, path)
    return resp, body, time.monotonic() - start


def test_paused_redis_times_out_without_blocking_other_routes(make_gateway, upstream, redis):
    gw = make_gateway(redis_yml(upstream.server_port, redis.port)).start()
    assert get(gw, "/r-tolerant")[0].status == 200
    redis.pause()
    try:
        results = []
        slow = [threading.Thread(target=lambda: results.append(timed_get(gw, "/r-tolerant"))) for _ in range(8)]
        for t in slow:
            t.start()
        # While requests wait for the stalled Redis, a route without the plugin answers at once.
        for _ in range(5):
            resp, _, took = timed_get(gw, "/plain")
            assert resp.status == 200 and took < 0.5, took
        for t in slow:
            t.join()
        assert [r[0].status for r in results] == [200] * 8
        assert max(r[2] for r in results) < 3.0  # redis.timeout is 1000 ms
        resp, body, took = timed_get(gw, "/r-strict")
        assert resp.status == 500 and 0.9 < took < 3.0, took
    finally:
        redis.resume()
    # Recovery: the next requests get Redis's answers again.
    resp, _ = get(gw, "/r-strict")
    assert resp.status == 200 and resp.getheader("X-RateLimit-Limit-Hour") == "1000"


def test_redis_killed_mid_load_then_back(make_gateway, upstream, redis, tmp_path):
    gw = make_gateway(redis_yml(upstream.server_port, redis.port)).start()
    statuses_seen = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            statuses_seen.append(get(gw, "/r-tolerant")[0].status)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # load before the kill
    redis.kill()
    time.sleep(0.5)  # load while Redis is gone
    stop.set()
    for t in threads:
        t.join()
    assert statuses_seen and set(statuses_seen) == {200}
    assert get(gw, "/r-strict")[0].status == 500
    back = RedisServer(tmp_path / "back", port=redis.port).start()
    try:
        resp, _ = get(gw, "/r-strict")
        assert resp.status == 200 and resp.getheader("X-RateLimit-Remaining-Hour") == "999"
    finally:
        back.stop()


def test_tls_to_redis(make_gateway, upstream, tmp_path):
    server = RedisServer(tmp_path / "redis-tls", tls=True).start()
    try:
        def route(name, redis_conf):
            conf = {"policy": "redis", "hour": 2, "fault_tolerant": False,
                    "redis": dict({"host": "127.0.0.1", "port": server.port, "timeout": 1000, "ssl": True}, **redis_conf)}
            return (f"      - name: {name}\n        paths: [\"/{name}\"]\n        plugins:\n"
                    f"          - name: rate-limiting\n            config: {json.dumps(conf)}\n")
        extra = route("r-tls", {}) + route("r-tls-verify", {"ssl_verify": True})
        gw = make_gateway(redis_yml(upstream.server_port, 9, extra)).start()
        assert statuses(gw, "/r-tls", 3) == [200, 200, 429]
        assert len(server.command("KEYS", "ratelimit:*")) == 1
        # The self-signed certificate is not in the system's store: verification refuses it.
        resp, body = get(gw, "/r-tls-verify")
        assert resp.status == 500
        assert "SSL handshake" in gw.logs()
    finally:
        server.stop()
