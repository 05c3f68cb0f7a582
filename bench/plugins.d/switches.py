#!/usr/bin/python3
"""Context switches per request (docs/performance.md "Session 5"): gatehouse with the bench plugin,
pinned to CPU 0 (its plugin server inherits it), wrk -t1 -c64 and an nginx upstream on CPU 1, as in
bench/plugins. Reads voluntary/nonvoluntary_ctxt_switches of every thread of the gateway and of its
plugin server from /proc around a 5 s run and prints them per request, with CPU µs per request.

  bench/plugins.d/switches.py GATEHOUSE_BIN js|cpp|cpp-pb ROUTE        (ROUTE: /n0, /n1 or /n16)

The plugin configuration is profile.py's (CPP_BENCH_FLAGS="-scheduling normal" for the C++ PDK's
SCHED_OTHER, START_WRAPPER="chrt -b 0" to run a server under SCHED_BATCH).
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import common  # noqa: E402
import profile  # noqa: E402


def switches(pids: list[int]) -> tuple[int, int]:
    voluntary = involuntary = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            for line in open(f"/proc/{pid}/task/{task}/status"):
                if line.startswith("voluntary_ctxt_switches"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    involuntary += int(line.split()[1])
    return voluntary, involuntary


def wrk(port: int, route: str, seconds: int) -> str:
    return subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{seconds}",
                           f"http://127.0.0.1:{port}{route}"], capture_output=True, text=True, check=True).stdout


def main():
    gatehouse, protocol, route = sys.argv[1:4]
    out = Path(tempfile.mkdtemp(prefix="gatehouse-switches-"))
    upstream_port, port = profile.free_port(), profile.free_port()
    upstream = common.start_nginx_upstream(out, upstream_port, "1")
    conf = profile.write_config(out, protocol, gatehouse, upstream_port, port)
    gateway = subprocess.Popen(["taskset", "-c", "0", gatehouse, "start", "-c", str(conf)],
                               stdout=open(out / "stdout.log", "w"), stderr=subprocess.STDOUT)
    try:
        profile.connect_when_up(port).close()
        wrk(port, route, 2)  # warm-up: instances started, connections pooled
        servers = [p for p in common.process_tree(gateway.pid) if p != gateway.pid]
        before = switches([gateway.pid]), switches(servers)
        cpu_before = common.cpu_seconds(gateway.pid), sum(common.cpu_seconds(p) for p in servers)
        requests = int(re.search(r"(\d+) requests in", wrk(port, route, 5)).group(1))
        after = switches([gateway.pid]), switches(servers)
        cpu_after = common.cpu_seconds(gateway.pid), sum(common.cpu_seconds(p) for p in servers)
        per = [(a - b) / requests for side in (0, 1) for a, b in zip(after[side], before[side])]
        print(f"{protocol} {route}: {requests} requests; per request: gateway voluntary/involuntary "
              f"{per[0]:.2f}/{per[1]:.2f}, plugin server {per[2]:.2f}/{per[3]:.2f}; CPU us gateway "
              f"{(cpu_after[0] - cpu_before[0]) * 1e6 / requests:.1f}, plugin server "
              f"{(cpu_after[1] - cpu_before[1]) * 1e6 / requests:.1f}")
    finally:
        gateway.terminate()
        gateway.wait(timeout=60)
        upstream.stop()


if __name__ == "__main__":
    main()
