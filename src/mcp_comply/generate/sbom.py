"""CycloneDX SBOM of an MCP server project, with cyclonedx-python-lib.

Components come from one *source*: the installed environment (``importlib.metadata``), a pip
installation report (``pip install --report``; also ``--dry-run``), or a lock file (``uv.lock``,
PEP 751 ``pylock.toml``, or a hash-pinned ``requirements.txt``). Artefact hashes come from the
source when it has them and from any further report or lock file given (an installed environment
records no artefact hashes; a PEP 610 ``direct_url.json`` sometimes does). Runtime scope by default:
the root project's dependencies and their closure. The server's tools, resources and prompts
become CycloneDX ``services``. Validated with the library's strict validator before it is written.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from mcp_comply.config import read_text, read_toml
from mcp_comply.exceptions import ConfigError, MCPComplyError
from mcp_comply.generate._output import source_date_epoch
from mcp_comply.generate.introspect import ServerSurface

SBOM_JSON = "sbom.cdx.json"
SBOM_XML = "sbom.cdx.xml"
MEDIA_TYPE_JSON = "application/vnd.cyclonedx+json"
HASH_ALGS = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512", "sha1": "SHA-1", "md5": "MD5"}


def purl_name(name: str) -> str:
    """The purl-spec name of a PyPI package: lowercase, ``_`` -> ``-``; dots stay (``boolean.py``).

    Not :func:`packaging.utils.canonicalize_name`, which would also turn dots into dashes."""
    return name.lower().replace("_", "-")


@dataclass
class Package:
    name: str
    version: str
    summary: str = ""
    license_expression: str | None = None
    license_text: str | None = None
    license_classifiers: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    """Requires-Dist strings (markers and extras included)."""
    hashes: dict[str, set[str]] = field(default_factory=dict)
    download_url: str | None = None
    homepage: str | None = None

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def add_hash(self, alg: str, value: str) -> None:
        alg = alg.lower().replace("-", "")
        if alg in HASH_ALGS and re.fullmatch(r"[0-9a-fA-F]{32,128}", value):
            self.hashes.setdefault(alg, set()).add(value.lower())


@dataclass
class Inventory:
    packages: dict[str, Package]
    source: str
    has_graph: bool = True
    notes: list[str] = field(default_factory=list)
    requested_extras: dict[str, set[str]] = field(default_factory=dict)
    """Extras an installation requested of a top-level requirement, by package key: a pip report's
    ``requested_extras`` (``pip install "pkg[extra]"``; pip writes it only on requested items)."""
    installed: bool = False
    """The packages are an installed environment (not a report or lock of one)."""


def _extra(name: str) -> str:
    """An extra's name as PEP 685 compares it (``Format_NonGPL`` -> ``format-nongpl``)."""
    return canonicalize_name(name)


# --- sources ----------------------------------------------------------------------------------


def _licence_text(value: str | None) -> str | None:
    """A short ``License`` field (an identifier or name); None for a whole licence text."""
    return value if value and "\n" not in value and len(value) <= 80 else None


def _licence_classifiers(classifiers: Iterable[str]) -> tuple[str, ...]:
    """``License :: OSI Approved :: MIT License`` -> ``MIT License``."""
    return tuple(c.rsplit(" :: ", 1)[-1] for c in classifiers if c.startswith("License ::") and c.count("::") >= 2)


def _from_metadata(meta: Any) -> Package:
    urls = meta.get_all("Project-URL") or []
    homepage = meta.get("Home-page")
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in {"homepage", "home", "source", "repository"} and not homepage:
            homepage = url.strip()
    return Package(
        name=meta["Name"], version=meta["Version"], summary=meta.get("Summary") or "",
        license_expression=meta.get("License-Expression"), license_text=_licence_text(meta.get("License")),
        license_classifiers=_licence_classifiers(meta.get_all("Classifier") or []),
        requires=tuple(meta.get_all("Requires-Dist") or []), homepage=homepage,
    )


