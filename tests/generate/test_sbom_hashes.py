"""The README's SBOM-hash recipe, run as written in a fresh and in an already-populated virtual
environment (packages from a local folder, nothing from the network): every component gets the
SHA-256 of its wheel. The old recipe (`pip install --report`) reports nothing where the packages are
already installed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mcp_comply

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(mcp_comply.__file__).resolve().parents[1]
ALPHA, BETA = "mcpc-probe-alpha", "mcpc-probe-beta"


def recipe() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
                 if b.startswith("pip freeze --local --exclude-editable"))
    return [line for line in block.splitlines() if line.strip()]


def wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\nLicense-Expression: MIT\n" + \
        "".join(f"Requires-Dist: {r}\n" for r in requires)
    wheel_file = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {f"{name.replace('-', '_')}/__init__.py": b"", f"{dist}.dist-info/METADATA": meta.encode(),
             f"{dist}.dist-info/WHEEL": wheel_file}
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
        zf.writestr(f"{dist}.dist-info/RECORD", "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n")
    return path


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A local package folder: alpha 1.0 (needs beta), beta 2.0 and a newer beta 3.0 that a fresh
    resolution would pick: the recipe must hash what is installed, not what is newest."""
    folder = tmp_path_factory.mktemp("wheels")
    built = [wheel(folder, ALPHA, "1.0", (BETA,)), wheel(folder, BETA, "2.0"), wheel(folder, BETA, "3.0")]
    return folder, {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in built}


def project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text(f'[project]\nname = "probe-server"\nversion = "1.0"\n'
                                           f'dependencies = ["{ALPHA}"]\n')
    (folder / "mcp-comply.yaml").write_text("server: weather_server:build_server\nservice_name: weather\n")
    shutil.copyfile(ROOT / "examples" / "weather_server.py", folder / "weather_server.py")
    return folder


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


@pytest.mark.parametrize("state", ["fresh", "populated"])
def test_the_readme_recipe_gives_every_component_its_wheel_hash(
        state: str, packages: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    wheels, digests = packages
    venv = tmp_path / "venv"
    # No pip inside: the test's own pip drives the venv (--python), as a user's pip would.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONPATH=str(SRC), MCP_COMPLY_LOG_LEVEL="warning")
    pip = [sys.executable, "-m", "pip", "--python", python]
    proj = project(tmp_path / "project")
    if state == "populated":
        run([*pip, "install", "--quiet", ALPHA, f"{BETA}==2.0"], proj, env)  # installed earlier, no report
        old = tmp_path / "install-report.json"
        run([*pip, "install", "--quiet", "--report", str(old), ALPHA, f"{BETA}==2.0"], proj, env)
        assert json.loads(old.read_text())["install"] == []  # the old recipe: nothing to hash
    else:
        run([*pip, "install", "--quiet", ALPHA, f"{BETA}==2.0"], proj, env)  # the first install, then the recipe
    for line in recipe():
        args = shlex.split(line.split(">", 1)[0]) if ">" in line else shlex.split(line)
        if args[0] == "pip":
            args = [*pip, *args[1:]]
        elif args[0] == "mcp-comply":
            args = [python, "-m", "mcp_comply.cli", *args[1:]]
        proc = run(args, proj, env)
        if ">" in line:
            (proj / line.split(">", 1)[1].strip()).write_text(proc.stdout)
    assert (proj / "installed.txt").read_text().split() == [f"{ALPHA}==1.0", f"{BETA}==2.0"]
    expected = {
        ALPHA: [{"alg": "SHA-256", "content": digests[f"{ALPHA.replace('-', '_')}-1.0-py3-none-any.whl"]}],
        BETA: [{"alg": "SHA-256", "content": digests[f"{BETA.replace('-', '_')}-2.0-py3-none-any.whl"]}],
    }
    components = json.loads((proj / "release" / "sbom.cdx.json").read_text())["components"]
    assert {c["name"]: c.get("hashes") for c in components} == expected
    if state == "populated":
        return
    # By default: hashes.json in the project root is used without --hashes-from.
    (proj / "release" / "sbom.cdx.json").unlink()
    run([python, "-m", "mcp_comply.cli", "generate", "--only", "sbom"], proj, env)
    components = json.loads((proj / "release" / "sbom.cdx.json").read_text())["components"]
    assert {c["name"]: c.get("hashes") for c in components} == expected
