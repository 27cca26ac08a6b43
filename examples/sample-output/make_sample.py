"""Regenerate the committed samples in this folder: the demo project, released from a git checkout
with GitHub Actions-style environment variables (sample values, set here by hand), so the provenance
shows its full form (source commit, workflow, invocation), and with artefact hashes from the README's
recipe (pip reports the artefacts of the installed versions; mcp-comply itself from a wheel built
from this checkout).

    python examples/sample-output/make_sample.py        # needs git, pip and the network (PyPI)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# A fixed commit (author, committer, dates) gives the same commit id on every run.
GIT_ENV = {"GIT_AUTHOR_NAME": "Weather Team", "GIT_AUTHOR_EMAIL": "weather-team@example.org",
           "GIT_COMMITTER_NAME": "Weather Team", "GIT_COMMITTER_EMAIL": "weather-team@example.org",
           "GIT_AUTHOR_DATE": "2026-11-29T12:00:00Z", "GIT_COMMITTER_DATE": "2026-11-29T12:00:00Z"}
# What a GitHub Actions run sets (sample values for the sample repository example/weather-server).
# GITHUB_SHA is the checkout's own commit, added below.
CI_ENV = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
          "GITHUB_REPOSITORY": "example/weather-server", "GITHUB_RUN_ID": "1234567890", "GITHUB_RUN_ATTEMPT": "1",
          "GITHUB_REF": "refs/tags/v1.0.0",
          "GITHUB_WORKFLOW_REF": "example/weather-server/.github/workflows/release.yml@refs/tags/v1.0.0",
          "GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY_ID": "100000001", "GITHUB_REPOSITORY_OWNER_ID": "100000002",
          "RUNNER_ENVIRONMENT": "github-hosted", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
          "SOURCE_DATE_EPOCH": "1796040000"}  # 2026-11-30T12:00:00Z


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def main() -> int:
    from mcp_comply.demo import _demo_project, example_script
    from mcp_comply.generate import resolve_project
    from mcp_comply.generate.sbom import build_sbom, load_inventory, read_pyproject

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = work / "project"
        archive = _demo_project(project, example_script())
        env = dict(os.environ, **GIT_ENV, PIP_DISABLE_PIP_VERSION_CHECK="1")
        # The runtime closure's installed versions; mcp-comply itself as a wheel of this checkout.
        inventory = load_inventory("environment")
        closure = build_sbom(read_pyproject(project), inventory, None, service_name="weather")
        pins = sorted(f"{c['name']}=={c['version']}" for c in json.loads(closure.text)["components"])
        (work / "installed.txt").write_text("\n".join(pins) + "\n")
        run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "wheels"), str(REPO)],
            work, env)
        run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet",
             "--find-links", str(work / "wheels"), "--report", str(project / "hashes.json"),
             "-r", str(work / "installed.txt")], work, env)
        # A git checkout with a remote, then the release as a CI job would run it.
        run(["git", "init", "--quiet", "--initial-branch", "main"], project, env)
        run(["git", "remote", "add", "origin", "https://github.com/example/weather-server.git"], project, env)
        run(["git", "add", "pyproject.toml", "mcp-comply.yaml", "policy.yaml", "weather_server.py"], project, env)
        run(["git", "commit", "--quiet", "-m", "weather-server 1.0.0"], project, env)
        run([sys.executable, "-m", "mcp_comply.cli", "provenance-keygen", "--out", str(project / "keys")], project, env)
        commit = run(["git", "rev-parse", "HEAD"], project, env).strip()
        run([sys.executable, "-m", "mcp_comply.cli", "generate", "--artifacts", str(archive),
             "--signing-key", str(project / "keys" / "provenance-signing.key")], project,
            dict(env, **CI_ENV, GITHUB_SHA=commit))
        resolve_project(project)  # the config still loads
        for sub in ("release", "ai-act", "dist"):
            shutil.rmtree(HERE / sub, ignore_errors=True)
            shutil.copytree(project / sub, HERE / sub)
        envelope = json.loads((HERE / "release" / "provenance.intoto.json").read_text())
        statement = json.loads(base64.b64decode(envelope["payload"]))  # readable copy of the signed payload
        (HERE / "release" / "provenance.statement.json").write_text(json.dumps(statement, indent=2, sort_keys=True)
                                                                    + "\n")
        (HERE / "keys").mkdir(exist_ok=True)
        shutil.copyfile(project / "keys" / "provenance-signing.pub", HERE / "keys" / "provenance-signing.pub")
        for name in ("mcp-comply.yaml", "policy.yaml"):
            shutil.copyfile(project / name, HERE / name)
    print(f"samples written to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
