"""Plugin-server faults, reloads and log lines through the gatehouse binary, with the MsgPack:1
server of tests/integration/pluginservers/msgpack_server.py (a real process the gateway supervises).
"""
import http.client
import json
import os
import re
import time

from conftest import ROOT
from test_pluginservers import eventually
from test_plugsrv_accept import cpu_seconds
from test_prometheus import labels, samples, scrape

SERVER = ROOT / "tests" / "integration" / "pluginservers" / "msgpack_server.py"


def mp_conf(tmp_path, extra=""):
    sock = tmp_path / "mp.socket"
    return (f"plugins = bundled, mp-fake\npluginserver_names = mp\n"
            f"pluginserver_mp_query_cmd = /usr/bin/python3 {SERVER} --dump\n"
            f"pluginserver_mp_start_cmd = /usr/bin/python3 {SERVER} {sock}\n"
            f"pluginserver_mp_socket = {sock}\n" + extra)


def restart_switch_conf(tmp_path, extra=""):
    """mp_conf with a start command that serves only while `tmp_path/down` does not exist; with it, the
    (re)started process runs but never opens its socket: a server that does not come back."""
    base = mp_conf(tmp_path, extra)
    real_start = next(line for line in base.splitlines() if line.startswith("pluginserver_mp_start_cmd"))
    script = tmp_path / "start-mp.sh"
    script.write_text(f"#!/bin/sh\n[ -e {tmp_path / 'down'} ] && exec sleep 600\n"
                      f"exec {real_start.split(' = ', 1)[1]}\n")
    script.chmod(0o755)
    return base.replace(real_start, f"pluginserver_mp_start_cmd = {script}")


def kong_yml(upstream, routes):
    """routes: {path: mode or None (no plugin)}; every route gets its own mp-fake instance."""
    text = (f'_format_version: "3.0"\nservices:\n  - name: up\n'
            f"    url: http://127.0.0.1:{upstream.server_address[1]}\n    routes:\n")
    for i, (path, mode) in enumerate(routes.items()):
        text += f"      - name: r{i}\n        paths: [\"{path}\"]\n"
        if mode:
            text += f"        plugins:\n          - name: mp-fake\n            config:\n              mode: {mode}\n"
    return text


def get(gw, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=timeout)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def started_pids(gw):
    return [int(m) for m in re.findall(r"\[pluginserver\] started mp, pid (\d+)", gw.logs())]


# ---- item 8: a server that floods notifications ----

def test_notification_flood_ends_at_the_call_timeout_and_restarts_the_server(make_gateway, tmp_path, upstream):
    gw = make_gateway(kong_yml(upstream, {"/flood": "flood", "/ok": "ok"}),
                      conf_extra=mp_conf(tmp_path, "pluginserver_mp_timeout = 1000\n"))
    gw.start()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs()), gw.logs()
    first = started_pids(gw)
    began = time.monotonic()
    response, body = get(gw, "/flood", timeout=8)
    elapsed = time.monotonic() - began
    assert response.status == 504, body
    assert 0.9 <= elapsed < 4, elapsed  # the 1000 ms call deadline (+ StartInstance), not the flood's end
    logs = gw.logs()
    assert "flooding notifications" in logs
    assert re.search(r"plugin 'mp-fake' failed in phase access \(timeout\): .*read timed out", logs), logs
    # The supervisor's thread logs the kill, maybe a moment after the 504 went out.
    assert eventually(lambda: "did not answer in time" in gw.logs() and "killing it" in gw.logs()), gw.logs()
    # Cut off and restarted: a new process, which serves again.
    assert eventually(lambda: len(started_pids(gw)) >= len(first) + 1), gw.logs()
    assert eventually(lambda: get(gw, "/ok")[0].status == 200), gw.logs()
    # The request's log event meets the restarted server, which floods again until that event's
    # deadline: the same end. Then nothing keeps spinning: the gateway is idle for the next second.
    assert eventually(lambda: "failed in phase log (timeout)" in gw.logs()), gw.logs()
    before = cpu_seconds(gw.proc.pid)
    time.sleep(1.0)
    assert cpu_seconds(gw.proc.pid) - before < 0.15


