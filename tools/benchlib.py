"""Shared by the benchmark scripts: timing a whole process with its peak memory."""
import os
import subprocess
import tempfile
import time
from typing import NamedTuple


class Measured(NamedTuple):
    seconds: float
    peak_bytes: int
    cpu_seconds: float
    stdout: str
    stderr: str


def measure(cmd, env=None, cwd=None):
    """Runs a command to completion; returns its wall time, peak resident bytes (wait4's ru_maxrss), CPU
    time (user + system, all threads), stdout and stderr. Exits with the command's stderr when it fails.

    ru_maxrss carries a parent's high-water mark across fork and exec, so the calling process must stay
    small (generate large inputs in a child process)."""
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        # Files rather than pipes: wait4 (which gives ru_maxrss) must not wait on a child blocked on a full pipe.
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, env=env, cwd=cwd)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out = out_file.read().decode(errors="replace")
        err = err_file.read().decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out[-2000:]}\n{err[-4000:]}")
    return Measured(elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, out, err)


def run(cmd):
    """Runs a command to completion; returns (seconds, peak resident bytes). See `measure`."""
    m = measure(cmd)
    return m.seconds, m.peak_bytes
