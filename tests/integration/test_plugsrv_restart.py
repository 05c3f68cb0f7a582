"""Requests held while a plugin server restarts (docs/plugin-servers.md, "Restarts"; issue #19 chaos):
a server killed with SIGKILL is restarted at once and the requests that arrive meanwhile wait for it
(bounded by pluginserver_<n>_timeout) instead of failing; a server that does not come back fails them
once that bound has passed. Real gateway, real MsgPack:1 server (msgpack_server.py), real kill -9.
"""
import http.client
import os
import threading
import time

from test_plugsrv import get, kong_yml, mp_conf, restart_switch_conf, started_pids
from test_pluginservers import eventually


class Stream:
    """Clients sending sequential keep-alive requests back to back, each recorded as
    (start, end, status or error), with time.monotonic()."""

    def __init__(self, port, path, clients=4):
        self.port, self.path = port, path
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = None
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                outcome = response.status
            except (OSError, http.client.HTTPException) as e:
                outcome = repr(e)
                conn = None
            with self.lock:
                self.records.append((start, time.monotonic(), outcome))

    def count(self, since=0.0):
        with self.lock:
            return sum(1 for start, _, _ in self.records if start >= since)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=20)
        return list(self.records)


def listening(socket_path):
    """Is a socket listening at `socket_path`? (/proc/net/unix: flag __SO_ACCEPTCON)"""
    with open("/proc/net/unix") as table:
        next(table)
        for line in table:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == str(socket_path) and int(fields[3], 16) & 0x10000:
                return True
    return False


def kill_and_wait_dead(pid, socket_path):
    """SIGKILL, then spin until its socket no longer listens: kill(2) returns before the process has
    died, and its threads close its sockets after the main one is a zombie already. From then on no
    request can reach it. time.monotonic()."""
    os.kill(pid, 9)
    while listening(socket_path):
        pass
    return time.monotonic()


def test_requests_arriving_while_a_killed_server_restarts_wait_for_it(make_gateway, tmp_path, upstream):
    gw = make_gateway(kong_yml(upstream, {"/ok": "ok"}), conf_extra=mp_conf(tmp_path, "pluginserver_mp_timeout = 5000\n"))
    gw.start()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs()), gw.logs()
    stream = Stream(gw.port, "/ok")
    try:
        assert eventually(lambda: stream.count() >= 50, timeout=30), "the stream did not get going"
        first = started_pids(gw)[-1]
        killed_at = time.monotonic()
        dead_at = kill_and_wait_dead(first, tmp_path / "mp.socket")
        # The restart, then a good stream of requests after it.
        assert eventually(lambda: len(started_pids(gw)) >= 2 and "pluginserver 'mp' is ready" in
                          gw.logs().split(f"started mp, pid {started_pids(gw)[-1]}")[-1], timeout=30), gw.logs()
        restarted_seen = time.monotonic()
        assert eventually(lambda: stream.count(since=restarted_seen) >= 50, timeout=30), "no requests after the restart"
    finally:
        records = stream.stop()
    after_kill = [r for r in records if r[0] >= dead_at]
    failed_after = [r for r in after_kill if r[2] != 200]
    failed_before = [r for r in records if r[1] < killed_at and r[2] != 200]
    # Only requests in flight at the kill (started before the process was dead, ended after the
    # signal) may fail; every one that arrived later is served.
    assert not failed_before, failed_before[:5]
    assert not failed_after, (failed_after[:5], gw.logs()[-3000:])
    # Some of them arrived while the server was down or starting: they were held, not refused.
    held = [r for r in after_kill if r[0] < restarted_seen]
    assert held, "no request arrived while the server restarted: the test proved nothing"
    logs = gw.logs()
    assert "restarting pluginserver 'mp' in 0ms (restart #1)" in logs, logs


def test_a_server_that_does_not_come_back_fails_held_requests_at_the_timeout(make_gateway, tmp_path, upstream):
    gw = make_gateway(kong_yml(upstream, {"/ok": "ok"}),
                      conf_extra=restart_switch_conf(tmp_path, "pluginserver_mp_timeout = 1000\n"))
    gw.start()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs()), gw.logs()
    assert get(gw, "/ok")[0].status == 200
    (tmp_path / "down").write_text("")
    kill_and_wait_dead(started_pids(gw)[-1], tmp_path / "mp.socket")
    began = time.monotonic()
    response, _ = get(gw, "/ok")
    elapsed = time.monotonic() - began
    # Held for the server's timeout (1 s), then today's failure: 500 under fail_closed.
    assert response.status == 500
    assert 0.95 <= elapsed < 2.5, (elapsed, gw.logs()[-2500:])
    assert eventually(lambda: "plugin 'mp-fake' failed in phase access (unavailable): plugin server 'mp' is "
                      "not running (not ready within 1000 ms)" in gw.logs()), gw.logs()
    assert eventually(lambda: len(started_pids(gw)) >= 2), gw.logs()  # restarted at once, but mute
    # Once it serves again, so do its routes.
    (tmp_path / "down").unlink()
    os.kill(started_pids(gw)[-1], 9)
    assert eventually(lambda: get(gw, "/ok")[0].status == 200, timeout=15), gw.logs()


def test_reloads_under_a_request_stream_kill_no_server_and_keep_unchanged_instances(make_gateway, tmp_path,
                                                                                    upstream):
    # Each reload runs the query command, here one that takes 1.5 s, while a server that writes
    # 4 KB to its stdout per event is under load: its pipe (64 KB) fills in 16 events unless the
    # gateway keeps reading it during the reload. A full pipe blocks the server mid-event: it
    # misses its 1 s timeout and is killed (issue #19's reload series).
    base = mp_conf(tmp_path, "pluginserver_mp_timeout = 1000\n")
    query = next(line for line in base.splitlines() if line.startswith("pluginserver_mp_query_cmd"))
    slow_query = tmp_path / "query-mp.sh"
    slow_query.write_text(f"#!/bin/sh\nsleep 1.5\nexec {query.split(' = ', 1)[1]}\n")
    slow_query.chmod(0o755)
    conf = base.replace(query, f"pluginserver_mp_query_cmd = {slow_query}")
    gw = make_gateway(kong_yml(upstream, {"/chatty": "chatty"}), conf_extra=conf)
    gw.start()
    assert eventually(lambda: "pluginserver 'mp' is ready" in gw.logs(), timeout=20), gw.logs()
    stream = Stream(gw.port, "/chatty")
    try:
        assert eventually(lambda: stream.count() >= 20, timeout=30), "the stream did not get going"
        for generation in range(2, 6):  # the chatty route's plugin config stays the same
            gw.kong_yml.write_text(kong_yml(upstream, {"/chatty": "chatty", f"/plain{generation}": None}))
            began = time.monotonic()
            result = gw.cli("reload")
            assert result.returncode == 0, result.stderr
            assert eventually(lambda: f"configuration reloaded (generation {generation})" in gw.logs()), gw.logs()
            assert eventually(lambda: stream.count(since=began) >= 20, timeout=30), "no requests during the reload"
    finally:
        records = stream.stop()
    logs = gw.logs()
    assert "killing it" not in logs and "terminated" not in logs, logs[-3000:]
    assert len(started_pids(gw)) == 1
    failed = [r for r in records if r[2] != 200]
    assert not failed, failed[:5]
    # One instance for the unchanged config across every reload: none started again, none closed.
    assert logs.count("started instance") == 2 and logs.count("mode chatty") == 1, logs[-3000:]
    assert "closed instance" not in logs