def from_environment() -> Inventory:
    packages: dict[str, Package] = {}
    for dist in metadata.distributions():
        if not dist.metadata["Name"]:
            continue
        pkg = _from_metadata(dist.metadata)
        if pkg.key in packages:
            continue  # the first on sys.path wins, as for imports
        direct = dist.read_text("direct_url.json")  # PEP 610: the same shape as pip's download_info
        if direct:
            with suppress(ValueError):
                _hashes_from_download_info(pkg, json.loads(direct))
        packages[pkg.key] = pkg
    return Inventory(packages, "installed environment", installed=True)


def _malformed(path: Path, what: str, exc: Exception) -> ConfigError:
    """A file that parsed (TOML, JSON) but whose entries are not the shapes its format has (a number
    where a table of a package belongs): one error naming the file, not a TypeError traceback."""
    reason = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
    return ConfigError(f"not a valid {what}: an entry has an unexpected shape ({reason})", source=str(path))


def from_pip_report(path: Path) -> Inventory:
    try:
        return _from_pip_report(path)
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise _malformed(path, "pip installation report", exc) from None


def _from_pip_report(path: Path) -> Inventory:
    data = _read_json(path)
    packages: dict[str, Package] = {}
    requested: dict[str, set[str]] = {}
    for item in data.get("install", []):
        meta = item.get("metadata", {})
        pkg = Package(
            name=meta.get("name", ""), version=meta.get("version", ""), summary=meta.get("summary") or "",
            license_expression=meta.get("license_expression"),
            license_text=_licence_text(meta.get("license")),
            license_classifiers=_licence_classifiers(meta.get("classifier", [])),
            requires=tuple(meta.get("requires_dist", [])), homepage=meta.get("home_page"),
        )
        _hashes_from_download_info(pkg, item.get("download_info", {}))
        packages[pkg.key] = pkg
        if item.get("requested_extras"):
            requested.setdefault(pkg.key, set()).update(_extra(e) for e in item["requested_extras"])
    if not packages:
        raise ConfigError("no 'install' entries: not a pip installation report (pip install --report)",
                          source=str(path))
    return Inventory(packages, f"pip installation report {path.name}", requested_extras=requested)


def _hashes_from_download_info(pkg: Package, info: Mapping[str, Any]) -> None:
    archive = info.get("archive_info") or {}
    for alg, value in (archive.get("hashes") or {}).items():
        pkg.add_hash(alg, value)
    if "hash" in archive and "=" in archive["hash"]:
        pkg.add_hash(*archive["hash"].split("=", 1))
    if archive and info.get("url"):
        pkg.download_url = info["url"]


def from_lock(path: Path) -> Inventory:
    try:
        return _from_lock(path)
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise _malformed(path, "lock file", exc) from None


def _from_lock(path: Path) -> Inventory:
    name = path.name
    if name == "uv.lock":
        return _from_uv_lock(path)
    if name.endswith(".toml") and name.startswith("pylock"):
        return _from_pylock(path)
    if name.endswith(".txt"):
        return _from_requirements(path)
    raise ConfigError("unsupported lock file; use uv.lock, pylock.toml (PEP 751) or a requirements .txt with "
                      "--hash options", source=str(path))


def _read_json(path: Path) -> dict[str, Any]:
    text = read_text(path, "pip report")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", source=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", source=str(path))
    return data


def _from_uv_lock(path: Path) -> Inventory:
    data = read_toml(path, "lock file")
    packages: dict[str, Package] = {}
    for entry in data.get("package", []):
        if "version" not in entry:
            continue
        deps = tuple(d["name"] for d in entry.get("dependencies", []))
        pkg = Package(name=entry["name"], version=entry["version"], requires=deps)
        files = [entry["sdist"]] if "sdist" in entry else []
        files += entry.get("wheels", [])
        for f in files:
            if "hash" in f and ":" in f["hash"]:
                pkg.add_hash(*f["hash"].split(":", 1))
        packages[pkg.key] = pkg
    return Inventory(packages, f"lock file {path.name}")