# ---- item 9: plugin-server properties on reload ----

def reload_to(gw, conf_text, generation):
    gw.conf.write_text(conf_text)
    result = gw.cli("reload")
    assert result.returncode == 0, result.stderr
    assert eventually(lambda: f"configuration reloaded (generation {generation})" in gw.logs()), gw.logs()


def timed_get(gw, path):
    began = time.monotonic()
    response, _ = get(gw, path, timeout=10)
    return response.status, time.monotonic() - began


def test_reload_applies_the_call_timeout_both_ways(make_gateway, tmp_path, upstream):
    # The server answers after 1.5 s: a 500 ms timeout gives 504, a 5000 ms one lets it answer.
    gw = make_gateway(kong_yml(upstream, {"/slow": "slow"}),
                      conf_extra=mp_conf(tmp_path, "pluginserver_mp_timeout = 5000\n"), workers=1)
    gw.start()
    base = gw.conf.read_text()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs()), gw.logs()
    status, elapsed = timed_get(gw, "/slow")
    assert status == 200 and 1.4 <= elapsed < 4, (status, elapsed)

    reload_to(gw, base.replace("pluginserver_mp_timeout = 5000", "pluginserver_mp_timeout = 500"), 2)
    status, elapsed = timed_get(gw, "/slow")
    assert status == 504 and 0.4 <= elapsed < 1.4, (status, elapsed)  # not the 5 s of the start

    # The timeout killed the server. Each request's log event (slow too) either reached the dying
    # server (it fails at once: it may have run in part) or was held for the restart, timed out on
    # the new one and killed it again. Once both are over and the server is back, a longer timeout
    # applies again.
    log_events = "gatehouse_plugin_events_total" + labels(plugin="mp-fake", phase="log")
    assert eventually(lambda: samples(scrape(gw.admin_port)[1]).get(log_events) == 2, timeout=15), gw.logs()
    assert eventually(lambda: scrape(gw.admin_port, "/status/ready")[0].status == 200, timeout=15), gw.logs()
    reload_to(gw, base, 3)
    status, elapsed = timed_get(gw, "/slow")
    assert status == 200 and 1.4 <= elapsed < 4, (status, elapsed, gw.logs())


# ---- item 13: log lines and small Kong behaviours ----

def ready_gateway(make_gateway, tmp_path, upstream, routes, extra="", workers=1):
    gw = make_gateway(kong_yml(upstream, routes), conf_extra=mp_conf(tmp_path, extra), workers=workers)
    gw.start()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs()), gw.logs()
    return gw


def test_failure_lines_name_the_phase_and_are_rate_limited(make_gateway, tmp_path, upstream):
    gw = ready_gateway(make_gateway, tmp_path, upstream, {"/err": "error"})
    for _ in range(30):
        assert get(gw, "/err")[0].status == 500
    logs = gw.logs()
    # The access failure and the log-phase one, each named by its own phase.
    assert "plugin 'mp-fake' failed in phase access (error): boom" in logs, logs
    assert "plugin 'mp-fake' failed in phase log (error): boom" in logs, logs
    # 30 failures in well under a second: one line per phase and second, not one per request.
    assert logs.count("failed in phase access") <= 2, logs
    time.sleep(1.05)  # the rate limit's interval
    get(gw, "/err")
    assert eventually(lambda: re.search(r"failed in phase access \(error\): boom \(\d+ more such failures",
                                        gw.logs())), gw.logs()


def test_failure_while_the_server_is_down_names_the_phase(make_gateway, tmp_path, upstream):
    gw = make_gateway(kong_yml(upstream, {"/ok": "ok"}),
                      conf_extra=restart_switch_conf(tmp_path, "pluginserver_mp_timeout = 300\n"))
    gw.start()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs()), gw.logs()
    (tmp_path / "down").write_text("")
    pid = started_pids(gw)[-1]
    os.kill(pid, 9)
    assert eventually(lambda: f"(pid {pid}) terminated" in gw.logs()), gw.logs()
    assert get(gw, "/ok")[0].status == 500  # held for the 300 ms timeout: the server does not come back
    logs = gw.logs()
    assert "plugin 'mp-fake' failed in phase access (unavailable): plugin server 'mp' is not running" in logs, logs
    assert eventually(lambda: "plugin 'mp-fake' failed in phase log (unavailable)" in gw.logs()), gw.logs()
    assert "failed in phase  (" not in gw.logs()


