"""Shared measuring code for gatehouse benchmarks (stdlib only; run with /usr/bin/python3).

The number that matters on a shared, noisy VM is the *server CPU time per request*: the utime+stime
delta of the server's whole process tree (from /proc/<pid>/stat, every thread included) divided by the
requests wrk completed. Throughput swings 2-4x between identical runs here, CPU/request does not
(see /work/shared/reference/cpp-stack.md section 8). Everything below exists to measure that number
fairly: pinned CPUs, the same upstream and wrk settings for every target, and interleaved rounds.

Typical use (see bench/proxy):
    up = start_nginx_upstream(workdir, port, cpu="1")
    gh = start_gatehouse(workdir, conf_text, kong_yml_text, port, cpu="0")
    warm_up(url); m = measure(gh.pid, url, WrkSettings(...)); gh.stop()
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------------
# Processes


class Server:
    """A long-running server process started by a benchmark; stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cpu: str | None, env=None):
        self.name = name
        self.log_path = log_path
        pinned = ["taskset", "-c", cpu] if cpu else []
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(pinned + argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.pid = self.proc.pid  # taskset execs, so this is the server's own pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_for_port(port: int, server: Server, timeout: float = 15.0, host: str = "127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.name} did not listen on {port} within {timeout}s:\n{server.log_tail()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (nginx master + workers; plugin servers spawned by gatehouse)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                pending.extend(int(c) for c in children)
        except OSError:
            continue  # exited meanwhile
    return found


def cpu_seconds(pid: int) -> float:
    """utime+stime of one process, all threads included (fields 14 and 15 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def split_cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process itself, all its descendants): gatehouse vs the plugin servers it spawned.

    Descendants are listed at call time: a plugin server that exits between two calls takes its CPU time
    with it (only a running one is counted), so compare calls made while the same servers run.
    """
    tree = process_tree(pid)
    return cpu_seconds(tree[0]), sum(cpu_seconds(p) for p in tree[1:])


# --------------------------------------------------------------------------------------------------
# Servers used by benchmarks

NGINX_COMMON = """
daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 1000000;
{body}
}}
"""


def start_nginx(name: str, workdir: Path, body: str, workers: int, cpu: str | None) -> Server:
    prefix = workdir / name
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_COMMON.format(workers=workers, prefix=prefix, body=body))
    return Server(name, ["nginx", "-p", str(prefix), "-c", str(conf)], prefix / "stdout.log", cpu)


def start_nginx_upstream(workdir: Path, port: int, cpu: str | None) -> Server:
    """The fixed-response upstream every target proxies to: nginx `return 200 "ok"`."""
    body = f"""
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ return 200 "ok"; }}
    }}"""
    server = start_nginx("upstream-nginx", workdir, body, workers=1, cpu=cpu)
    wait_for_port(port, server)
    return server


def start_nginx_proxy(workdir: Path, port: int, upstream_port: int, workers: int, cpu: str | None,
                      listen_flags: str = "", server_directives: str = "", name: str = "proxy-nginx") -> Server:
    """nginx `proxy_pass` with upstream keep-alive, adding the X-Forwarded-* headers Kong adds too.
    `listen_flags` (e.g. "ssl") and `server_directives` (e.g. ssl_certificate lines) go into its server block."""
    body = f"""
    upstream backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} {listen_flags} reuseport backlog=4096;
        {server_directives}
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Path $request_uri;
        }}
    }}"""
    server = start_nginx(name, workdir, body, workers=workers, cpu=cpu)
    wait_for_port(port, server)
    return server


def start_redis(workdir: Path, port: int, cpu: str | None) -> Server:
    """A real redis-server on 127.0.0.1:port, no persistence, its files in workdir/redis."""
    rdir = workdir / "redis"
    rdir.mkdir(exist_ok=True)
    server = Server("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir),
                                     "--save", "", "--appendonly", "no"], rdir / "stdout.log", cpu)
    wait_for_port(port, server)
    return server


def gatehouse_binary() -> Path:
    binary = Path(os.environ.get("GATEHOUSE_BIN", ROOT / "build" / "gatehouse"))
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"gatehouse binary not found at {binary}: build it or set GATEHOUSE_BIN")
    return binary


