"""Process lifecycle through the CLI: health, reload (under traffic, and a bad config refused), stop."""
import http.client
import json
import signal
import threading
import time

from test_proxy import kong_yml, get


def test_health_reload_and_stop(make_gateway, upstream):
    gw = make_gateway(kong_yml(upstream.server_port)).start()
    health = gw.cli("health")
    assert health.returncode == 0, health.stderr
    assert "healthy" in health.stdout

    # Traffic on keep-alive connections while the configuration is reloaded several times.
    failures, done = [], threading.Event()
    count = [0]

    def traffic():
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        while not done.is_set():
            try:
                conn.request("GET", "/api/x")
                resp = conn.getresponse()
                resp.read()
                count[0] += 1
                if resp.status not in (200,):
                    failures.append(resp.status)
            except Exception as e:  # noqa: BLE001 - any failure counts
                failures.append(repr(e))
                conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)

    # Daemon threads, stopped in `finally`: a failed assertion must not leave them spinning.
    threads = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        reload_under_traffic(gw, upstream)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert failures == [], failures[:5]
    assert count[0] > 50
    assert get(gw, "/added/x")[0].status == 200
    assert "reload refused" in gw.logs()

    stop = gw.cli("stop")
    assert stop.returncode == 0, stop.stderr
    assert gw.proc.wait(timeout=10) == 0
    assert gw.cli("health").returncode != 0


def reload_under_traffic(gw, upstream):
    # A new route appears through reload.
    gw.kong_yml.write_text(kong_yml(upstream.server_port, extra_routes="""      - name: added
        paths: ["/added"]
"""))
    for _ in range(3):
        reloaded = gw.cli("reload")
        assert reloaded.returncode == 0, reloaded.stderr
        assert "gatehouse reloaded" in reloaded.stdout
        # `reload` returns once the gateway has swapped: the new route already serves.
        assert get(gw, "/added/x")[0].status == 200
        time.sleep(0.5)

    # A broken kong.yml is refused; the previous configuration keeps serving.
    gw.kong_yml.write_text("_format_version: \"3.0\"\nservices:\n  - name: bad\n    url: not a url\n")
    refused = gw.cli("reload")
    assert refused.returncode == 1, refused.stdout
    assert "reload refused, the previous configuration keeps serving" in refused.stderr
    assert "kong.yml:4: services[0] (name 'bad').url: invalid URL 'not a url'" in refused.stderr, refused.stderr
    time.sleep(1.0)


def test_bad_config_refuses_to_start_with_file_and_field(make_gateway, upstream):
    gw = make_gateway("_format_version: \"3.0\"\nroutes:\n  - name: r\n    paths: [\"nope\"]\n")
    gw.start(expect_ok=False)
    assert gw.proc.wait(timeout=20) != 0
    out = gw.logs()
    assert "kong.yml:4" in out and "paths[0]" in out, out
    check = gw.cli("config", "check")
    assert check.returncode == 1 and "paths[0]" in check.stderr


def test_config_warnings_go_to_stderr_and_node_id_is_a_known_property(make_gateway):
    # stdout carries command output that scripts parse (`plugins --json`); kong.conf warnings must
    # not end up in it. `node_id` is used (kong.node.get_id), so it is not "unknown".
    gw = make_gateway('_format_version: "3.0"\n',
                      conf_extra="node_id = 6f8b5c3e-0c4e-4a57-9d5b-1f2e3d4c5b6a\nmy_custom_thing = 1\n")
    result = gw.cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["servers"] == []
    assert "unknown property 'my_custom_thing'" in result.stderr
    assert "node_id" not in result.stderr


def test_sigterm_as_soon_as_the_proxy_port_answers_drains(make_gateway, upstream):
    """A SIGTERM sent the moment the proxy port accepts is a graceful stop (exit 0), never the
    default action that kills the process: signals are caught before any port opens. Before, the
    signal handler was installed by a task the control thread ran later, and a fast test runner
    (test_smuggling's short cases) saw `exit status -15`."""
    for attempt in range(5):
        gw = make_gateway(kong_yml(upstream.server_port)).start()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=20) == 0, f"attempt {attempt}:\n" + gw.logs()[-2000:]