def test_kong_log_notice_is_logged_at_notice(make_gateway, tmp_path, upstream):
    gw = ready_gateway(make_gateway, tmp_path, upstream, {"/n": "notice"})
    assert get(gw, "/n")[0].status == 200
    assert eventually(lambda: re.search(r"\[notice\] \d+ \[mp-fake\] notice from mp-fake", gw.logs())), gw.logs()


def test_get_ctx_answers_kong_timing_keys(make_gateway, tmp_path, upstream):
    gw = ready_gateway(make_gateway, tmp_path, upstream, {"/c": "ctx"})
    before = time.time() * 1000
    response, _ = get(gw, "/c")
    after = time.time() * 1000
    assert response.status == 200
    processing = json.loads(response.getheader("x-ctx-kong_processing_start"))
    access = json.loads(response.getheader("x-ctx-kong_access_start"))
    assert isinstance(processing, int) and isinstance(access, int), (processing, access)
    assert before - 5 <= processing <= access <= after + 5, (before, processing, access, after)


def test_gateway_made_responses_carry_response_latency(make_gateway, tmp_path, upstream):
    gw = make_gateway(kong_yml(upstream, {"/up": None}))
    gw.start()
    made, _ = get(gw, "/nowhere")  # no route: Kong's 404
    assert made.status == 404
    assert re.fullmatch(r"\d+", made.getheader("X-Kong-Response-Latency") or ""), made.getheaders()
    proxied, _ = get(gw, "/up")
    assert proxied.status == 200
    assert proxied.getheader("X-Kong-Response-Latency") is None
    assert proxied.getheader("X-Kong-Proxy-Latency") is not None
    # Off with the latency tokens, as in Kong.
    gw2 = make_gateway(kong_yml(upstream, {"/up": None}), conf_extra="headers = server_tokens\n")
    gw2.start()
    assert get(gw2, "/nowhere")[0].getheader("X-Kong-Response-Latency") is None


def test_readiness_probe_opens_no_connection(make_gateway, tmp_path, upstream):
    gw = ready_gateway(make_gateway, tmp_path, upstream, {"/ok": "ok"})
    assert get(gw, "/ok")[0].status == 200  # the server has served a real connection since
    assert eventually(lambda: "started instance" in gw.logs()), gw.logs()
    assert "peer closed before sending anything" not in gw.logs()


def test_restarted_server_gets_no_request_on_a_stale_pooled_connection(make_gateway, tmp_path, upstream):
    gw = ready_gateway(make_gateway, tmp_path, upstream, {"/ok": "ok"})
    for _ in range(3):
        assert get(gw, "/ok")[0].status == 200  # a pooled connection to this process
    # Their log-phase events are over (one still running would fail at the kill, legitimately).
    log_events = "gatehouse_plugin_events_total" + labels(plugin="mp-fake", phase="log")
    assert eventually(lambda: samples(scrape(gw.admin_port)[1]).get(log_events) == 3), gw.logs()
    pid = started_pids(gw)[-1]
    os.kill(pid, 9)
    assert eventually(lambda: gw.logs().count("pluginserver 'mp' is ready") == 2, timeout=15), gw.logs()
    new_pid = started_pids(gw)[-1]
    assert get(gw, "/ok")[0].status == 200
    # One StartInstance on the new process, on a new connection: no failed attempt on the old one.
    since_restart = gw.logs().split(f"started mp, pid {new_pid}", 1)[1]
    assert "lost (" not in since_restart, since_restart
    assert since_restart.count(f"[mp:{new_pid}] started instance") == 1, since_restart
