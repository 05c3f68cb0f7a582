"""Kong's DB-less Admin API through the real binary: node information, status and readiness, entity
reads with Kong's pagination and error shapes, the DB-less 405 answers, GET/POST /config (atomic swap,
check_hash, flatten_errors, hostile bodies) and the status listener."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from conftest import free_port
from test_bodies_limits import vm_kib
from test_config_admin import read_until_closed
from test_pluginservers import FIXTURE, eventually, fixture_server_conf, script
from test_tls import CertificateAuthority, certificate_entity, indent

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def config_yml(port, extra_routes="", services=""):
    return f"""_format_version: "3.0"
_comment: the admin API test configuration
services:
  - name: echo
    url: http://127.0.0.1:{port}/base
    tags: [team-a, public]
    routes:
      - name: api
        paths: ["/api"]
        tags: [team-a]
      - name: versioned
        paths: ["~/v(?<n>\\\\d+)$"]
        regex_priority: 7
        protocols: [http]
        headers:
          x-version: ["v2", "v3"]
        methods: [GET, POST]
{extra_routes}
  - name: second
    host: 127.0.0.1
    port: {port}
    tags: [team-b]
  - name: third
    host: 127.0.0.1
    port: {port}
{services}
upstreams:
  - name: pool
    targets:
      - target: 127.0.0.1:{port}
        weight: 50
consumers:
  - username: alice
    custom_id: a-1
    keyauth_credentials:
      - key: alice-very-secret-key
        tags: [team-a]
