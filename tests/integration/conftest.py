"""Shared fixtures: real gatehouse processes, real upstream servers, real sockets.

Sanitizers (the asan flavour): every process a test starts, the gateway and the plugin servers it
starts, runs with ASAN_OPTIONS/UBSAN_OPTIONS set below. A test fails when any of them writes a sanitizer
report (ASan/LSan write to a file under SANITIZER_DIR, which survives a plugin server whose stderr
is already closed at shutdown; UBSan ignores log_path, so its reports are found in the output), when
the gateway exits non-zero after SIGTERM, or when it needs SIGKILL to stop.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import echo_upstream  # noqa: E402

BUILD_DIR = Path(os.environ.get("GATEHOUSE_BUILD_DIR", ROOT / "build"))
GATEHOUSE = BUILD_DIR / "gatehouse"

# ---- sanitizers ----------------------------------------------------------------------------------

SANITIZER_DIR = Path(tempfile.mkdtemp(prefix="gatehouse-sanitizer-"))
# Ours come last: they win over the same options in an inherited value.
os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [
    os.environ.get("ASAN_OPTIONS"), "halt_on_error=1", "detect_leaks=1", "print_stacktrace=1",
    "abort_on_error=0", f"log_path={SANITIZER_DIR}/asan"]))
os.environ["UBSAN_OPTIONS"] = ":".join(filter(None, [
    os.environ.get("UBSAN_OPTIONS"), "halt_on_error=1", "print_stacktrace=1"]))
# An ASan/LSan report's first line, and UBSan's "<file>:<line>:<column>: runtime error:" (a Go panic's
# "panic: runtime error:" has no position and is not one).
SANITIZER_REPORT = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)|:\d+:\d+: runtime error: "
                              r"|SUMMARY: (?:AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)")
# Exit signals that mean a crash, whoever stopped the process.
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}
STOP_TIMEOUT = 20  # seconds a gateway may drain after SIGTERM


def sanitizer_reports_in(text):
    """The lines of `text` that start a sanitizer report, with a little context after each."""
    lines = text.splitlines()
    return ["\n".join(lines[i:i + 12]) for i, line in enumerate(lines) if SANITIZER_REPORT.search(line)]


def terminate(proc, timeout=STOP_TIMEOUT):
    """SIGTERM to a running process, then waits: what went wrong (a non-zero exit, SIGKILL needed)."""
    if proc.poll() is not None:
        return []
    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(timeout=timeout)
        return [f"exit status {status} after SIGTERM"] if status != 0 else []
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return [f"still running {timeout} s after SIGTERM: needed SIGKILL"]


def exit_problems(proc, output):
    """A crash signal, the sanitizer reports in the process's output and the ASan/LSan report file
    it wrote (asan.<pid>)."""
    problems = []
    if -proc.returncode in CRASH_SIGNALS:
        problems.append(f"died of {signal.Signals(-proc.returncode).name}")
    own = SANITIZER_DIR / f"asan.{proc.pid}"
    if own.exists():
        REPORTED.add(own)
        problems.append(f"sanitizer report ({own}):\n{own.read_text(errors='replace')[:6000]}")
    return problems + [f"sanitizer report:\n{r}" for r in sanitizer_reports_in(output)]


def stop_checked(proc, *log_files):
    """For a gatehouse started without the Gateway class: terminate() it and fail on any problem,
    its output being the `log_files` (where its stdout/stderr and error log went)."""
    problems = terminate(proc)
    output = "".join(Path(f).read_text(errors="replace") for f in log_files if Path(f).exists())
    problems += exit_problems(proc, output)
    assert not problems, "\n".join(problems) + "\n--- log tail:\n" + output[-3000:]


REPORTED = set()  # report files a test or a gateway's stop has already failed on


def sanitizer_files():
    return set(SANITIZER_DIR.glob("*"))


def describe_reports(files):
    return "\n\n".join(f"{f.name}:\n{f.read_text(errors='replace')[:6000]}" for f in sorted(files))


@pytest.fixture(autouse=True)
def no_sanitizer_report():
    """Fails the test when a process it started (gateway, plugin server, CLI) wrote an ASan/LSan report."""
    before = sanitizer_files()
    yield
    new = sanitizer_files() - before - REPORTED
    if new:
        REPORTED.update(new)
        pytest.fail(f"{len(new)} sanitizer report(s) written during the test:\n{describe_reports(new)}",
                    pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """Reports written outside any test (a module fixture's gateway or plugin server at teardown)
    fail the run too."""
    left = sanitizer_files() - REPORTED
    if left:
        print(f"\n{len(left)} sanitizer report(s) written outside a test:\n{describe_reports(left)}")
        session.exitstatus = 1
    else:
        shutil.rmtree(SANITIZER_DIR, ignore_errors=True)  # every report was shown by its test


# Ports free_port() handed out, each still bound by a socket of ours until the test ends.
RESERVED_PORTS = []


def free_port():
    """A free loopback port, reserved until the end of the test: it stays bound by a socket that does
    not listen (connecting to it is refused) and has SO_REUSEADDR, which lets gatehouse (SO_REUSEADDR,
    SO_REUSEPORT) bind it, while no other process's bind(0) or connect() can take it meanwhile. A
    port probed and closed at once could be taken by another test run on the machine in the seconds
    before the gateway binds it (its plugin servers start first), and the test would then talk to
    that process instead."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    RESERVED_PORTS.append(s)
    return s.getsockname()[1]


@pytest.fixture(autouse=True)
def release_reserved_ports():
    """Ends the reservations made during the test (and by the module fixtures before it): every
    gateway they were for listens by now."""
    yield
    while RESERVED_PORTS:
        RESERVED_PORTS.pop().close()


def listening_inodes(port):
    """The inodes of the sockets listening on TCP `port` (any address) in this network namespace."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def listens(pid, port):
    """Whether process `pid` itself holds a socket listening on `port`."""
    wanted = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    try:
        return any(os.readlink(fd) in wanted for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # gone, or a descriptor closed while we looked
        return False


def wait_listening(proc, port, timeout=30.0):
    """Waits until `proc` listens on `port`: a port that merely accepts could be another process's.
    False when `proc` exits or the time is up."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if listens(proc.pid, port):
            return True
        time.sleep(0.02)
    return False


def wait_for_file(path, timeout=10.0):
    """Waits for a marker file (a plugin creates it when the event the test waits for is open)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not Path(path).exists():
        time.sleep(0.01)
    assert Path(path).exists(), f"{path} never appeared"


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Gateway:
    """A real `gatehouse start` process with its own prefix, config and kong.yml."""

    def __init__(self, workdir, kong_yml, conf_extra="", env=None, workers=2):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.prefix = self.dir / "prefix"
        self.kong_yml = self.dir / "kong.yml"
        self.conf = self.dir / "gatehouse.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.kong_yml.write_text(kong_yml)
        self.conf.write_text(
            f"prefix = {self.prefix}\n"
            f"proxy_listen = 127.0.0.1:{self.port}\n"
            f"admin_listen = 127.0.0.1:{self.admin_port}\n"
            f"declarative_config = {self.kong_yml}\n"
            f"nginx_worker_processes = {workers}\n"
            f"log_level = debug\n"
            f"proxy_error_log = {self.error_log}\n"
            f"proxy_access_log = {self.access_log}\n" + conf_extra
        )
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.stop_timeout = STOP_TIMEOUT

    def start(self, expect_ok=True):
        self.stdout = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen([str(GATEHOUSE), "start", "-c", str(self.conf)], stdout=self.stdout,
                                     stderr=subprocess.STDOUT, env=self.env)
        if expect_ok and not wait_listening(self.proc, self.port):
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gatehouse did not start listening on {self.port}:\n" + self.logs())
        return self

    def cli(self, *args, timeout=30):
        return subprocess.run([str(GATEHOUSE), *args, "-c", str(self.conf)], capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def logs(self):
        out = ""
        for f in (self.dir / "stdout.log", self.error_log):
            if f.exists():
                out += f.read_text(errors="replace")
        return out

    def wait_for_log(self, text, timeout=10.0):
        """Whether `text` appears in the logs within `timeout`: a line written just after what the
        test saw (a socket closed, then the close logged) needs a moment on a loaded machine."""
        deadline = time.time() + timeout
        while text not in self.logs():
            if time.time() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self):
        """SIGTERM, then the exit status. Raises AssertionError when the gateway needed SIGKILL, exited
        non-zero after SIGTERM, crashed, or its output (its own, and the plugin servers' lines it
        re-logs) holds a sanitizer report. Checked once: later calls only return the status."""
        if not self.proc:
            return None
        problems = terminate(self.proc, self.stop_timeout)
        if not getattr(self, "checked", False):
            self.checked = True
            problems += exit_problems(self.proc, self.logs())
            if problems:
                raise AssertionError(f"gateway in {self.dir}: " + "\n".join(problems) + "\n--- log tail:\n"
                                     + self.logs()[-3000:])
        return self.proc.returncode

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def upstream():
    server = echo_upstream.start_in_thread(0, "up1")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_gateway(tmp_path):
    gateways = []

    def make(kong_yml, **kw):
        gw = Gateway(tmp_path / f"gw{len(gateways)}", kong_yml, **kw)
        gateways.append(gw)
        return gw

    yield make
    stop_all(gateways)


def module_gateway(tmp_path_factory, name, make_yml):
    """A gateway shared by a test module (yield from it in a module-scoped fixture): one echo
    upstream, the kong.yml `make_yml(upstream_port)`, both stopped after the module."""
    upstream = echo_upstream.start_in_thread(0, "up1")
    try:
        gateway = Gateway(tmp_path_factory.mktemp(name), make_yml(upstream.server_port)).start()
        yield gateway
        stop_all([gateway])
    finally:
        upstream.shutdown()
        upstream.server_close()


def stop_all(gateways):
    """Stops every gateway, then raises the first one's problem (see Gateway.stop)."""
    failures = []
    for gw in gateways:
        try:
            gw.stop()
        except AssertionError as e:
            failures.append(e)
    if failures:
        raise failures[0]


def raw_request(port, data, timeout=5.0, read_all=True):
    """Sends raw bytes, returns everything the server sent until it closed (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                chunks.append(piece)
                if not read_all:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def upstream_health(gw, upstream):
    """target → HEALTHY | UNHEALTHY | ..., from the gateway's admin API (`/upstreams/<name>/health`)."""
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    conn.request("GET", f"/upstreams/{upstream}/health")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return {entry["target"]: entry["health"] for entry in body["data"]}