def start_gatehouse(workdir: Path, port: int, kong_yml: str, workers: int, cpu: str | None,
                    extra_conf: str = "", env=None, binary: Path | None = None) -> Server:
    """`gatehouse start` with access logging off and log_level = error (same as the nginx targets).
    `binary` (default: gatehouse_binary()) lets a bench run a baseline build beside the one under test."""
    gdir = workdir / "gatehouse"
    gdir.mkdir(parents=True, exist_ok=True)
    (gdir / "kong.yml").write_text(kong_yml)
    conf = gdir / "gatehouse.conf"
    conf.write_text(f"prefix = {gdir / 'prefix'}\n"
                    f"proxy_listen = 127.0.0.1:{port}\n"
                    f"admin_listen = 127.0.0.1:{free_port()}\n"
                    f"declarative_config = {gdir / 'kong.yml'}\n"
                    f"nginx_worker_processes = {workers}\n"
                    "log_level = error\n"
                    f"proxy_error_log = {gdir / 'error.log'}\n"
                    "proxy_access_log = off\n" + extra_conf)
    server = Server("gatehouse", [str(binary or gatehouse_binary()), "start", "-c", str(conf)], gdir / "stdout.log", cpu,
                    env=dict(os.environ, **(env or {})))
    wait_for_port(port, server)
    return server


# --------------------------------------------------------------------------------------------------
# Load generation and measurement


@dataclasses.dataclass
class WrkSettings:
    threads: int = 1
    connections: int = 64
    duration_s: int = 10
    cpu: str | None = "1"  # wrk is pinned away from the server under test
    script: Path | None = None  # optional wrk Lua script (e.g. pipelining, custom headers)


@dataclasses.dataclass
class WrkResult:
    requests: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors + non-2xx/3xx responses
    raw: str


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _latency_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """Reads the numbers out of `wrk --latency` text output (wrk 4.1)."""
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M))
    requests = re.search(r"^\s+(\d+) requests in", output, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not (requests and rate and "50" in percentiles and "99" in percentiles):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non2xx.group(1)) if non2xx else 0
    return WrkResult(int(requests.group(1)), float(rate.group(1)), _latency_ms(percentiles["50"]),
                     _latency_ms(percentiles["99"]), errors, output)


def run_wrk(url: str, settings: WrkSettings) -> WrkResult:
    pinned = ["taskset", "-c", settings.cpu] if settings.cpu else []
    argv = pinned + ["wrk", f"-t{settings.threads}", f"-c{settings.connections}", f"-d{settings.duration_s}s",
                     "--latency", url]
    if settings.script:
        argv[len(pinned) + 1:len(pinned) + 1] = ["-s", str(settings.script)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=settings.duration_s + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}")
    return parse_wrk(done.stdout)


def warm_up(url: str, seconds: int = 2, cpu: str | None = "1"):
    """Opens the upstream pools and faults in code and memory before anything is measured."""
    run_wrk(url, WrkSettings(duration_s=seconds, cpu=cpu))


@dataclasses.dataclass
class Measurement:
    target: str
    requests: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float  # server under test only (the upstream and wrk are excluded)
    errors: int
    loadavg_1m: float  # load average just before the run: high means others were busy on the box


def loadavg_1m() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def measure(target: str, server_pid: int, url: str, settings: WrkSettings) -> Measurement:
    load = loadavg_1m()
    cpu_before = tree_cpu_seconds(server_pid)
    wrk = run_wrk(url, settings)
    cpu_used = tree_cpu_seconds(server_pid) - cpu_before
    per_request = cpu_used * 1e6 / wrk.requests if wrk.requests else float("nan")
    return Measurement(target, wrk.requests, wrk.req_per_s, wrk.p50_ms, wrk.p99_ms, per_request, wrk.errors, load)


@dataclasses.dataclass
class SplitMeasurement(Measurement):
    """cpu_us_per_req is the server process alone; its descendants (plugin servers) are counted here."""
    children_cpu_us_per_req: float


def measure_split(target: str, server_pid: int, url: str, settings: WrkSettings) -> SplitMeasurement:
    """Like measure(), with the server's own CPU and its child processes' CPU per request kept apart."""
    load = loadavg_1m()
    own_before, children_before = split_cpu_seconds(server_pid)
    wrk = run_wrk(url, settings)
    own_after, children_after = split_cpu_seconds(server_pid)
    per_request = (lambda seconds: seconds * 1e6 / wrk.requests) if wrk.requests else (lambda _: float("nan"))
    return SplitMeasurement(target, wrk.requests, wrk.req_per_s, wrk.p50_ms, wrk.p99_ms,
                            per_request(own_after - own_before), wrk.errors, load,
                            per_request(children_after - children_before))


