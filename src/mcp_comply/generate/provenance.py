"""SLSA v1 provenance as an in-toto Statement v1, signed in a DSSE envelope.

Two signers: a local Ed25519 key (offline; tests and air-gapped pipelines) and Sigstore keyless
(an OIDC identity in CI; Fulcio certificate and Rekor entry, which need the network). The verifier
checks the envelope signature, the subjects' digests against files on disk and the builder id; a
Sigstore bundle is verified offline against the trust root bundled with the ``sigstore`` package.

Provenance made and signed inside the user's own job is at most SLSA Build L2 (the tenant controls
the signing step); unsigned it is L1. L3 needs an isolated builder such as a reusable workflow.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mcp_comply._files import write_atomic
from mcp_comply.exceptions import ConfigError, MCPComplyError
from mcp_comply.generate._output import to_json

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "https://github.com/mcp-comply/mcp-comply/blob/main/README.md#build-type-python-release-v1"
LOCAL_BUILDER = "urn:mcp-comply:builder:local"
ENVELOPE_FILE = "provenance.intoto.json"
BUNDLE_FILE = "provenance.sigstore.json"
KEY_FILE = "provenance-signing.key"
PUB_FILE = "provenance-signing.pub"

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
GitCommit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")]


# --- wire format (strict types; unknown fields ignored on read, as SLSA requires) ----------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class DigestSet(_Wire):
    sha256: Hex64 | None = None
    gitCommit: GitCommit | None = None


class ResourceDescriptor(_Wire):
    name: str | None = None
    uri: str | None = None
    digest: DigestSet | None = None
    mediaType: str | None = None
    annotations: dict[str, Any] | None = None


class Subject(_Wire):
    name: str = Field(min_length=1)
    digest: DigestSet


class BuildDefinition(_Wire):
    buildType: str = Field(min_length=1)
    externalParameters: dict[str, Any]
    internalParameters: dict[str, Any] | None = None
    resolvedDependencies: list[ResourceDescriptor] = []


class Builder(_Wire):
    id: str = Field(min_length=1)
    version: dict[str, str] | None = None


class BuildMetadata(_Wire):
    invocationId: str | None = None
    startedOn: datetime | None = None
    finishedOn: datetime | None = None


class RunDetails(_Wire):
    builder: Builder
    metadata: BuildMetadata | None = None
    byproducts: list[ResourceDescriptor] = []


class Provenance(_Wire):
    buildDefinition: BuildDefinition
    runDetails: RunDetails


class Statement(_Wire):
    type: str = Field(alias="_type", pattern=r"^https://in-toto\.io/Statement/v1$")
    subject: list[Subject] = Field(min_length=1)
    predicateType: str = Field(pattern=r"^https://slsa\.dev/provenance/v1")
    predicate: Provenance


class Signature(_Wire):
    keyid: str = ""
    sig: str = Field(min_length=1)


class Envelope(_Wire):
    payloadType: str
    payload: str
    signatures: list[Signature] = Field(min_length=1)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- the build context ------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildContext:
    platform: str
    builder_id: str
    invocation_id: str | None
    source_uri: str | None
    commit: str | None
    ref: str | None
    workflow: str | None
    internal: dict[str, str] = field(default_factory=dict)


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,  # noqa: S603, S607
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def build_context(env: Mapping[str, str], root: Path, builder_id: str | None = None) -> BuildContext:
    """Builder and invocation from the CI environment: GitHub Actions, GitLab CI, else the local git checkout."""
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY", "")
        runner = env.get("RUNNER_ENVIRONMENT", "github-hosted")
        return BuildContext(
            platform="github-actions",
            builder_id=builder_id or f"{server}/actions/runner/{runner}",
            invocation_id=f"{server}/{repo}/actions/runs/{env.get('GITHUB_RUN_ID', '')}/attempts/"
                          f"{env.get('GITHUB_RUN_ATTEMPT', '1')}",
            source_uri=f"git+{server}/{repo}@{env.get('GITHUB_REF', '')}", commit=env.get("GITHUB_SHA"),
            ref=env.get("GITHUB_REF"), workflow=env.get("GITHUB_WORKFLOW_REF"),
            internal={k: env[k] for k in ("GITHUB_EVENT_NAME", "GITHUB_REPOSITORY_ID", "GITHUB_REPOSITORY_OWNER_ID",
                                          "RUNNER_OS", "RUNNER_ARCH") if k in env},
        )
    if env.get("GITLAB_CI") == "true":
        server = env.get("CI_SERVER_URL", "https://gitlab.com")
        return BuildContext(
            platform="gitlab-ci",
            builder_id=builder_id
            or f"{server}/{env.get('CI_PROJECT_PATH', '')}/-/runners/{env.get('CI_RUNNER_ID', '')}",
            invocation_id=env.get("CI_JOB_URL"),
            source_uri=f"git+{env.get('CI_PROJECT_URL', '')}@{env.get('CI_COMMIT_REF_NAME', '')}",
            commit=env.get("CI_COMMIT_SHA"), ref=env.get("CI_COMMIT_REF_NAME"), workflow=env.get("CI_CONFIG_PATH"),
            internal={k: env[k] for k in ("CI_PIPELINE_ID", "CI_PIPELINE_SOURCE", "CI_RUNNER_DESCRIPTION") if k in env},
        )
    commit = _git(root, "rev-parse", "HEAD")
    remote = _git(root, "config", "--get", "remote.origin.url")
    ref = _git(root, "symbolic-ref", "-q", "HEAD")
    return BuildContext(platform="generic", builder_id=builder_id or LOCAL_BUILDER, invocation_id=None,
                        source_uri=f"git+{remote}@{ref}" if remote and ref else None, commit=commit, ref=ref,
                        workflow=None)


# --- statements -------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_statement(artifacts: Sequence[Path], ctx: BuildContext, *, sbom: tuple[str, bytes] | None,
                    byproducts: Iterable[tuple[str, bytes]] = (), started: datetime | None = None) -> Statement:
    from mcp_comply import __version__

    if not artifacts:
        raise ConfigError("no artefacts to attest: pass --artifacts (e.g. dist/*)", source="--artifacts")
    subjects = [Subject(name=p.name, digest=DigestSet(sha256=sha256_file(p))) for p in sorted(artifacts)]
    deps: list[ResourceDescriptor] = []
    commit = DigestSet(gitCommit=ctx.commit) if ctx.commit and len(ctx.commit) in (40, 64) else None
    if ctx.source_uri or commit:  # a ResourceDescriptor needs a uri, a digest or content
        deps.append(ResourceDescriptor(uri=ctx.source_uri, digest=commit))
    if sbom is not None:
        name, content = sbom
        deps.append(ResourceDescriptor(name=name, digest=DigestSet(sha256=hashlib.sha256(content).hexdigest()),
                                       mediaType="application/vnd.cyclonedx+json" if name.endswith(".json")
                                       else "application/vnd.cyclonedx+xml"))
    external: dict[str, Any] = {"artifacts": [s.name for s in subjects]}
    if ctx.source_uri:
        external["source"] = ctx.source_uri
    if ctx.workflow:
        external["workflow"] = ctx.workflow
    internal = {"platform": ctx.platform, "generator": f"mcp-comply {__version__}", **ctx.internal}
    return Statement(
        _type=STATEMENT_TYPE, subject=subjects, predicateType=PREDICATE_TYPE,
        predicate=Provenance(
            buildDefinition=BuildDefinition(buildType=BUILD_TYPE, externalParameters=external,
                                            internalParameters=internal, resolvedDependencies=deps),
            runDetails=RunDetails(
                builder=Builder(id=ctx.builder_id),
                metadata=BuildMetadata(invocationId=ctx.invocation_id, startedOn=started)
                if ctx.invocation_id or started else None,
                byproducts=[ResourceDescriptor(name=n, digest=DigestSet(sha256=hashlib.sha256(c).hexdigest()))
                            for n, c in byproducts],
            ),
        ),
    )


def statement_bytes(statement: Statement) -> bytes:
    return canonical_json(_dump(statement))


# --- DSSE with a local Ed25519 key ------------------------------------------------------------


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def keyid(public_key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def keygen(directory: Path) -> tuple[Path, Path]:
    """Ed25519 key pair: ``provenance-signing.key`` (PKCS#8 PEM, 0600) and ``.pub`` (SPKI PEM)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / KEY_FILE, directory / PUB_FILE
    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError("a signing key already exists; refusing to overwrite it", source=str(private)) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    write_atomic(public, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), mode=0o644)
    return private, public