"""


def admin(gw, method, path, body=None, headers=None, port=None):
    conn = http.client.HTTPConnection("127.0.0.1", port or gw.admin_port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data else None)


def proxy_get(gw, path):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def post_config(gw, text, query="", content_type="text/yaml"):
    return admin(gw, "POST", "/config" + query, body=text.encode() if isinstance(text, str) else text,
                 headers={"Content-Type": content_type})


def test_node_information_and_status(make_gateway, upstream):
    with_cors = config_yml(upstream.server_port) + "plugins:\n  - name: cors\n  - name: cors\n    service: echo\n"
    gw = make_gateway(with_cors, conf_extra="pg_password = hunter2\n").start()
    status, root = admin(gw, "GET", "/")
    assert status == 200
    assert root["version"] and root["hostname"] == socket.gethostname()
    assert UUID.match(root["node_id"])
    assert root["pids"]["master"] == gw.proc.pid
    # Kong: every plugin the node runs, with its version and priority; and the names in use.
    assert root["plugins"]["available_on_server"]["key-auth"] == {"version": "3.9.0", "priority": 1250}
    assert root["plugins"]["available_on_server"]["cors"]["priority"] == 2000
    assert "bundled" not in root["plugins"]["available_on_server"]
    assert root["plugins"]["enabled_in_cluster"] == ["cors"]
    assert root["configuration"]["pg_password"] == "******"  # secrets redacted
    assert "hunter2" not in json.dumps(root)
    assert root["configuration"]["admin_listen"] == f"127.0.0.1:{gw.admin_port}"

    status, body = admin(gw, "GET", "/status")
    assert status == 200
    expected_hash = hashlib.md5(gw.kong_yml.read_bytes()).hexdigest()
    assert body["configuration_hash"] == expected_hash
    assert body["server"]["connections_active"] >= 0 and body["database"] == {"reachable": True}
    assert admin(gw, "GET", "/status/ready") == (200, {"message": "ready"})


def test_entities_with_all_fields_and_lookups_by_id_or_name(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    status, services = admin(gw, "GET", "/services")
    assert status == 200 and services["next"] is None and "offset" not in services
    assert [s["name"] for s in services["data"]] == ["echo", "second", "third"]
    echo = services["data"][0]
    assert echo["protocol"] == "http" and echo["host"] == "127.0.0.1" and echo["path"] == "/base"
    assert echo["port"] == upstream.server_port and echo["retries"] == 5 and echo["connect_timeout"] == 60000
    assert echo["tags"] == ["team-a", "public"] and echo["client_certificate"] is None
    assert admin(gw, "GET", f"/services/{echo['id']}") == (200, echo)
    assert admin(gw, "GET", "/services/echo") == (200, echo)
    assert admin(gw, "GET", "/services/nope") == (404, {"message": "Not found"})

    status, routes = admin(gw, "GET", "/services/echo/routes")
    assert status == 200 and [r["name"] for r in routes["data"]] == ["api", "versioned"]
    status, route = admin(gw, "GET", "/routes/versioned")
    assert status == 200
    assert route["headers"] == {"x-version": ["v2", "v3"]}
    assert route["regex_priority"] == 7 and route["protocols"] == ["http"] and route["methods"] == ["GET", "POST"]
    assert route["service"] == {"id": echo["id"]} and route["strip_path"] is True
    assert route["hosts"] is None and route["path_handling"] == "v0"
    assert admin(gw, "GET", f"/routes/{route['id']}/service") == (200, echo)

    status, targets = admin(gw, "GET", "/upstreams/pool/targets")
    assert status == 200 and targets["data"][0]["target"] == f"127.0.0.1:{upstream.server_port}"
    assert targets["data"][0]["weight"] == 50 and UUID.match(targets["data"][0]["id"])

    # Consumers and their credentials: never a secret in clear.
    status, consumer = admin(gw, "GET", "/consumers/alice")
    assert status == 200 and consumer["custom_id"] == "a-1"
    assert admin(gw, "GET", "/consumers/a-1")[1] == consumer
    status, keys = admin(gw, "GET", "/consumers/alice/key-auth")
    assert status == 200 and keys["data"][0]["key"] == "<redacted>"
    assert keys["data"][0]["consumer"] == {"id": consumer["id"]}
    status, all_keys = admin(gw, "GET", "/key-auths")
    assert status == 200 and all_keys["data"] == keys["data"]
    assert admin(gw, "GET", f"/key-auths/{keys['data'][0]['id']}") == (200, keys["data"][0])
    for path in ("/consumers", "/consumers/alice/key-auth", "/key-auths", "/config"):
        assert "alice-very-secret-key" not in json.dumps(admin(gw, "GET", path)[1])

    status, tags = admin(gw, "GET", "/tags/team-a")
    assert status == 200
    assert sorted(t["entity_name"] for t in tags["data"]) == ["keyauth_credentials", "routes", "services"]
    assert admin(gw, "GET", "/services?tags=team-a,public")[1]["data"] == [echo]
    assert [s["name"] for s in admin(gw, "GET", "/services?tags=team-a/team-b")[1]["data"]] == ["echo", "second"]


def test_pagination_and_its_errors_in_kongs_shape(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    status, first = admin(gw, "GET", "/services?size=2")
    assert status == 200 and len(first["data"]) == 2 and first["offset"]
    assert first["next"].startswith("/services?offset=")
    status, rest = admin(gw, "GET", first["next"])
    assert status == 200 and [s["name"] for s in rest["data"]] == ["third"] and rest["next"] is None

    assert admin(gw, "GET", "/services?size=x") == (
        400, {"code": 9, "name": "invalid size", "message": "size must be a number"})
    assert admin(gw, "GET", "/services?size=1001") == (
        400, {"code": 9, "name": "invalid size", "message": "size must be an integer between 1 and 1000"})
    assert admin(gw, "GET", "/routes?offset=x") == (
        400, {"code": 7, "name": "invalid offset", "message": "'x' is not a valid offset: bad base64 encoding"})
    assert admin(gw, "GET", "/services?tags=a,b/c") == (
        400, {"code": 11, "name": "invalid options", "message": "invalid option (tags: invalid filter syntax)"})


def test_writes_other_than_config_get_kongs_db_less_answers(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    body = json.dumps({"paths": ["/"]})
    json_type = {"Content-Type": "application/json"}
    assert admin(gw, "POST", "/routes", body, json_type) == (405, {
        "code": 12, "name": "operation unsupported",
        "message": "cannot create 'routes' entities when not using a database"})
    for method in ("DELETE", "PUT", "PATCH"):
        assert admin(gw, method, "/routes", body, json_type) == (405, {"message": "Method not allowed"})
    assert admin(gw, "PUT", "/routes/api", body, json_type)[1]["message"] == \
        "cannot create or update 'routes' entities when not using a database"
    assert admin(gw, "PATCH", "/services/echo", body, json_type)[1]["message"] == \
        "cannot update 'services' entities when not using a database"
    assert admin(gw, "DELETE", "/consumers/alice")[1]["message"] == \
        "cannot delete 'consumers' entities when not using a database"
    assert admin(gw, "POST", "/services/echo/routes", body, json_type)[1]["message"] == \
        "cannot create 'routes' entities when not using a database"
    assert admin(gw, "POST", "/routes/api", body, json_type) == (405, {"message": "Method not allowed"})
    assert admin(gw, "GET", "/services")[1]["data"][0]["name"] == "echo"  # nothing changed


def test_post_config_swaps_atomically_and_reports_errors_in_kongs_shape(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    assert proxy_get(gw, "/added/x") == 404
    new = config_yml(upstream.server_port, extra_routes='      - name: added\n        paths: ["/added"]\n')
    status, body = post_config(gw, new)
    assert status == 201, body
    assert "added" in [r["name"] for r in body["routes"]]
    assert proxy_get(gw, "/added/x") == 200
    new_hash = hashlib.md5(new.encode()).hexdigest()
    assert admin(gw, "GET", "/status")[1]["configuration_hash"] == new_hash
    assert post_config(gw, new, "?check_hash=1") == (304, None)

    # JSON: the document itself, or {"config": "<text>"}; form-encoded too.
    document = {"_format_version": "3.0", "services": [
        {"name": "j", "url": f"http://127.0.0.1:{upstream.server_port}", "routes": [{"paths": ["/json"]}]}]}
    assert post_config(gw, json.dumps(document), content_type="application/json")[0] == 201
    assert proxy_get(gw, "/json") == 200 and proxy_get(gw, "/added/x") == 404
    assert post_config(gw, json.dumps({"config": new}), content_type="application/json")[0] == 201
    assert proxy_get(gw, "/added/x") == 200
    form = "config=" + base64.b64encode(b"x").decode()  # not a configuration
    status, refused = post_config(gw, form, content_type="application/x-www-form-urlencoded")
    assert status == 400 and refused["code"] == 14

    before = admin(gw, "GET", "/status")[1]["configuration_hash"]
    bad = config_yml(upstream.server_port, extra_routes='      - name: broken\n        paths: ["nope"]\n')
    status, error = post_config(gw, bad)
    assert status == 400
    assert error["code"] == 14 and error["name"] == "invalid declarative configuration"
    assert error["message"].startswith("declarative config is invalid: ")
    assert "must start with '/' or '~'" in error["message"]
    paths_error = error["fields"]["services"][0]["routes"][2]["paths"][0]
    assert "must start with '/' or '~'" in paths_error
    status, flat = post_config(gw, bad, "?flatten_errors=1")
    assert status == 400 and flat["fields"] == {}
    (entry,) = flat["flattened_errors"]
    assert entry["entity_type"] == "route" and entry["entity_name"] == "broken"
    assert entry["errors"] == [{"type": "field", "field": "paths.1", "message": paths_error}]
    assert admin(gw, "GET", "/status")[1]["configuration_hash"] == before
    assert proxy_get(gw, "/added/x") == 200

    # Every broken entity is listed, not only the first.
    two = config_yml(upstream.server_port, extra_routes='      - name: b1\n        paths: ["x"]\n',
                     services="  - name: b2\n    url: nope\n")
    status, flat = post_config(gw, two, "?flatten_errors=1")
    assert status == 400
    assert sorted((e["entity_type"], e["entity_name"]) for e in flat["flattened_errors"]) == [
        ("route", "b1"), ("service", "b2")]
    assert "(name 'b1')" in flat["message"] and "(name 'b2')" in flat["message"]

    assert post_config(gw, "{}", content_type="application/json") == (
        400, {"message": "expected a declarative configuration"})
    assert post_config(gw, "x", content_type="image/png")[0] == 415


def test_get_config_exports_what_post_config_loads_again(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    status, exported = admin(gw, "GET", "/config")
    assert status == 200 and isinstance(exported["config"], str)
    services_before = admin(gw, "GET", "/services")[1]
    routes_before = admin(gw, "GET", "/routes")[1]
    document = json.loads(exported["config"])
    # Secrets are not exported: put the key back as the operator would.
    (credential,) = document["keyauth_credentials"]
    assert "key" not in credential and credential["consumer"]["id"] == document["consumers"][0]["id"]
    credential["key"] = "alice-very-secret-key"
    status, body = post_config(gw, json.dumps(document), content_type="application/json")
    assert status == 201, body
    # updated_at is the load time (as Kong stamps a declarative load), so a reload that crosses a
    # second boundary moves it: everything else must come back as it was.
    assert without_updated_at(admin(gw, "GET", "/services")[1]) == without_updated_at(services_before)
    assert without_updated_at(admin(gw, "GET", "/routes")[1]) == without_updated_at(routes_before)


def without_updated_at(page):
    return {**page, "data": [{k: v for k, v in entity.items() if k != "updated_at"} for entity in page["data"]]}


def unchanged_after(gw, send):
    """Sends a hostile request with `send`, then checks nothing changed and the gateway still proxies."""
    before = admin(gw, "GET", "/status")[1]["configuration_hash"]
    answer = send()
    assert admin(gw, "GET", "/status")[1]["configuration_hash"] == before
    assert proxy_get(gw, "/api/x") == 200
    return answer


def test_hostile_config_bodies_are_refused_and_change_nothing(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    peak_before = vm_kib(gw.proc.pid, "VmHWM")

    def huge_body():
        with socket.create_connection(("127.0.0.1", gw.admin_port)) as s:
            s.sendall(b"POST /config HTTP/1.1\r\nHost: a\r\nContent-Type: text/yaml\r\n"
                      b"Content-Length: 104857600\r\n\r\n" + b"a: b\n" * 20000)
            return read_until_closed(s, 10)
    answer = unchanged_after(gw, huge_body)
    assert answer is not None and answer.startswith(b"HTTP/1.1 413 "), answer

    def huge_chunked():
        with socket.create_connection(("127.0.0.1", gw.admin_port)) as s:
            s.sendall(b"POST /config HTTP/1.1\r\nHost: a\r\nContent-Type: text/yaml\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"100000\r\n" + b"#" * 0x100000 + b"\r\n"
            try:
                for _ in range(100):  # 100 MB, refused after 10
                    s.sendall(chunk)
            except OSError:
                pass
            return read_until_closed(s, 10)
    answer = unchanged_after(gw, huge_chunked)
    assert answer is not None and answer.startswith(b"HTTP/1.1 413 "), answer[:200]

    bomb = "_format_version: \"3.0\"\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
    status, error = unchanged_after(gw, lambda: post_config(gw, bomb))
    assert status == 400 and error["code"] == 14, error

    deep_yaml = '_format_version: "3.0"\nservices: ' + "[" * 10000 + "]" * 10000 + "\n"
    status, error = unchanged_after(gw, lambda: post_config(gw, deep_yaml))
    assert status == 400 and error["code"] == 14
    deep_json = '{"_format_version": "3.0", "services": ' + "[" * 10000 + "]" * 10000 + "}"
    status, error = unchanged_after(gw, lambda: post_config(gw, deep_json, content_type="application/json"))
    assert status == 400 and "nested deeper" in error["message"]
    deep_string = json.dumps({"config": deep_yaml})
    status, error = unchanged_after(gw, lambda: post_config(gw, deep_string, content_type="application/json"))
    assert status == 400 and error["code"] == 14

    invalid = b'_format_version: "3.0"\n_comment: "\xff\xfe"\n'
    status, error = unchanged_after(gw, lambda: post_config(gw, invalid))
    assert status == 400 and "UTF-8" in error["message"]
    status, error = unchanged_after(gw, lambda: post_config(gw, b'{"config": "\xc3\x28"}',
                                                            content_type="application/json"))
    assert status == 400
    # Memory stayed bounded through all of it: 200 MB of bodies (10 MB kept at most), the alias bomb,
    # the deep nesting. Peak RSS grew 17 MB on the Release build, 46 MB under ASan (its quarantine
    # keeps freed blocks resident); nowhere near what was sent.
    growth = vm_kib(gw.proc.pid, "VmHWM") - peak_before
    assert growth < 64 * 1024, f"peak RSS grew by {growth} KiB"


def wrk_failures(output):
    """Non-2xx responses and socket errors in wrk's report."""
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)