def check_response(url: str, expect_body: bytes = b"ok"):
    """One request with a plain socket, so a misconfigured target fails loudly instead of benchmarking 404s."""
    host, port, path = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)?", url).groups()
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"GET {path or '/'} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    status = reply.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" " or not reply.endswith(expect_body):
        raise RuntimeError(f"{url} answered unexpectedly:\n{reply[:600].decode(errors='replace')}")


def profile(target: str, server_pid: int, url: str, settings: WrkSettings, out_dir: Path) -> Path:
    """One extra wrk run under `perf record` (cpu-clock, call graphs) of the server's process tree.

    Not part of the measured rounds: sampling costs the server CPU. Writes <target>.perf.data and a flat
    <target>.perf.txt (self time by DSO, then by DSO and symbol) into out_dir, returns the text file.
    """
    require_tools("perf")
    out_dir.mkdir(parents=True, exist_ok=True)
    data, report = out_dir / f"{target}.perf.data", out_dir / f"{target}.perf.txt"
    pids = ",".join(str(p) for p in process_tree(server_pid))
    recorder = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-g", "-p", pids,
                                 "-o", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let perf attach before load starts
    try:
        run_wrk(url, settings)
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)
    sections = []
    for sort_key in ("dso", "dso,sym"):  # kernel vs user split first, then the hot symbols
        flat = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio", "-g", "none",
                               "--percent-limit", "0.4", "--sort", sort_key], capture_output=True, text=True)
        sections.append(flat.stdout)
    report.write_text("\n".join(sections))
    return report


# --------------------------------------------------------------------------------------------------
# Output

FIELDS = ["round", "target", "requests", "req_per_s", "p50_ms", "p99_ms", "cpu_us_per_req", "errors", "loadavg_1m"]


def row(round_no: int, m: Measurement) -> dict:
    return {"round": round_no, **dataclasses.asdict(m)}


def write_csv(path: Path, rows: list[dict], metadata: dict, fields: list[str] = FIELDS):
    """CSV with one row per measurement; run metadata (command, machine, settings) as leading # lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        for key, value in metadata.items():
            f.write(f"# {key}: {value}\n")
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()})


def format_table(rows: list[dict]) -> str:
    header = f"{'round':>5}  {'target':<10} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} " \
             f"{'CPU us/req':>10} {'errors':>6} {'load1':>6}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['round']:>5}  {r['target']:<10} {r['requests']:>9} {r['req_per_s']:>9.0f} "
                     f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_us_per_req']:>10.1f} {r['errors']:>6} "
                     f"{r['loadavg_1m']:>6.2f}")
    return "\n".join(lines)


def interleaved_order(names: list, round_no: int) -> list:
    """ABBA...: every target goes first in half of the rounds."""
    return names if round_no % 2 == 1 else list(reversed(names))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def format_summary(rows: list[dict], targets: list[str]) -> str:
    lines = [f"{'median of rounds':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10}"]
    for target in targets:
        mine = [r for r in rows if r["target"] == target]
        lines.append(f"{target:<16} {median([r['req_per_s'] for r in mine]):>9.0f} "
                     f"{median([r['p50_ms'] for r in mine]):>8.2f} {median([r['p99_ms'] for r in mine]):>8.2f} "
                     f"{median([r['cpu_us_per_req'] for r in mine]):>10.1f}")
    return "\n".join(lines)


def format_ratios(rows: list[dict], pairs: list[tuple[str, str]]) -> str:
    """CPU per request of each (target, reference) pair, per round and the median of those: on a
    loaded machine the ratio within one round moves less than either figure."""
    lines = []
    for target, reference in pairs:
        ratios = []
        for round_no in sorted({r["round"] for r in rows}):
            mine = [r["cpu_us_per_req"] for r in rows if r["round"] == round_no and r["target"] == target]
            ref = [r["cpu_us_per_req"] for r in rows if r["round"] == round_no and r["target"] == reference]
            if mine and ref and ref[0] > 0:
                ratios.append(mine[0] / ref[0])
        if ratios:
            per_round = ", ".join(f"{r:.2f}" for r in ratios)
            lines.append(f"{target} / {reference}: {median(ratios):.2f}x (rounds: {per_round})")
    return "\n".join(lines)


def machine_description() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} vCPU, {model}, kernel {os.uname().release}"


def require_tools(*names: str):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)} (scripts/setup installs them)")