def load_private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key: {exc.strerror or exc}", source=str(path)) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"not an unencrypted PEM private key: {exc}", source=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("not an Ed25519 private key (mcp-comply provenance-keygen makes one)", source=str(path))
    return key


def load_public_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read the public key: {exc.strerror or exc}", source=str(path)) from None
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key: {exc}", source=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("not an Ed25519 public key", source=str(path))
    return key


def sign_envelope(payload: bytes, private_key: Any) -> bytes:
    signature = private_key.sign(pae(PAYLOAD_TYPE, payload))
    envelope = Envelope(payloadType=PAYLOAD_TYPE, payload=base64.b64encode(payload).decode(),
                        signatures=[Signature(keyid=keyid(private_key.public_key()),
                                              sig=base64.b64encode(signature).decode())])
    return to_json(_dump(envelope))


# --- Sigstore keyless -------------------------------------------------------------------------


def sign_keyless(statement: Statement, *, identity_token: str | None, trust_config: Path | None = None,
                 staging: bool = False) -> bytes:
    """Sign with Sigstore (Fulcio certificate for the CI's OIDC identity, Rekor entry): needs the
    network. The identity token comes from the argument, ``$SIGSTORE_ID_TOKEN``, or the CI's ambient
    credential (GitHub Actions with ``permissions: id-token: write``)."""
    try:
        from sigstore import dsse
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import IdentityError, IdentityToken, detect_credential
        from sigstore.sign import SigningContext
    except ImportError:
        from mcp_comply.exceptions import MissingExtraError

        raise MissingExtraError("sigstore", "sigstore") from None
    raw = identity_token or os.environ.get("SIGSTORE_ID_TOKEN")
    if raw is None:
        try:
            raw = detect_credential()
        except IdentityError as exc:
            raise MCPComplyError(f"no OIDC identity for Sigstore keyless signing: {exc}") from None
    if raw is None:
        raise MCPComplyError("no OIDC identity for Sigstore keyless signing: set SIGSTORE_ID_TOKEN, or run in CI "
                             "with an ambient identity (GitHub Actions: permissions: id-token: write); or sign "
                             "with a local key (--signing-key)")
    try:
        token = IdentityToken(raw)
    except IdentityError as exc:
        raise MCPComplyError(f"the OIDC identity token is not usable: {exc}") from None
    sstatement = dsse.Statement(statement_bytes(statement))
    try:
        if trust_config is not None:
            config = ClientTrustConfig.from_json(trust_config.read_text(encoding="utf-8"))
        else:
            config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        context = SigningContext.from_trust_config(config)
        with context.signer(token, cache=True) as signer:
            bundle = signer.sign_dsse(sstatement)
    except Exception as exc:  # noqa: BLE001 - network, TUF, Fulcio and Rekor failures all end here
        raise MCPComplyError(f"Sigstore keyless signing failed (it needs network access to the Sigstore "
                             f"services): {type(exc).__name__}: {exc}") from None
    return (bundle.to_json() + "\n").encode()


