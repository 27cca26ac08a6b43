"""SLSA v1 provenance: round trip through the CLI, rejection of every kind of tampering, CI context,
an independent verifier (cosign), and Sigstore keyless signing up to the network boundary."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cosign_tool
from mcp_comply.cli import main
from mcp_comply.exceptions import MCPComplyError
from mcp_comply.generate import provenance as pv

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def release(tmp_path: Path) -> dict[str, Path]:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "weather_server-1.0-py3-none-any.whl").write_bytes(b"PK wheel bytes")
    (dist / "weather_server-1.0.tar.gz").write_bytes(b"sdist bytes")
    assert main(["provenance-keygen", "--out", str(tmp_path / "keys")]) == 0
    assert main(["generate", "--config", str(ROOT / "pyproject.toml"), "--out", str(tmp_path / "out"),
                 "--only", "sbom,provenance", "--artifacts", *map(str, sorted(dist.iterdir())),
                 "--signing-key", str(tmp_path / "keys" / pv.KEY_FILE)]) == 0
    return {"dist": dist, "envelope": tmp_path / "out/release" / pv.ENVELOPE_FILE,
            "sbom": tmp_path / "out/release/sbom.cdx.json", "pub": tmp_path / "keys" / pv.PUB_FILE,
            "key": tmp_path / "keys" / pv.KEY_FILE, "tmp": tmp_path}


def statement_of(envelope: Path) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(json.loads(envelope.read_text())["payload"])))


def verify(release: dict[str, Path], *extra: str) -> int:
    return main(["verify-provenance", str(release["envelope"]), "--key", str(release["pub"]), "--artifacts",
                 *map(str, sorted(release["dist"].iterdir())), *extra])


def test_round_trip_verifies_and_states_what_was_built(release: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(release, "--builder-id", pv.LOCAL_BUILDER) == 0
    out = capsys.readouterr().out
    assert "ok       weather_server-1.0.tar.gz: sha256 matches subject weather_server-1.0.tar.gz" in out
    assert out.rstrip().endswith("verified")
    st = statement_of(release["envelope"])
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://slsa.dev/provenance/v1"
    wheel_digest = hashlib.sha256(b"PK wheel bytes").hexdigest()
    sdist_digest = hashlib.sha256(b"sdist bytes").hexdigest()
    assert st["subject"] == [
        {"name": "weather_server-1.0-py3-none-any.whl", "digest": {"sha256": wheel_digest}},
        {"name": "weather_server-1.0.tar.gz", "digest": {"sha256": sdist_digest}},
    ]
    deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert deps[0]["digest"] == {"gitCommit": commit}
    assert deps[1] == {"name": "sbom.cdx.json", "mediaType": "application/vnd.cyclonedx+json",
                       "digest": {"sha256": hashlib.sha256(release["sbom"].read_bytes()).hexdigest()}}
    assert st["predicate"]["runDetails"]["builder"] == {"id": pv.LOCAL_BUILDER}
    # An independent model of the predicate (sigstore's own pydantic SLSA v1.0 model) accepts it.
    from sigstore.dsse._predicate import SLSAPredicateV1_0

    assert SLSAPredicateV1_0.model_validate(st["predicate"]).run_details.builder.id == pv.LOCAL_BUILDER
    # And the in-toto project's own protobuf models: the Statement validates, and the predicate
    # parses into the official SLSA v1 Provenance message (unknown fields would be rejected).
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    Statement.copy_from_pb(json_format.ParseDict(st, statement_pb2.Statement())).validate()
    official = json_format.ParseDict(st["predicate"], provenance_pb2.Provenance())
    assert official.run_details.builder.id == pv.LOCAL_BUILDER
    assert official.build_definition.resolved_dependencies[1].name == "sbom.cdx.json"


def test_tampered_artifact_is_rejected(release: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    wheel = release["dist"] / "weather_server-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK wheel bytes, trojaned")
    assert verify(release) == 1
    out = capsys.readouterr().out
    assert f"FINDING  {wheel}: sha256 {hashlib.sha256(wheel.read_bytes()).hexdigest()} is not a subject" in out


def test_tampered_envelope_is_rejected(release: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    envelope = json.loads(release["envelope"].read_text())
    st = statement_of(release["envelope"])
    st["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    release["envelope"].write_text(json.dumps(envelope))
    assert verify(release) == 1
    assert "no signature verifies with the given key(s)" in capsys.readouterr().out


def test_wrong_key_is_rejected(release: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    other = pv.keygen(release["tmp"] / "other")[1]
    code = main(["verify-provenance", str(release["envelope"]), "--key", str(other)])
    assert code == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_expected_builder_mismatch_is_rejected(release: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    builder = "https://github.com/actions/runner/github-hosted"
    assert verify(release, "--builder-id", builder) == 1
    assert f"builder '{pv.LOCAL_BUILDER}' is not the expected '{builder}'" in capsys.readouterr().out


def test_json_report_and_usage_errors(release: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(release, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["builder"] == pv.LOCAL_BUILDER
    assert [s["name"] for s in report["subjects"]] == ["weather_server-1.0-py3-none-any.whl",
                                                        "weather_server-1.0.tar.gz"]
    assert main(["verify-provenance", str(release["envelope"])]) == 2  # no key
    assert main(["verify-provenance", str(release["envelope"]), "--key", str(release["key"])]) == 2  # private key
    release["envelope"].write_text("{}")
    assert main(["verify-provenance", str(release["envelope"]), "--key", str(release["pub"])]) == 1


def test_unsigned_provenance_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = tmp_path / "a.whl"
    artifact.write_bytes(b"x")
    assert main(["generate", "--config", str(ROOT / "pyproject.toml"), "--out", str(tmp_path / "o"), "--only",
                 "provenance", "--artifacts", str(artifact)]) == 2
    assert "provenance must be signed" in capsys.readouterr().err
    assert main(["generate", "--config", str(ROOT / "pyproject.toml"), "--out", str(tmp_path / "o"), "--only",
                 "provenance", "--artifacts", str(tmp_path / "missing.whl"), "--signing-key", "k"]) == 2


def test_github_actions_and_gitlab_context() -> None:
    gh = pv.build_context({
        "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/weather",
        "GITHUB_REF": "refs/tags/v1.0", "GITHUB_SHA": "a" * 40, "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_WORKFLOW_REF": "acme/weather/.github/workflows/release.yml@refs/tags/v1.0",
        "RUNNER_ENVIRONMENT": "github-hosted", "RUNNER_OS": "Linux"}, ROOT)
    assert gh.builder_id == "https://github.com/actions/runner/github-hosted"
    assert gh.invocation_id == "https://github.com/acme/weather/actions/runs/42/attempts/2"
    assert gh.source_uri == "git+https://github.com/acme/weather@refs/tags/v1.0"
    assert gh.workflow == "acme/weather/.github/workflows/release.yml@refs/tags/v1.0"
    assert (gh.commit, gh.internal) == ("a" * 40, {"RUNNER_OS": "Linux"})
    gl = pv.build_context({"GITLAB_CI": "true", "CI_SERVER_URL": "https://gitlab.example", "CI_PROJECT_PATH": "acme/w",
                           "CI_RUNNER_ID": "7", "CI_JOB_URL": "https://gitlab.example/acme/w/-/jobs/9",
                           "CI_PROJECT_URL": "https://gitlab.example/acme/w", "CI_COMMIT_REF_NAME": "main",
                           "CI_COMMIT_SHA": "b" * 40}, ROOT)
    assert (gl.platform, gl.builder_id, gl.invocation_id) == (
        "gitlab-ci", "https://gitlab.example/acme/w/-/runners/7", "https://gitlab.example/acme/w/-/jobs/9")


def test_cosign_verifies_the_envelope_independently(release: dict[str, Path]) -> None:
    cosign = cosign_tool.binary()
    wheel = release["dist"] / "weather_server-1.0-py3-none-any.whl"
    args = [str(cosign), "verify-blob-attestation", "--key", str(release["pub"]), "--insecure-ignore-tlog",
            "--type", "slsaprovenance1", "--signature", str(release["envelope"])]
    ok = subprocess.run([*args, str(wheel)], capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Verified OK" in ok.stderr
    wheel.write_bytes(b"something else")
    bad = subprocess.run([*args, str(wheel)], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert "no matching subject digest found" in bad.stderr


# --- Sigstore keyless, up to the network boundary -----------------------------------------------


@pytest.fixture
def fulcio_stand_in() -> Iterator[tuple[int, list[tuple[str, dict[str, str], bytes]]]]:
    """A listener on 127.0.0.1 where the Sigstore services would be: records what the signer sends
    and answers 503 (the real services are on the internet, which tests must not reach)."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.path, dict(self.headers), body))
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _trust_config(tmp_path: Path, port: int) -> Path:
    import sigstore

    store = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    signing = json.loads((store / "signing_config.v0.2.json").read_text())
    for key in ("caUrls", "oidcUrls", "rekorTlogUrls", "tsaUrls"):
        for entry in signing[key]:
            entry["url"] = f"http://127.0.0.1:{port}"
    config = {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
              "trustedRoot": json.loads((store / "trusted_root.json").read_text()), "signingConfig": signing}
    path = tmp_path / "trust-config.json"
    path.write_text(json.dumps(config))
    return path


