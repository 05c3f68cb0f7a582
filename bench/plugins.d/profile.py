#!/usr/bin/python3
"""Deterministic per-PDK-call profile of gatehouse (docs/performance.md, Plugins): the gateway under
callgrind (instructions), or strace attached per route (syscalls), or plain; one keep-alive client
connection sends a fixed number of requests to each route in turn:
  /bare (no plugin), /n0, /n1, /n16 (the bench plugin making 0, 1, 16 kong.request.get_header calls).
callgrind dumps one profile per route (callgrind_control -d), so per call = (n16 - n1) / (15 x requests)
and per event = (n0 - bare) / requests; strace writes strace-<route>.txt (strace -c -f -p).

  bench/plugins.d/profile.py GATEHOUSE_BIN js|cpp|cpp-pb callgrind|strace OUTDIR [REQUESTS=200]

js = bench/plugins.d/js-bench on the npm kong-js-pluginserver (MsgPack:1), cpp = cpp-bench (Gatehouse:1, the
protocol it negotiates; CPP_BENCH_BIN, default <gatehouse dir>/examples/bin/cpp-bench), cpp-pb = the same
plugin forced to the classic ProtoBuf:1 (pluginserver_<name>_protocol). CPP_BENCH_FLAGS are added to
cpp-bench's command (e.g. "-scheduling normal"); START_WRAPPER goes in front of either server's start
command (e.g. "chrt -b 0": run node under SCHED_BATCH). The upstream is
tests/support/echo_upstream.py. valgrind 3.19 lacks pidfd_open, which gatehouse waits for its query
commands with: pidfd_shim.c (next to this file) is compiled and preloaded to emulate it.
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CALLS = [0, 1, 16]
WRAPPER = os.environ["START_WRAPPER"] + " " if os.environ.get("START_WRAPPER") else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin_conf(protocol: str, gatehouse: str, prefix: Path) -> tuple[str, str]:
    if protocol == "js":
        js, plugins = ROOT / "tools/node_modules/.bin/kong-js-pluginserver", HERE / "js-bench"
        return "js-bench", (f"plugins = bundled, js-bench\npluginserver_names = js\n"
                            f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
                            f"pluginserver_js_start_cmd = {WRAPPER}{js} --plugins-directory {plugins} --kong-prefix {prefix}\n"
                            f"pluginserver_js_query_cmd = {js} --plugins-directory {plugins} --dump-all-plugins\n"
                            "pluginserver_js_timeout = 600000\n")
    binary = os.environ.get("CPP_BENCH_BIN", str(Path(gatehouse).parent / "examples/bin/cpp-bench"))
    binary += " " + os.environ.get("CPP_BENCH_FLAGS", "")
    return "cpp-bench", ("plugins = bundled, cpp-bench\npluginserver_names = cpp-bench\n"
                         f"pluginserver_cpp_bench_socket = {prefix}/cpp-bench.socket\n"
                         f"pluginserver_cpp_bench_start_cmd = {WRAPPER}{binary} -kong-prefix {prefix}\n"
                         f"pluginserver_cpp_bench_query_cmd = {binary} -dump -kong-prefix {prefix}\n"
                         "pluginserver_cpp_bench_timeout = 600000\n"
                         + ("pluginserver_cpp_bench_protocol = ProtoBuf:1\n" if protocol == "cpp-pb" else ""))


def write_config(out: Path, protocol: str, gatehouse: str, upstream: int, port: int) -> Path:
    prefix = out / "prefix"
    prefix.mkdir(parents=True, exist_ok=True)
    plugin, extra = plugin_conf(protocol, gatehouse, prefix)
    routes = '      - name: bare\n        paths: ["/bare"]\n' + "".join(
        f'      - name: n{n}\n        paths: ["/n{n}"]\n        plugins:\n          - name: {plugin}\n'
        f'            config:\n              calls: {n}\n' for n in CALLS)
    (out / "kong.yml").write_text('_format_version: "3.0"\nservices:\n  - name: up\n'
                                  f'    url: http://127.0.0.1:{upstream}\n    routes:\n' + routes)
    conf = out / "gatehouse.conf"
    conf.write_text(f"prefix = {prefix}\nproxy_listen = 127.0.0.1:{port}\nadmin_listen = 127.0.0.1:{free_port()}\n"
                    f"declarative_config = {out / 'kong.yml'}\nnginx_worker_processes = 1\nlog_level = error\n"
                    f"proxy_error_log = {out / 'error.log'}\nproxy_access_log = off\n" + extra)
    return conf


def gateway_command(tool: str, out: Path, gatehouse: str, conf: Path) -> tuple[list, dict | None]:
    cmd = [gatehouse, "start", "-c", str(conf)]
    if tool not in ("callgrind", "dhat"):
        return cmd, None
    shim = out / "pidfd_shim.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(shim), str(HERE / "pidfd_shim.c"), "-lpthread"],
                   check=True)
    valgrind = ["valgrind", f"--tool={tool}"]
    valgrind += ([f"--callgrind-out-file={out}/cg.%p", "--dump-instr=no"] if tool == "callgrind"
                 else [f"--dhat-out-file={out}/dhat.%p"])
    return valgrind + cmd, dict(os.environ, LD_PRELOAD=str(shim))


def main():
    gatehouse, protocol, tool, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    requests = int(sys.argv[5]) if len(sys.argv) > 5 else 200
    out.mkdir(parents=True, exist_ok=True)
    upstream_port, port = free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, str(ROOT / "tests/support/echo_upstream.py"), str(upstream_port)],
                                stdout=subprocess.DEVNULL)
    conf = write_config(out, protocol, gatehouse, upstream_port, port)
    cmd, env = gateway_command(tool, out, gatehouse, conf)
    gateway = subprocess.Popen(cmd, env=env, stdout=open(out / "stdout.log", "w"), stderr=subprocess.STDOUT)
    try:
        client = connect_when_up(port)

        def send(path: str, n: int):
            for _ in range(n):
                client.request("GET", path)
                response = client.getresponse()
                response.read()
                assert response.status == 200, (path, response.status)

        routes = ["/bare"] + [f"/n{n}" for n in CALLS]
        for path in routes:
            send(path, 20)  # warm-up: instances started, connections pooled
        if tool == "callgrind":
            subprocess.run(["callgrind_control", "-z", str(gateway.pid)], check=True, stdout=subprocess.DEVNULL)
        for path in routes:
            name = path.strip("/")
            tracer = None
            if tool == "strace":
                tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out / f"strace-{name}.txt"), "-p",
                                           str(gateway.pid)], stderr=subprocess.DEVNULL)
                time.sleep(2)  # attached to every thread
            send(path, requests)
            if tracer:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=60)
            if tool == "callgrind":
                subprocess.run(["callgrind_control", "-d", name, str(gateway.pid)], check=True,
                               stdout=subprocess.DEVNULL)
        client.close()
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=120)
        upstream.kill()


def connect_when_up(port: int) -> http.client.HTTPConnection:
    for _ in range(1200):
        try:
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            client.request("GET", "/bare")
            client.getresponse().read()
            return client
        except OSError:
            time.sleep(0.25)
    raise SystemExit("gatehouse did not come up")


if __name__ == "__main__":
    main()