def _from_pylock(path: Path) -> Inventory:
    data = read_toml(path, "lock file")
    packages: dict[str, Package] = {}
    for entry in data.get("packages", []):
        if "version" not in entry:
            continue
        deps = tuple(d["name"] for d in entry.get("dependencies", []) if "name" in d)
        pkg = Package(name=entry["name"], version=entry["version"], requires=deps)
        files = [entry["sdist"]] if "sdist" in entry else []
        files += entry.get("wheels", [])
        if "archive" in entry:
            files.append(entry["archive"])
        for f in files:
            for alg, value in (f.get("hashes") or {}).items():
                pkg.add_hash(alg, value)
        packages[pkg.key] = pkg
    return Inventory(packages, f"lock file {path.name}", has_graph=any(p.requires for p in packages.values()))


def _from_requirements(path: Path) -> Inventory:
    text = read_text(path, "requirements file")
    packages: dict[str, Package] = {}
    for lineno, raw in enumerate(text.replace("\\\n", " ").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        spec, *options = line.split(" --")
        try:
            req = Requirement(spec.strip())
        except InvalidRequirement as exc:
            raise ConfigError(f"not a requirement: {exc}", source=str(path), path=f"line {lineno}") from None
        pins = [s.version for s in req.specifier if s.operator in {"==", "==="}]
        if not pins:
            raise ConfigError(f"{req.name} is not pinned with ==; a lock file pins every package", source=str(path),
                              path=f"line {lineno}")
        pkg = Package(name=req.name, version=pins[0])
        for option in options:
            if option.startswith("hash=") and ":" in option:
                pkg.add_hash(*option[5:].strip().split(":", 1))
        packages[pkg.key] = pkg
    return Inventory(packages, f"lock file {path.name}", has_graph=False,
                     notes=["a requirements file has no dependency graph: every package is listed as a direct "
                            "dependency of the root"])


DEFAULT_HASH_SOURCES = ("hashes.json", "pylock.toml", "uv.lock")
"""Files in the project root whose artefact hashes are used when none are named: the README
recipe's pip report, and the lock files uv and pip write."""


def default_hash_sources(root: Path) -> tuple[Path, ...]:
    return tuple(root / name for name in DEFAULT_HASH_SOURCES if (root / name).is_file())


def load_inventory(source: Literal["environment", "pip-report", "lock"], path: Path | None = None,
                   extra_hashes: Iterable[Path] = ()) -> Inventory:
    if source == "environment":
        inventory = from_environment()
    elif path is None:
        raise ConfigError(f"the {source} source needs a file", source="sbom")
    else:
        inventory = from_pip_report(path) if source == "pip-report" else from_lock(path)
    for extra in extra_hashes:
        other = from_pip_report(extra) if extra.suffix == ".json" else from_lock(extra)
        for key, pkg in other.packages.items():
            mine = inventory.packages.get(key)
            if mine is not None and mine.version == pkg.version:
                for alg, values in pkg.hashes.items():
                    for value in values:
                        mine.add_hash(alg, value)
                mine.download_url = mine.download_url or pkg.download_url
                if key in other.requested_extras:  # the report installed this very version with them
                    inventory.requested_extras.setdefault(key, set()).update(other.requested_extras[key])
    return inventory


# --- the root project -------------------------------------------------------------------------


@dataclass(frozen=True)
class RootProject:
    name: str
    version: str
    description: str
    license: str | None
    dependencies: tuple[str, ...]
    urls: tuple[tuple[str, str], ...]
    optional_dependencies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``[project.optional-dependencies]``: (extra, its requirements), extra names as PEP 685
    compares them, sorted."""

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)

    def extra_requirements(self, extra: str) -> tuple[str, ...]:
        return next((reqs for name, reqs in self.optional_dependencies if name == extra), ())


def read_pyproject(root: Path) -> RootProject:
    path = root / "pyproject.toml"
    data = read_toml(path, "lock file").get("project")
    if not isinstance(data, dict) or "name" not in data:
        raise ConfigError("no [project] table with a name", source=str(path), path="project")
    version = data.get("version")
    if version is None:
        try:
            version = metadata.version(data["name"])
        except metadata.PackageNotFoundError:
            raise ConfigError("version is dynamic and the project is not installed; install it or set "
                              "project.version", source=str(path), path="project.version") from None
    lic = data.get("license")
    if isinstance(lic, dict):
        lic = lic.get("text")
    optional = data.get("optional-dependencies") or {}
    if not isinstance(optional, dict) or not all(isinstance(v, list) for v in optional.values()):
        raise ConfigError("not a table of requirement lists", source=str(path), path="project.optional-dependencies")
    return RootProject(str(data["name"]), str(version), str(data.get("description", "")),
                       lic if isinstance(lic, str) and len(lic) <= 80 else None,
                       tuple(data.get("dependencies", [])), tuple(sorted((data.get("urls") or {}).items())),
                       tuple(sorted((_extra(k), tuple(map(str, v))) for k, v in optional.items())))


# --- the dependency graph ---------------------------------------------------------------------


def _requirements(specs: Iterable[str], extras: Iterable[str] = ()) -> list[Requirement]:
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    out = []
    for spec in specs:
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            out.append(Requirement(re.split(r"[ ;\[<>=!~]", spec, maxsplit=1)[0]))
            continue
        wanted = ["", *extras]
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in wanted):
            out.append(req)
    return out


ExtrasFrom = Literal["named", "pip-report", "inferred"]


def check_extras(root: RootProject, names: Iterable[str], source: str, path: str = "") -> tuple[str, ...]:
    """``names`` as extras of the root project, PEP 685 spelling; an undeclared one is a ConfigError."""
    declared = [name for name, _ in root.optional_dependencies]
    wanted = tuple(dict.fromkeys(_extra(n) for n in names))
    unknown = [n for n in wanted if n not in declared]
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: not an extra of {root.name} in pyproject.toml (its extras: "
                          f"{', '.join(declared) or 'none'})", source=source, path=path)
    return wanted


def root_extras(root: RootProject, inventory: Inventory, scope: Literal["runtime", "all"],
                named: Iterable[str] | None = None) -> tuple[frozenset[str], ExtrasFrom | None]:
    """The root project's extras whose requirements become edges from the root, and how they are known.

    Named ones (``sbom.extras``, ``--sbom-extras``) in either scope. Otherwise only with scope
    ``all``, which describes the installation: the extras a pip report says it requested of the
    root, else, in an installed environment (which records no extras), every extra whose marker-true
    requirements are all installed at versions they allow (:func:`_installed_extras`)."""
    if named is not None:
        return frozenset(_extra(n) for n in named), "named"
    if scope == "runtime":
        return frozenset(), None
    if root.key in inventory.requested_extras:
        return frozenset(inventory.requested_extras[root.key]), "pip-report"
    if inventory.installed and inventory.has_graph:
        found = _installed_extras(root, inventory.packages)
        return found, "inferred" if found else None
    return frozenset(), None


def _installed_extras(root: RootProject, pkgs: Mapping[str, Package]) -> frozenset[str]:
    """Extras of the root with at least one marker-true requirement, every one of them installed at
    a version its specifier allows; a requirement of the root itself (``test = ["me[release]"]``)
    counts when the extras it names count too (the largest such set)."""

    def installed(req: Requirement, active: set[str]) -> bool:
        key = canonicalize_name(req.name)
        if key == root.key:
            return {_extra(e) for e in req.extras} <= active
        pkg = pkgs.get(key)
        if pkg is None:
            return False
        try:
            return req.specifier.contains(pkg.version, prereleases=True)
        except InvalidVersion:
            return True  # a version packaging cannot order: installed is all it shows

    active = {name for name, reqs in root.optional_dependencies if _requirements(reqs)}
    while True:
        kept = {e for e in active if all(installed(r, active) for r in _requirements(root.extra_requirements(e)))}
        if kept == active:
            return frozenset(kept)
        active = kept


@dataclass
class Graph:
    direct: list[str]
    """Keys the root depends on."""
    edges: dict[str, list[str]]
    """Keys each package depends on (every package in scope is a key)."""
    missing: list[str]
    """Requirements that are not in the inventory."""
    root_extras: list[str]
    """The root's extras followed: the given ones and those their requirements request of the root."""


def resolve_graph(inventory: Inventory, root: RootProject, scope: Literal["runtime", "all"],
                  extras: Iterable[str] = ()) -> Graph:
    """The dependency graph: markers evaluated for this interpreter, and a requirement guarded by
    ``extra == "x"`` followed only where extra x of its package is requested (by the root's
    ``extras``, by a requirement ``pkg[x]`` that is itself followed, or, with scope ``all``, by the
    pip report's ``requested_extras``)."""
    pkgs = inventory.packages
    if not inventory.has_graph:
        keys = sorted(k for k in pkgs if k != root.key)
        return Graph(keys, {k: [] for k in keys}, [], sorted(_extra(e) for e in extras))
    missing: list[str] = []
    edges: dict[str, list[str]] = {}

    def deps_of(specs: Iterable[str], extras: Iterable[str]) -> list[str]:
        found = []
        for req in _requirements(specs, extras):
            key = canonicalize_name(req.name)
            if key == root.key:
                continue  # the root asking for its own extras: no edge
            if key in pkgs:
                found.append(key)
            else:
                missing.append(str(req))
        return sorted(set(found))

    # Extras requested anywhere (``jsonschema[format-nongpl]``, ``me[release]``) add edges to that
    # package, so walk again until the sets of requested extras stop growing.
    wanted = {_extra(e) for e in extras}
    extras_seen: dict[str, set[str]] = {}
    if scope == "all":
        extras_seen = {k: set(v) for k, v in inventory.requested_extras.items() if k != root.key}

    def request(reqs: Iterable[Requirement]) -> None:
        for req in reqs:
            key = canonicalize_name(req.name)
            (wanted if key == root.key else extras_seen.setdefault(key, set())).update(_extra(e) for e in req.extras)

    direct: list[str] = []
    while True:
        before = ({k: set(v) for k, v in extras_seen.items()}, set(wanted))
        missing.clear()
        edges.clear()
        specs = [*root.dependencies, *(r for e in sorted(wanted) for r in root.extra_requirements(e))]
        request(_requirements(specs))
        direct = deps_of(specs, ())
        queue = list(direct) if scope == "runtime" else sorted(k for k in pkgs if k != root.key)
        while queue:
            key = queue.pop()
            if key in edges:
                continue
            extras = extras_seen.get(key, set())
            request(_requirements(pkgs[key].requires, extras))
            edges[key] = deps_of(pkgs[key].requires, extras)
            queue.extend(dep for dep in edges[key] if dep not in edges)
        if (extras_seen, wanted) == before:
            break
    return Graph(direct, edges, sorted(set(missing)), sorted(wanted))


# --- building the BOM -------------------------------------------------------------------------


@dataclass
class SbomResult:
    text: str
    format: Literal["json", "xml"]
    components: int
    with_hashes: int
    with_licenses: int
    edges: int
    services: int
    notes: list[str]

    @property
    def filename(self) -> str:
        return SBOM_JSON if self.format == "json" else SBOM_XML


def _licenses(pkg: Package) -> list[Any]:
    """SPDX ids or expressions where the metadata names a known licence (license-expression maps
    free text such as "Apache 2.0"); anything else is kept as the name it was given."""
    from cyclonedx.contrib.license.factories import LicenseFactory

    from mcp_comply.generate._licences import spdx_of

    factory = LicenseFactory()

    def one(text: str) -> Any:
        found = spdx_of(text)
        return factory.make_from_string(found) if found else factory.make_with_name(text)

    if pkg.license_expression:
        return [one(pkg.license_expression.strip())]
    if pkg.license_text and pkg.license_text.strip().upper() not in {"UNKNOWN", ""}:
        return [one(pkg.license_text.strip())]
    return [one(name) for name in sorted(set(pkg.license_classifiers))]


def _services(surface: ServerSurface, service_name: str) -> Any:
    from cyclonedx.model import DataClassification, DataFlow, Property
    from cyclonedx.model.service import Service

    flows = {
        "tool": [(DataFlow.INBOUND, "tool arguments"), (DataFlow.OUTBOUND, "tool results")],
        "resource": [(DataFlow.OUTBOUND, "resource contents")],
        "resource-template": [(DataFlow.INBOUND, "resource URI parameters"), (DataFlow.OUTBOUND, "resource contents")],
        "prompt": [(DataFlow.INBOUND, "prompt arguments"), (DataFlow.OUTBOUND, "prompt messages")],
    }
    children = []
    for cap in surface.capabilities:
        props = [Property(name="mcp:capability", value=cap.kind)]
        if cap.schema_digest is not None:
            label = "mcp:input-schema:sha256" if cap.kind == "tool" else "mcp:arguments:sha256"
            props.append(Property(name=label, value=cap.schema_digest))
        if cap.uri:
            props.append(Property(name="mcp:uri", value=cap.uri))
        children.append(Service(
            name=cap.name, bom_ref=f"mcp:{cap.kind}:{cap.name}", description=cap.description or None,
            data=[DataClassification(flow=f, classification=c) for f, c in flows[cap.kind]], properties=props))
    return Service(name=service_name, bom_ref=f"mcp:server:{service_name}",
                   description=f"MCP server {surface.name}: {len(surface.of('tool'))} tools, "
                               f"{len(surface.of('resource')) + len(surface.of('resource-template'))} resources, "
                               f"{len(surface.of('prompt'))} prompts",
                   properties=[Property(name="mcp:server-name", value=surface.name)], services=children)


@contextmanager
def _quick_iri_check() -> Iterator[None]:
    """Speed up jsonschema's ``iri-reference`` format check for the duration of our validation.

    jsonschema checks it with rfc3987-syntax, an Earley parser that takes about 30 ms per URL
    (2.3 s for an SBOM with 70 distribution URLs). For ASCII strings an IRI-reference is exactly a
    URI-reference (RFC 3987 section 2.2 only adds non-ASCII characters to RFC 3986's grammar), which
    rfc3986-validator (installed with jsonschema's format extra) checks with a regular expression in
    microseconds. Other strings still get the original check; the original is restored afterwards.
    """
    try:
        from jsonschema import Draft7Validator
        from rfc3986_validator import validate_rfc3986
    except ImportError:
        yield
        return
    checkers = Draft7Validator.FORMAT_CHECKER.checkers
    original = checkers.get("iri-reference")
    if original is None:
        yield
        return
    slow, raises = original

    def check(value: object) -> bool:
        if isinstance(value, str) and value.isascii():
            return bool(validate_rfc3986(value, rule="URI_reference"))
        return bool(slow(value))

    checkers["iri-reference"] = (check, raises)
    try:
        yield
    finally:
        checkers["iri-reference"] = original


def validate(text: str, fmt: Literal["json", "xml"]) -> str | None:
    """cyclonedx-python-lib's strict CycloneDX 1.6 schema validation; the first error, or None."""
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from cyclonedx.validation import make_schemabased_validator

    output_format = OutputFormat.JSON if fmt == "json" else OutputFormat.XML
    with _quick_iri_check():
        error = make_schemabased_validator(output_format, SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)


def build_sbom(root: RootProject, inventory: Inventory, surface: ServerSurface | None, *, service_name: str,
               scope: Literal["runtime", "all"] = "runtime", fmt: Literal["json", "xml"] = "json",
               extras: Iterable[str] | None = None) -> SbomResult:
    """``extras``: the root's extras to follow (checked with :func:`check_extras`); None: those
    :func:`root_extras` finds."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from packageurl import PackageURL

    from mcp_comply import __version__

    ref_types = {"homepage": ExternalReferenceType.WEBSITE, "source": ExternalReferenceType.VCS,
                  "repository": ExternalReferenceType.VCS, "documentation": ExternalReferenceType.DOCUMENTATION,
                  "issues": ExternalReferenceType.ISSUE_TRACKER, "changelog": ExternalReferenceType.RELEASE_NOTES}
    followed, origin = root_extras(root, inventory, scope, extras)
    graph = resolve_graph(inventory, root, scope, followed)
    direct, edges, missing = graph.direct, graph.edges, graph.missing
    notes = list(inventory.notes)
    if missing:
        notes.append(f"not in the {inventory.source}: {', '.join(missing)}")
    root_purl = PackageURL(type="pypi", name=purl_name(root.name), version=root.version)
    root_component = Component(
        name=root.name, version=root.version, type=ComponentType.APPLICATION, bom_ref=root_purl.to_string(),
        purl=root_purl, description=root.description or None,
        licenses=_licenses(Package(root.name, root.version, license_expression=root.license)) if root.license else (),
        external_references=[ExternalReference(type=ref_types.get(label.lower(), ExternalReferenceType.OTHER),
                                               url=XsUri(url), comment=label) for label, url in root.urls],
    )
    tool = Component(name="mcp-comply", version=__version__, type=ComponentType.APPLICATION,
                     bom_ref=f"pkg:pypi/mcp-comply@{__version__}?tool")
    timestamp = source_date_epoch()
    meta = BomMetaData(component=root_component, timestamp=timestamp)
    if graph.root_extras:  # what the root's edges were built from, so a reader can tell
        meta.properties.add(Property(name="mcp-comply:sbom:root-extras", value=",".join(graph.root_extras)))
        meta.properties.add(Property(name="mcp-comply:sbom:root-extras-from", value=origin or "requirement"))
    meta.tools.components.add(tool)
    bom = Bom(metadata=meta, serial_number=uuid.UUID(int=0))
    bom.metadata.timestamp = timestamp  # type: ignore[assignment]  # None: no timestamp without SOURCE_DATE_EPOCH
    by_key: dict[str, Any] = {}
    with_hashes = with_licenses = 0
    for key in sorted(edges):
        if key == canonicalize_name(root.name):
            continue
        pkg = inventory.packages[key]
        purl = PackageURL(type="pypi", name=purl_name(pkg.name), version=pkg.version)
        hashes = [HashType(alg=HashAlgorithm(HASH_ALGS[alg]), content=value)
                  for alg in sorted(pkg.hashes) for value in sorted(pkg.hashes[alg])]
        refs = []
        if pkg.download_url:
            refs.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(pkg.download_url),
                                          hashes=hashes[:1]))
        licenses = _licenses(pkg)
        component = Component(name=pkg.name, version=pkg.version, bom_ref=purl.to_string(), purl=purl,
                              description=pkg.summary or None, licenses=licenses, hashes=hashes,
                              external_references=refs)
        with_hashes += bool(hashes)
        with_licenses += bool(licenses)
        by_key[key] = component
        bom.components.add(component)
    bom.register_dependency(root_component, [by_key[k] for k in direct if k in by_key])
    edge_count = len([k for k in direct if k in by_key])
    for key, deps in sorted(edges.items()):
        if key in by_key:
            targets = [by_key[d] for d in deps if d in by_key]
            bom.register_dependency(by_key[key], targets)
            edge_count += len(targets)
    services = 0
    if surface is not None:
        server_service = _services(surface, service_name)
        bom.services.add(server_service)
        services = len(server_service.services)
    version = SchemaVersion.V1_6
    output_format = OutputFormat.JSON if fmt == "json" else OutputFormat.XML
    draft = make_outputter(bom, output_format, version).output_as_string(indent=2) + "\n"
    # A stable serial number, derived from the content itself.
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "mcp-comply:" + draft).urn
    text = draft.replace(uuid.UUID(int=0).urn, serial, 1)
    error = validate(text, fmt)
    if error is not None:
        raise MCPComplyError(f"the generated SBOM does not validate against CycloneDX {version.to_version()}: {error}")
    return SbomResult(text, fmt, len(by_key), with_hashes, with_licenses, edge_count, services, notes)
