"""Run one command as a child process and measure it: wall time around it, and the CPU time
(user + system, every thread, and every descendant it waited for) that ``wait4`` reports for it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def measured(cmd: list[str], *, expected: int = 0, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall s, CPU s) of one run of ``cmd``; exits naming the command if its exit code is not ``expected``."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    err = process.stderr.read()  # drained before the wait, so a chatty child cannot block on a full pipe
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    process.stderr.close()
    if code != expected:
        raise SystemExit(f"{cmd} exited {code}, expected {expected}: {err.decode(errors='replace')[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime
