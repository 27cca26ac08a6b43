"""cosign, the independent DSSE verifier, for the provenance test.

Not in Debian bookworm; Debian trixie ships cosign 2.5.0. It is fetched with a throw-away apt
configuration (system sources untouched) and unpacked into a cache folder. When that is impossible
(no apt-get, no Debian mirror) the test that needs it is skipped with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

CACHE = Path(tempfile.gettempdir()) / "mcp-comply-test-tools" / "cosign"  # shared by test runs on this machine
SOURCES = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n"


@cache
def _fetch() -> tuple[Path | None, str]:
    exe = CACHE / "root/usr/bin/cosign"
    if exe.is_file():
        return exe, ""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return None, "apt-get and dpkg-deb are needed to fetch cosign"
    for sub in ("state/lists/partial", "cache/archives/partial", "etc"):
        (CACHE / sub).mkdir(parents=True, exist_ok=True)
    (CACHE / "etc/sources.list").write_text(SOURCES)
    opts = [f"-o=Dir::State={CACHE / 'state'}", f"-o=Dir::Cache={CACHE / 'cache'}",
            f"-o=Dir::Etc::SourceList={CACHE / 'etc/sources.list'}", "-o=Dir::Etc::SourceParts=/dev/null",
            "-o=APT::Sandbox::User=root"]
    for cmd in (["apt-get", *opts, "update", "-qq"], ["apt-get", *opts, "download", "cosign"]):
        proc = subprocess.run(cmd, cwd=CACHE, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            return None, f"{' '.join(cmd[:1] + cmd[-2:])} failed: {proc.stderr.strip()[-300:]}"
    debs = sorted(CACHE.glob("cosign_*.deb"))
    if not debs:
        return None, "apt-get download cosign produced no package"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(CACHE / "root")], check=True, timeout=120)
    return (exe, "") if exe.is_file() else (None, "the cosign package has no usr/bin/cosign")


def binary() -> Path:
    exe, why = _fetch()
    if exe is None:
        pytest.skip(f"cosign could not be installed: {why}")
    return exe