def test_concurrent_post_config_under_load(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    good = {i: config_yml(upstream.server_port, extra_routes=f'      - name: v{i}\n        paths: ["/only{i}"]\n')
            for i in range(0, 20, 2)}
    bad = {i: config_yml(upstream.server_port, extra_routes=f'      - name: b{i}\n        paths: ["bad{i}"]\n')
           for i in range(1, 20, 2)}
    generation_before = admin(gw, "GET", "/status")[1]["configuration_generation"]
    wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d6s", gw.url("/api/x")], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    time.sleep(1)  # wrk's connections are open and busy before the first POST (no readiness marker in wrk)
    results = {}

    def post(i):
        results[i] = post_config(gw, good.get(i) or bad[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    output, _ = wrk.communicate(timeout=60)
    assert wrk.returncode == 0, output
    assert wrk_failures(output) == 0, output
    assert re.search(r"(\d+) requests in", output) and int(re.search(r"(\d+) requests in", output).group(1)) > 100
    for i in bad:
        status, error = results[i]
        assert status == 400 and f"(name 'b{i}')" in error["message"], error
    for i in good:
        assert results[i][0] == 201, results[i]
    status = admin(gw, "GET", "/status")[1]
    assert status["configuration_generation"] == generation_before + len(good)
    in_force = [i for i in good if hashlib.md5(good[i].encode()).hexdigest() == status["configuration_hash"]]
    assert len(in_force) == 1
    assert proxy_get(gw, f"/only{in_force[0]}/x") == 200
    assert all(proxy_get(gw, f"/only{i}/x") == 404 for i in good if i != in_force[0])


def test_status_listener_serves_status_and_readiness_only(make_gateway, upstream):
    status_port = free_port()
    gw = make_gateway(config_yml(upstream.server_port),
                      conf_extra=f"status_listen = 127.0.0.1:{status_port}\n").start()
    assert admin(gw, "GET", "/status/ready", port=status_port) == (200, {"message": "ready"})
    assert admin(gw, "GET", "/status", port=status_port)[1]["configuration_hash"]
    assert admin(gw, "GET", "/services", port=status_port) == (404, {"message": "Not found"})
    assert admin(gw, "POST", "/config", "x", port=status_port)[0] == 405


def test_debug_log_level(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    assert admin(gw, "GET", "/debug/node/log-level") == (200, {"message": "log level: debug"})
    assert admin(gw, "PUT", "/debug/node/log-level/warn") == (200, {"message": "log level changed"})
    assert admin(gw, "GET", "/debug/node/log-level") == (200, {"message": "log level: warn"})
    assert admin(gw, "PUT", "/debug/node/log-level/warn") == (200, {"message": "log level is already warn"})
    assert admin(gw, "PUT", "/debug/node/log-level/loud") == (400, {"message": "unknown log level: loud"})

    # Kong's default level, notice, is named as such (gatehouse logs it at its info level).
    gw = make_gateway(config_yml(upstream.server_port), env={"KONG_LOG_LEVEL": "notice"}).start()
    assert admin(gw, "GET", "/debug/node/log-level") == (200, {"message": "log level: notice"})
    assert admin(gw, "PUT", "/debug/node/log-level/notice") == (200, {"message": "log level is already notice"})
    assert admin(gw, "PUT", "/debug/node/log-level/info") == (200, {"message": "log level changed"})
    assert admin(gw, "GET", "/debug/node/log-level") == (200, {"message": "log level: info"})


def timestamps_yml(port):
    """Entities with and without kong.yml's created_at (db_export and decK dumps carry them)."""
    return f"""_format_version: "3.0"
services:
  - name: dated
    created_at: 1700000000
    updated_at: 1700000100
    url: http://127.0.0.1:{port}
    routes:
      - name: fresh
        paths: ["/fresh"]
consumers:
  - username: carol
    keyauth_credentials:
      - key: carol-key
        created_at: 1700000002
upstreams:
  - name: pool
    targets:
      - target: 127.0.0.1:{port}
        created_at: 1700000003.25
"""


def test_entities_carry_kongs_created_at_and_updated_at(make_gateway, upstream):
    before = int(time.time())
    gw = make_gateway(timestamps_yml(upstream.server_port)).start()
    after = time.time()

    def loaded_now(value, since=before):
        return isinstance(value, int) and since <= value <= after

    service = admin(gw, "GET", "/services/dated")[1]
    assert service["created_at"] == 1700000000  # kept, as Kong keeps it
    assert loaded_now(service["updated_at"])  # Kong stamps updated_at at every load
    route = admin(gw, "GET", "/routes/fresh")[1]
    assert loaded_now(route["created_at"]) and route["updated_at"] == route["created_at"]
    consumer = admin(gw, "GET", "/consumers/carol")[1]
    assert loaded_now(consumer["created_at"]) and loaded_now(consumer["updated_at"])
    (key,) = admin(gw, "GET", "/consumers/carol/key-auth")[1]["data"]
    assert key["created_at"] == 1700000002 and "updated_at" not in key  # Kong's credentials: created_at only
    upstream_entity = admin(gw, "GET", "/upstreams/pool")[1]
    assert loaded_now(upstream_entity["updated_at"])
    (target,) = admin(gw, "GET", "/upstreams/pool/targets")[1]["data"]
    assert target["created_at"] == 1700000003.25  # milliseconds, as Kong's targets
    assert isinstance(target["updated_at"], float) and before <= target["updated_at"] <= after

    # GET /config exports created_at; POSTing the export back keeps it, and stamps a new updated_at.
    document = json.loads(admin(gw, "GET", "/config")[1]["config"])
    assert document["services"][0]["created_at"] == 1700000000
    document["keyauth_credentials"][0]["key"] = "carol-key"
    reposted = time.time()
    assert post_config(gw, json.dumps(document), content_type="application/json")[0] == 201
    again = admin(gw, "GET", "/routes/fresh")[1]
    assert again["created_at"] == route["created_at"]  # the export carried it
    assert int(reposted) <= again["updated_at"] <= time.time()

    # created_at is Kong's integer (a target's, a number): anything else is refused, in Kong's shape.
    bad = timestamps_yml(upstream.server_port).replace("created_at: 1700000000", "created_at: yesterday")
    status, error = post_config(gw, bad, "?flatten_errors=1")
    assert status == 400 and error["code"] == 14
    (entry,) = error["flattened_errors"]
    assert entry["entity_type"] == "service" and entry["entity_name"] == "dated"
    assert entry["errors"][0]["field"] == "created_at"
    assert "expected an integer, got 'yesterday'" in entry["errors"][0]["message"]
    assert post_config(gw, bad.replace("created_at: yesterday", "created_at: 1.5"))[0] == 400
    assert post_config(gw, bad.replace("created_at: yesterday", "created_at: -1"))[0] == 400


def test_bundled_plugin_schemas_and_upstream_fields(make_gateway, upstream):
    gw = make_gateway(config_yml(upstream.server_port)).start()
    status, schema = admin(gw, "GET", "/schemas/plugins/key-auth")
    assert status == 200, schema
    config = next(f["config"] for f in schema["fields"] if "config" in f)
    key_names = next(f["key_names"] for f in config["fields"] if "key_names" in f)
    assert key_names["default"] == ["apikey"]
    assert admin(gw, "GET", "/schemas/plugins/cors")[0] == 200
    assert admin(gw, "GET", "/schemas/plugins/nope") == (404, {"message": "No plugin named 'nope'"})

    status, pool = admin(gw, "GET", "/upstreams/pool")
    assert status == 200
    assert pool["hash_on"] == "none" and pool["hash_fallback"] == "none" and pool["hash_on_header"] is None
    assert pool["slots"] == 10000 and pool["hash_on_cookie_path"] == "/"
    assert pool["healthchecks"]["active"]["healthy"] == {"interval": 0, "http_statuses": [200, 302], "successes": 0}
    assert pool["healthchecks"]["passive"]["unhealthy"]["http_statuses"] == [429, 500, 503]
    assert pool["healthchecks"]["threshold"] == 0


def test_plugin_schemas_and_enabled_plugins_of_plugin_servers(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    yml = '_format_version: "3.0"\nplugins:\n  - name: fx-plugin\n    config: {level: 3}\n'
    gw = make_gateway(yml, conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n{conf}").start()
    status, schema = admin(gw, "GET", "/schemas/plugins/fx-plugin")
    assert status == 200 and schema["fields"][0]["config"]["type"] == "record"
    assert admin(gw, "GET", "/schemas/plugins/nope")[0] == 404
    status, enabled = admin(gw, "GET", "/plugins/enabled")
    assert status == 200 and "fx-plugin" in enabled["enabled_plugins"] and "key-auth" in enabled["enabled_plugins"]
    assert "bundled" not in enabled["enabled_plugins"] and enabled["enabled_plugins"] == sorted(enabled["enabled_plugins"])
    status, plugins = admin(gw, "GET", "/plugins")
    assert status == 200 and plugins["data"][0]["config"]["level"] == 3
    plugin_id = plugins["data"][0]["id"]
    assert admin(gw, "GET", f"/plugins/{plugin_id}")[1]["name"] == "fx-plugin"
    assert admin(gw, "GET", "/")[1]["plugins"]["available_on_server"]["fx-plugin"]["version"]
    assert admin(gw, "GET", "/")[1]["plugins"]["enabled_in_cluster"] == ["fx-plugin"]
    deadline = time.time() + 10
    while admin(gw, "GET", "/status/ready")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    assert admin(gw, "GET", "/status/ready") == (200, {"message": "ready"})


def test_certificates_snis_and_ca_certificates_without_their_keys(make_gateway, upstream, tmp_path):
    ca = CertificateAuthority(tmp_path / "ca")
    cert, key = ca.issue("api", ["api.example.test"])
    text = (config_yml(upstream.server_port)
            + "certificates:\n" + certificate_entity(cert, key, ["api.example.test", "*.wild.test"], "    tags: [edge]\n")
            + f"ca_certificates:\n  - cert: |\n{indent(ca.cert.read_text(), 6)}")
    gw = make_gateway(text).start()
    status, certificates = admin(gw, "GET", "/certificates")
    assert status == 200
    (certificate,) = certificates["data"]
    assert certificate["key"] == "<redacted>" and certificate["key_alt"] is None
    assert certificate["cert"] == Path(cert).read_text() and certificate["snis"] == ["api.example.test", "*.wild.test"]
    assert certificate["tags"] == ["edge"] and isinstance(certificate["created_at"], int)
    assert admin(gw, "GET", f"/certificates/{certificate['id']}") == (200, certificate)
    private_key = Path(key).read_text().strip().splitlines()[1]
    for path in ("/certificates", "/snis", "/config", f"/certificates/{certificate['id']}"):
        assert private_key not in json.dumps(admin(gw, "GET", path)[1]), path

    status, snis = admin(gw, "GET", "/snis")
    assert status == 200 and [s["name"] for s in snis["data"]] == ["api.example.test", "*.wild.test"]
    sni = snis["data"][0]
    assert sni["certificate"] == {"id": certificate["id"]} and UUID.match(sni["id"])
    assert admin(gw, "GET", "/snis/api.example.test") == (200, sni)
    assert admin(gw, "GET", f"/snis/{sni['id']}") == (200, sni)
    assert admin(gw, "GET", "/snis/nope.test") == (404, {"message": "Not found"})

    status, cas = admin(gw, "GET", "/ca_certificates")
    assert status == 200 and cas["data"][0]["cert"] == ca.cert.read_text()
    assert admin(gw, "GET", f"/ca_certificates/{cas['data'][0]['id']}") == (200, cas["data"][0])
    assert admin(gw, "DELETE", f"/certificates/{certificate['id']}")[1]["message"] == \
        "cannot delete 'certificates' entities when not using a database"


def test_not_ready_while_a_plugin_server_is_down(make_gateway, tmp_path):
    sock, conf = fixture_server_conf(tmp_path)
    started_once, go = tmp_path / "started-once", tmp_path / "go"
    # The first run serves at once; a restart waits until the test creates `go`.
    held = script(tmp_path / "held-server", "#!/bin/sh\n"
                  f"if [ -e {started_once} ]; then while [ ! -e {go} ]; do sleep 0.05; done; fi\n"
                  f"touch {started_once}\nexec /usr/bin/python3 {FIXTURE} {sock}\n")
    conf = "\n".join(f"pluginserver_fx_start_cmd = {held}" if line.startswith("pluginserver_fx_start_cmd")
                     else line for line in conf.splitlines()) + "\n"
    status_port = free_port()
    gw = make_gateway('_format_version: "3.0"\n', conf_extra=f"plugins = bundled, fx-plugin\npluginserver_names = fx\n"
                      f"status_listen = 127.0.0.1:{status_port}\n{conf}").start()
    assert eventually(lambda: admin(gw, "GET", "/status/ready")[0] == 200, 20), gw.logs()[-2000:]
    pid = admin(gw, "GET", "/plugin-servers")[1]["servers"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    not_ready = (503, {"message": "plugin server 'fx' is not ready"})
    assert eventually(lambda: admin(gw, "GET", "/status/ready") == not_ready, 20), gw.logs()[-2000:]
    assert admin(gw, "GET", "/status/ready", port=status_port) == not_ready
    assert admin(gw, "GET", "/status")[0] == 200  # /status answers whatever the readiness
    go.touch()
    assert eventually(lambda: admin(gw, "GET", "/status/ready")[0] == 200, 20), gw.logs()[-2000:]
    assert admin(gw, "GET", "/status/ready", port=status_port) == (200, {"message": "ready"})
