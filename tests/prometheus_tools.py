"""The real Prometheus binaries (Debian package ``prometheus``) for the rule and end-to-end tests.

The test command installs the package when it is missing and apt-get can (root, Debian); under CI
a missing binary fails the run, elsewhere the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest


@cache
def _install() -> str:
    """Try once per session; returns why it did not work ('' on success)."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "not root, so the Debian package cannot be installed"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            return f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}"
    return ""


def binary(name: str) -> Path:
    """``promtool`` or ``prometheus``, installing the package if needed."""
    found = shutil.which(name)
    if found is None:
        why = _install()
        found = shutil.which(name)
        if found is None:
            message = f"{name} is not installed and could not be installed: {why or 'not on PATH after install'}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return Path(found)
