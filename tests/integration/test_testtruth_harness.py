"""The harness itself (conftest.py): a gateway that writes a sanitizer report, exits non-zero after
SIGTERM or needs SIGKILL fails its test; a gateway's ports cannot be taken by another process, and a
port another process answers on is not taken for the gateway's. Stand-in processes play the gateway here (the checks are
about the process and its output, not about gatehouse), so these run in every build flavour; the
asan flavour of the whole suite exercises them on the real binary."""
import socket
import subprocess
import sys
import time

import pytest

from conftest import (REPORTED, RESERVED_PORTS, SANITIZER_DIR, Gateway, free_port, listens,
                      sanitizer_reports_in, stop_checked)

ASAN_REPORT = ("=================================================================\n"
               "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n"
               "READ of size 1 at 0x602000000010 thread T0\n")
UBSAN_REPORT = "../src/http/parser.cpp:88:21: runtime error: signed integer overflow: 2147483647 + 1\n"


def stand_in(gw, script):
    """Runs `script` (Python) as the gateway's process, its output where the gateway's goes."""
    out = open(gw.dir / "stdout.log", "ab")
    gw.proc = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT, env=gw.env)
    out.close()
    return gw


def wait_for_output(gw, text, timeout=10):
    deadline = time.time() + timeout
    while text not in gw.logs():
        assert time.time() < deadline, f"{text!r} never printed"
        time.sleep(0.01)


READY = "import signal, sys, time\nprint('ready', flush=True)\n"


def ready_with_sigterm(action):
    """A stand-in that says ready only once its SIGTERM disposition is set (a signal between the two
    would otherwise find Python's default and end the process with -15)."""
    return f"import signal, sys, time\nsignal.signal(signal.SIGTERM, {action})\nprint('ready', flush=True)\n"


@pytest.fixture
def gw(tmp_path):
    return Gateway(tmp_path / "gw", "")


def test_sanitizer_options_reach_every_process(gw):
    stand_in(gw, "import os; print(os.environ['ASAN_OPTIONS'], os.environ['UBSAN_OPTIONS'], flush=True)")
    gw.proc.wait(timeout=10)
    for option in ("halt_on_error=1", "detect_leaks=1", "print_stacktrace=1", f"log_path={SANITIZER_DIR}/asan"):
        assert option in gw.logs()
    assert gw.stop() == 0


@pytest.mark.parametrize("report", [ASAN_REPORT, UBSAN_REPORT, "==7==ERROR: LeakSanitizer: detected memory leaks\n"])
def test_a_report_in_the_output_fails(gw, report):
    stand_in(gw, READY + f"print({report!r}, flush=True)\ntime.sleep(60)")
    wait_for_output(gw, "ready")
    wait_for_output(gw, report.splitlines()[-1].strip())
    with pytest.raises(AssertionError, match="sanitizer report"):
        gw.stop()


def test_a_report_file_of_the_gateway_fails(gw):
    # ASan/LSan write to log_path (<dir>/asan.<pid>): how a report of a process whose stderr is gone
    # (a plugin server killed at shutdown) still reaches the test.
    stand_in(gw, READY + "import os, re\n"
                 "path = re.search(r'log_path=([^:]+)', os.environ['ASAN_OPTIONS']).group(1)\n"
                 f"open(f'{{path}}.{{os.getpid()}}', 'w').write({ASAN_REPORT!r})\n"
                 "print('written', flush=True)\ntime.sleep(60)")
    wait_for_output(gw, "written")
    with pytest.raises(AssertionError, match="heap-use-after-free"):
        gw.stop()
    assert SANITIZER_DIR / f"asan.{gw.proc.pid}" in REPORTED


def test_a_non_zero_exit_after_sigterm_fails(gw):
    stand_in(gw, ready_with_sigterm("lambda *_: sys.exit(3)") + "time.sleep(60)")
    wait_for_output(gw, "ready")
    with pytest.raises(AssertionError, match="exit status 3 after SIGTERM"):
        gw.stop()


def test_a_gateway_that_needs_sigkill_fails(gw):
    gw.stop_timeout = 0.5
    stand_in(gw, ready_with_sigterm("signal.SIG_IGN") + "time.sleep(60)")
    wait_for_output(gw, "ready")
    with pytest.raises(AssertionError, match="needed SIGKILL"):
        gw.stop()


def test_a_crash_fails_even_when_the_test_did_not_stop_it(gw):
    stand_in(gw, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    gw.proc.wait(timeout=10)
    with pytest.raises(AssertionError, match="died of SIGSEGV"):
        gw.stop()


def test_a_clean_stop_passes_and_is_checked_once(gw):
    stand_in(gw, ready_with_sigterm("lambda *_: sys.exit(0)") + "time.sleep(60)")
    wait_for_output(gw, "ready")
    assert gw.stop() == 0
    assert gw.stop() == 0


def test_a_process_started_outside_the_gateway_class_is_checked(tmp_path):
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", READY + f"print({UBSAN_REPORT!r}, flush=True)\n"
                                 "time.sleep(60)"], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while "runtime error" not in log.read_text():
        assert time.time() < deadline
        time.sleep(0.01)
    with pytest.raises(AssertionError, match="sanitizer report"):
        stop_checked(proc, log)


def test_what_counts_as_a_report():
    assert sanitizer_reports_in(ASAN_REPORT) and sanitizer_reports_in(UBSAN_REPORT)
    # a Go plugin's panic, a JS error and a log line quoting a word are not sanitizer reports
    assert not sanitizer_reports_in("panic: runtime error: index out of range [3] with length 3\n"
                                    "TypeError: x is not a function\nthe runtime error: was logged\n")


LISTEN_ON = ("import socket, sys\ns = socket.socket()\n"
             "s.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen()\nprint('listening', flush=True)\n"
             "import time\ntime.sleep(60)\n")


def listener_process(port, tmp_path):
    """Another process listening on `port` (another test run on the machine, say; no SO_REUSEADDR,
    like most servers; a bind(0) never picks a port bound by another socket at all)."""
    out = tmp_path / f"listener-{port}.log"
    proc = subprocess.Popen([sys.executable, "-c", LISTEN_ON, str(port)], stdout=open(out, "wb"),
                            stderr=subprocess.STDOUT)
    return proc, out


def test_a_free_port_cannot_be_taken_by_another_process_until_the_test_ends(tmp_path):
    port = free_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)  # reserved, nobody listens
    proc, out = listener_process(port, tmp_path)
    assert proc.wait(timeout=10) != 0
    assert "Address already in use" in out.read_text()


def test_a_port_another_process_listens_on_is_not_the_gateways(tmp_path):
    # Before the reservation existed, a port probed free could be taken by another test run before
    # the gateway bound it; the test then spoke to that process (a conformance test's upstream).
    gw = Gateway(tmp_path / "gw", '_format_version: "3.0"\n')
    next(s for s in RESERVED_PORTS if s.getsockname()[1] == gw.port).close()  # the race, made certain
    stranger, out = listener_process(gw.port, tmp_path)
    try:
        deadline = time.time() + 10
        while "listening" not in out.read_text():
            assert time.time() < deadline and stranger.poll() is None, out.read_text()
            time.sleep(0.01)
        assert listens(stranger.pid, gw.port)
        socket.create_connection(("127.0.0.1", gw.port), timeout=2).close()  # the port answers...
        with pytest.raises(AssertionError, match=f"did not start listening on {gw.port}"):
            gw.start()  # ...but not from the gateway, which could not bind it
        assert "Address already in use" in gw.logs()
    finally:
        stranger.kill()
        stranger.wait()