# --- verification -----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    envelope: str
    signed_by: str | None = None
    statement: Statement | None = None
    findings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What was not checked (no files given, no builder expected): neither a pass nor a finding."""

    @property
    def ok(self) -> bool:
        return not self.findings and self.statement is not None

    def to_json(self) -> dict[str, Any]:
        return {"envelope": self.envelope, "ok": self.ok, "signed_by": self.signed_by, "checked": self.checked,
                "findings": self.findings, "notes": self.notes,
                "builder": self.statement.predicate.runDetails.builder.id if self.statement else None,
                "subjects": [{"name": s.name, "sha256": s.digest.sha256} for s in self.statement.subject]
                if self.statement else []}


def _check_statement(report: VerifyReport, payload: bytes, artifacts: Sequence[Path],
                     expected_builder: str | None) -> None:
    try:
        statement = Statement.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        report.findings.append(f"not an in-toto Statement v1 with SLSA v1 provenance: {where}: {first['msg']}")
        return
    report.statement = statement
    digests = {s.digest.sha256: s.name for s in statement.subject if s.digest.sha256}
    for path in artifacts:
        actual = sha256_file(path)
        if actual not in digests:
            report.findings.append(f"{path}: sha256 {actual} is not a subject of the provenance")
        else:
            report.checked.append(f"{path.name}: sha256 matches subject {digests[actual]}")
    builder = statement.predicate.runDetails.builder.id
    if expected_builder is not None:
        if builder != expected_builder:
            report.findings.append(f"builder {builder!r} is not the expected {expected_builder!r}")
        else:
            report.checked.append(f"builder is {builder}")
    else:
        report.notes.append(f"builder not checked (it is {builder!r}); pass --builder-id")
    if not artifacts:
        report.notes.append("no files given (--artifacts): subject digests were not compared with any file")


def verify_envelope(path: Path, *, keys: Sequence[Path], artifacts: Sequence[Path] = (),
                    expected_builder: str | None = None) -> VerifyReport:
    report = VerifyReport(str(path))
    try:
        envelope = Envelope.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    except ValidationError as exc:
        report.findings.append(f"not a DSSE envelope: {exc.errors()[0]['msg']}")
        return report
    if envelope.payloadType != PAYLOAD_TYPE:
        report.findings.append(f"payloadType is {envelope.payloadType!r}, expected {PAYLOAD_TYPE!r}")
        return report
    try:
        payload = base64.b64decode(envelope.payload, validate=True)
    except ValueError:
        report.findings.append("payload is not valid base64")
        return report
    if not keys:
        raise ConfigError("give the public key(s) to verify with (--key)", source="--key")
    from cryptography.exceptions import InvalidSignature

    message = pae(envelope.payloadType, payload)
    public_keys = [(k, load_public_key(k)) for k in keys]
    for signature in envelope.signatures:
        try:
            raw = base64.b64decode(signature.sig, validate=True)
        except ValueError:
            continue
        for key_path, key in public_keys:
            try:
                key.verify(raw, message)
            except InvalidSignature:
                continue
            report.signed_by = str(key_path)
            break
        if report.signed_by:
            break
    if report.signed_by is None:
        report.findings.append("no signature verifies with the given key(s): the envelope was altered or signed "
                               "by another key")
        return report
    report.checked.append(f"DSSE signature verifies with {report.signed_by}")
    _check_statement(report, payload, artifacts, expected_builder)
    return report


def verify_bundle(path: Path, *, identity: str, issuer: str, artifacts: Sequence[Path] = (),
                  expected_builder: str | None = None, staging: bool = False) -> VerifyReport:
    """Verify a Sigstore bundle offline, against the trust root shipped with ``sigstore``."""
    try:
        from sigstore.errors import VerificationError
        from sigstore.models import Bundle
        from sigstore.verify import Verifier, policy
    except ImportError:
        from mcp_comply.exceptions import MissingExtraError

        raise MissingExtraError("sigstore", "sigstore") from None
    report = VerifyReport(str(path))
    try:
        bundle = Bundle.from_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    except Exception as exc:  # noqa: BLE001 - the library raises several kinds for a malformed bundle
        report.findings.append(f"not a Sigstore bundle: {exc}")
        return report
    verifier = Verifier.staging(offline=True) if staging else Verifier.production(offline=True)
    try:
        payload_type, payload = verifier.verify_dsse(bundle, policy.Identity(identity=identity, issuer=issuer))
    except VerificationError as exc:
        report.findings.append(f"Sigstore verification failed: {exc}")
        return report
    report.signed_by = f"{identity} ({issuer})"
    report.checked.append("Sigstore bundle verifies offline: certificate chain, transparency log entry, identity")
    if payload_type != PAYLOAD_TYPE:
        report.findings.append(f"payloadType is {payload_type!r}, expected {PAYLOAD_TYPE!r}")
        return report
    _check_statement(report, payload, artifacts, expected_builder)
    return report
