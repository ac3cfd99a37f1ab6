"""Shared by the benchmark scripts: timing a whole process with its peak memory."""
import os
import subprocess
import time


def run(cmd):
    """Runs a command to completion; returns (seconds, peak resident bytes from wait4's ru_maxrss).

    ru_maxrss carries a parent's high-water mark across fork and exec, so the calling process must stay
    small (generate large inputs in a child process)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    err = p.stderr.read().decode()
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_maxrss * 1024