def _identity_token() -> str:
    """An unsigned OIDC token shaped like GitHub Actions' (Fulcio would check its signature)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": "https://token.actions.githubusercontent.com", "aud": "sigstore", "iat": now, "nbf": now,
              "exp": now + 600, "sub": "repo:acme/weather:ref:refs/tags/v1.0", "email": "ci@example.org"}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_keyless_signing_reaches_fulcio_with_the_identity_and_a_csr(
        tmp_path: Path, fulcio_stand_in: tuple[int, list[tuple[str, dict[str, str], bytes]]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    port, seen = fulcio_stand_in
    artifact = tmp_path / "a.whl"
    artifact.write_bytes(b"wheel")
    token = _identity_token()
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", token)
    code = main(["generate", "--config", str(ROOT / "pyproject.toml"), "--out", str(tmp_path / "o"), "--only",
                 "provenance", "--artifacts", str(artifact), "--keyless",
                 "--sigstore-trust-config", str(_trust_config(tmp_path, port))])
    assert code == 1
    err = capsys.readouterr().err
    assert "Sigstore keyless signing failed (it needs network access to the Sigstore services)" in err
    [(path, headers, body)] = seen
    assert path == "/api/v2/signingCert"
    assert headers["Authorization"] == f"Bearer {token}"
    csr = base64.b64decode(json.loads(body)["certificateSigningRequest"])
    assert csr.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert not (tmp_path / "o").exists()


def test_keyless_without_an_identity_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SIGSTORE_ID_TOKEN", "GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL", "GITLAB_CI",
                "GOOGLE_SERVICE_ACCOUNT_NAME", "CIRCLECI", "BUILDKITE"):
        monkeypatch.delenv(var, raising=False)
    artifact = tmp_path / "a.whl"
    artifact.write_bytes(b"wheel")
    statement = pv.build_statement([artifact], pv.build_context({}, ROOT), sbom=None)
    with pytest.raises(MCPComplyError, match="no OIDC identity for Sigstore keyless signing"):
        pv.sign_keyless(statement, identity_token=None)


def test_sigstore_bundle_path_rejects_a_non_bundle_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The offline Sigstore verifier (trust root shipped with sigstore) runs and reports a finding.

    No real keyless bundle can be made here (signing needs Fulcio and Rekor), so the positive path
    is exercised only in CI with a real identity; see the README."""
    bogus = tmp_path / "provenance.sigstore.json"
    bogus.write_text(json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}))
    code = main(["verify-provenance", str(bogus), "--cert-identity", "https://github.com/acme/weather/.github/"
                 "workflows/release.yml@refs/tags/v1.0", "--cert-oidc-issuer",
                 "https://token.actions.githubusercontent.com"])
    assert code == 1
    out = capsys.readouterr().out
    assert "FINDING  not a Sigstore bundle:" in out
    assert main(["verify-provenance", str(bogus), "--cert-identity", "someone"]) == 2
    assert "needs both --cert-identity and --cert-oidc-issuer" in capsys.readouterr().err


def test_provenance_alone_picks_up_the_sbom_already_written(release: dict[str, Path]) -> None:
    out = release["envelope"].parent.parent
    wheel = release["dist"] / "weather_server-1.0-py3-none-any.whl"
    assert main(["generate", "--config", str(ROOT / "pyproject.toml"), "--out", str(out), "--only", "provenance",
                 "--artifacts", str(wheel), "--signing-key", str(release["key"])]) == 0
    st = statement_of(release["envelope"])
    assert [s["name"] for s in st["subject"]] == [wheel.name]
    sbom_dep = st["predicate"]["buildDefinition"]["resolvedDependencies"][1]
    assert sbom_dep["digest"]["sha256"] == hashlib.sha256(release["sbom"].read_bytes()).hexdigest()
