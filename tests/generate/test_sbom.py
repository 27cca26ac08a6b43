"""The CycloneDX SBOM: schema-valid JSON and XML, correct purls, hashes from every source that has
them, the full graph, and the server's capabilities as services."""

from __future__ import annotations

import hashlib
import json
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import anyio
import pytest
from cyclonedx.schema import OutputFormat, SchemaVersion
from cyclonedx.validation import make_schemabased_validator
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client

from mcp_comply.exceptions import ConfigError
from mcp_comply.generate import sbom
from mcp_comply.generate.introspect import introspect, resolve_server, schema_digest

ROOT = Path(__file__).resolve().parents[2]
HASH_A = "a" * 64
HASH_B = "b" * 64


@pytest.fixture(scope="module")
def surface() -> object:
    return introspect(resolve_server("examples.weather_server:build_server", ROOT))


@pytest.fixture(scope="module")
def env_bom(surface: object) -> sbom.SbomResult:
    inventory = sbom.load_inventory("environment")
    return sbom.build_sbom(sbom.read_pyproject(ROOT), inventory, surface, service_name="weather")  # type: ignore[arg-type]


def validate(text: str, fmt: OutputFormat) -> None:
    error = make_schemabased_validator(fmt, SchemaVersion.V1_6).validate_str(text)
    assert error is None, error


def test_environment_sbom_is_valid_and_covers_the_runtime_closure(env_bom: sbom.SbomResult) -> None:
    validate(env_bom.text, OutputFormat.JSON)
    data = json.loads(env_bom.text)
    assert data["bomFormat"] == "CycloneDX"
    assert data["specVersion"] == "1.6"
    root = data["metadata"]["component"]
    assert (root["name"], root["type"], root["purl"]) == ("mcp-comply", "application", "pkg:pypi/mcp-comply@0.1.0")
    names = {c["purl"].split("/")[1].split("@")[0] for c in data["components"]}
    # The declared runtime dependencies and some of their own dependencies; no test-only tools.
    assert {"mcp", "pydantic", "prometheus-client", "cryptography", "opentelemetry-sdk", "pyyaml",
            "pydantic-core", "attrs"} <= names  # purl names: lowercase, "_" -> "-"
    assert not {"grafanalib", "cyclonedx-python-lib"} & names  # the release extra is not the runtime
    assert not {"pytest", "hypothesis", "ruff", "mypy"} & names
    deps = {d["ref"]: d.get("dependsOn", []) for d in data["dependencies"]}
    assert "pkg:pypi/pydantic-core@" in " ".join(deps[next(r for r in deps if r.startswith("pkg:pypi/pydantic@"))])
    assert set(deps[root["bom-ref"]]) >= {c["bom-ref"] for c in data["components"] if c["name"] in {"mcp", "pydantic"}}
    assert env_bom.edges == sum(len(v) for v in deps.values())
    assert env_bom.components == len(data["components"])
    assert env_bom.with_licenses >= env_bom.components - 3
    mit = next(c for c in data["components"] if c["name"] == "PyJWT")
    assert mit["licenses"] == [{"license": {"id": "MIT"}}]


def test_services_are_the_servers_tools_with_schema_digests(env_bom: sbom.SbomResult) -> None:
    from examples.weather_server import build_server

    async def listed() -> dict[str, str]:
        async with Client(build_server()) as client:
            tools = (await client.list_tools()).tools
        return {t.name: schema_digest(dict(t.input_schema)) for t in tools}

    expected = anyio.run(listed)
    service = json.loads(env_bom.text)["services"][0]
    assert service["name"] == "weather"
    kinds = {s["name"]: next(p["value"] for p in s["properties"] if p["name"] == "mcp:capability")
             for s in service["services"]}
    assert kinds == {"get_forecast": "tool", "convert_temperature": "tool", "plan_trip": "tool",
                     "station_status": "tool", "cities": "resource", "plan_weekend": "prompt"}
    tools = {s["name"]: s for s in service["services"] if kinds[s["name"]] == "tool"}
    assert set(tools) == set(expected)
    cities = next(s for s in service["services"] if s["name"] == "cities")
    assert [d["flow"] for d in cities["data"]] == ["outbound"]
    assert {"name": "mcp:uri", "value": "weather://cities"} in cities["properties"]
    for name, digest in expected.items():
        props = {p["name"]: p["value"] for p in tools[name]["properties"]}
        assert props == {"mcp:capability": "tool", "mcp:input-schema:sha256": digest}
        assert [d["flow"] for d in tools[name]["data"]] == ["inbound", "outbound"]
        assert tools[name]["description"]


def test_xml_output_validates_against_the_xsd(surface: object) -> None:
    inventory = sbom.load_inventory("environment")
    result = sbom.build_sbom(sbom.read_pyproject(ROOT), inventory, surface, service_name="weather",  # type: ignore[arg-type]
                             fmt="xml")
    assert result.filename == "sbom.cdx.xml"
    assert result.text.startswith("<?xml")
    validate(result.text, OutputFormat.XML)


@pytest.mark.parametrize(("name", "purl"), [
    ("boolean.py", "boolean.py"), ("zope.interface", "zope.interface"), ("Typing_Extensions", "typing-extensions"),
    ("PyYAML", "pyyaml"), ("ruamel.yaml.clib", "ruamel.yaml.clib"), ("Flask_SQLAlchemy", "flask-sqlalchemy"),
])
def test_purl_names_follow_the_purl_spec_not_pep503(name: str, purl: str) -> None:
    assert sbom.purl_name(name) == purl


def test_requirements_lock_gives_hashes_and_exact_purls(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "# locked\n"
        f"boolean.py==5.0 \\\n    --hash=sha256:{HASH_A}\n"
        f"zope.interface==7.2 --hash=sha256:{HASH_B} --hash=sha256:{'c' * 64}\n"
        f"Typing_Extensions==4.12.2 --hash=sha256:{'d' * 64}\n")
    inventory = sbom.load_inventory("lock", lock)
    result = sbom.build_sbom(sbom.read_pyproject(ROOT), inventory, None, service_name="weather")
    validate(result.text, OutputFormat.JSON)
    comps = {c["name"]: c for c in json.loads(result.text)["components"]}
    assert comps["boolean.py"]["purl"] == "pkg:pypi/boolean.py@5.0"
    assert comps["zope.interface"]["purl"] == "pkg:pypi/zope.interface@7.2"
    assert comps["Typing_Extensions"]["purl"] == "pkg:pypi/typing-extensions@4.12.2"
    assert comps["boolean.py"]["hashes"] == [{"alg": "SHA-256", "content": HASH_A}]
    assert [h["content"] for h in comps["zope.interface"]["hashes"]] == [HASH_B, "c" * 64]
    assert (result.components, result.with_hashes) == (3, 3)
    assert "no dependency graph" in result.notes[0]


def test_uv_lock_gives_graph_and_hashes(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(f'''version = 1
[[package]]
name = "mcp-comply"
version = "0.1.0"
source = {{ editable = "." }}
dependencies = [{{ name = "pyyaml" }}]

[[package]]
name = "pyyaml"
version = "6.0.2"
sdist = {{ url = "https://files.example/pyyaml-6.0.2.tar.gz", hash = "sha256:{HASH_A}" }}
wheels = [{{ url = "https://files.example/pyyaml-6.0.2-cp311.whl", hash = "sha256:{HASH_B}" }}]
dependencies = [{{ name = "zope.interface" }}]

[[package]]
name = "zope.interface"
version = "7.2"
wheels = [{{ url = "https://files.example/zope.interface-7.2.whl", hash = "sha256:{'e' * 64}" }}]
''')
    root = sbom.RootProject("mcp-comply", "0.1.0", "", None, ("pyyaml>=6",), ())
    result = sbom.build_sbom(root, sbom.load_inventory("lock", lock), None, service_name="x")
    data = json.loads(result.text)
    validate(result.text, OutputFormat.JSON)
    deps = {d["ref"]: d.get("dependsOn", []) for d in data["dependencies"]}
    assert deps["pkg:pypi/mcp-comply@0.1.0"] == ["pkg:pypi/pyyaml@6.0.2"]
    assert deps["pkg:pypi/pyyaml@6.0.2"] == ["pkg:pypi/zope.interface@7.2"]
    assert (result.components, result.with_hashes, result.edges) == (2, 2, 2)


def _tiny_wheel(folder: Path, name: str, version: str) -> Path:
    """A real (if tiny) wheel, so pip can resolve it offline from a local folder."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    files = {
        f"{name.replace('-', '_')}/__init__.py": b"",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
                                      "License: Apache-2.0\nSummary: tiny\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
        zf.writestr(f"{dist}.dist-info/RECORD", record)
    return path


def test_a_real_pip_report_supplies_hashes_and_licences(tmp_path: Path) -> None:
    wheel = _tiny_wheel(tmp_path, "tiny-dep", "1.2.3")
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
                    "--find-links", str(tmp_path), "--quiet", "--report", str(report), "tiny-dep==1.2.3"],
                   check=True, capture_output=True)
    root = sbom.RootProject("my-server", "2.0", "", "MIT", ("tiny-dep",), ())
    result = sbom.build_sbom(root, sbom.load_inventory("pip-report", report), None, service_name="x")
    validate(result.text, OutputFormat.JSON)
    [component] = json.loads(result.text)["components"]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert component["hashes"] == [{"alg": "SHA-256", "content": digest}]
    assert component["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert component["purl"] == "pkg:pypi/tiny-dep@1.2.3"
    assert component["externalReferences"][0]["type"] == "distribution"
    assert component["externalReferences"][0]["url"].endswith(wheel.name)


def test_output_is_deterministic_and_dated_only_by_source_date_epoch(surface: object,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def build() -> str:
        inventory = sbom.load_inventory("environment")
        return sbom.build_sbom(sbom.read_pyproject(ROOT), inventory, surface, service_name="weather").text  # type: ignore[arg-type]

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first, second = build(), build()
    assert first == second
    assert "timestamp" not in json.loads(first)["metadata"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    dated = json.loads(build())
    assert dated["metadata"]["timestamp"] == "2026-01-01T00:00:00+00:00"
    assert dated["serialNumber"] != json.loads(first)["serialNumber"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="not a Unix timestamp"):
        build()


def test_bad_sources_name_the_file_and_line(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("pyyaml==6.0\nrequests>=2\n")
    with pytest.raises(ConfigError) as info:
        sbom.load_inventory("lock", lock)
    assert (info.value.source, info.value.path) == (str(lock), "line 2")
    assert "not pinned" in info.value.reason
    bad = tmp_path / "report.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="not a pip installation report"):
        sbom.load_inventory("pip-report", bad)
    with pytest.raises(ConfigError, match="unsupported lock file"):
        sbom.load_inventory("lock", tmp_path / "poetry.lock")


_URLISH = st.text(alphabet=string.ascii_letters + string.digits + ":/?#[]@!$&'()*+,;=-._~% \"<>\\^`{|}", max_size=40)


@settings(max_examples=400, deadline=None)
@given(value=_URLISH | st.builds(lambda host, path: f"https://{host}/{path}", _URLISH, _URLISH))
def test_quick_iri_check_agrees_with_the_full_parser_on_ascii(value: str) -> None:
    """The ASCII shortcut used during validation gives the same verdict as rfc3987-syntax."""
    from jsonschema import Draft7Validator
    from rfc3987_syntax import is_valid_syntax_iri_reference

    with sbom._quick_iri_check():
        quick = Draft7Validator.FORMAT_CHECKER.checkers["iri-reference"][0](value)
    assert quick == is_valid_syntax_iri_reference(value)
    assert Draft7Validator.FORMAT_CHECKER.checkers["iri-reference"][0].__name__ != "check"  # restored


def test_requirements_missing_from_the_source_are_reported(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "pyyaml"\nversion = "6.0.2"\n')
    root = sbom.RootProject("svc", "1.0", "", None, ("pyyaml>=6", "not-installed-anywhere>=1"), ())
    result = sbom.build_sbom(root, sbom.load_inventory("lock", lock), None, service_name="svc")
    assert result.components == 1
    assert result.notes == ["not in the lock file uv.lock: not-installed-anywhere>=1"]


@pytest.mark.parametrize(("name", "data", "reason"), [
    pytest.param("uv.lock", b"package = [1]\n", "not a valid lock file: an entry has an unexpected shape "
                 "(argument of type 'int' is not iterable)", id="uv-lock-number-for-package"),
    pytest.param("uv.lock", b'[[package]]\nversion = "1"\n', "not a valid lock file: an entry has an unexpected "
                 "shape (missing key 'name')", id="uv-lock-package-without-name"),
    pytest.param("pylock.toml", b'[[packages]]\nname = 5\nversion = "1"\n', "not a valid lock file: an entry has an "
                 "unexpected shape ('int' object has no attribute 'lower')", id="pylock-number-for-name"),
    pytest.param("requirements.txt", b"x==1 --hash=sha256:\xff\n", "cannot read requirements file: not UTF-8 text "
                 "(byte 0xff at offset 19)", id="requirements-not-utf8"),
    pytest.param("report.json", b'{"install": [{"metadata": 5}]}', "not a valid pip installation report: an entry "
                 "has an unexpected shape ('int' object has no attribute 'get')", id="pip-report-number-for-metadata"),
    pytest.param("report.json", b"\xff\xfe{}", "cannot read pip report: not UTF-8 text (byte 0xff at offset 0)",
                 id="pip-report-not-utf8"),
    pytest.param("report.json", None, "cannot read pip report: not a regular file (a FIFO)", id="pip-report-fifo"),
])
def test_a_malformed_lock_file_or_report_is_one_config_error(tmp_path: Path, name: str, data: bytes | None,
                                                             reason: str) -> None:
    """Files that parse but hold the wrong shapes, are not UTF-8, or are a FIFO (which blocked):
    a ConfigError naming the file, never a TypeError or UnicodeDecodeError traceback."""
    import os

    path = tmp_path / name
    if data is None:
        os.mkfifo(path)
    else:
        path.write_bytes(data)
    load = sbom.from_pip_report if name.endswith(".json") else sbom.from_lock
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == f"{path}: {reason}"


# --- extras: the root's, the ones its requirements request, and none else ------------------------

PROBE = "mcpc-probe"
"""A root project and five packages (unique names, so they cannot meet anything installed)."""
PROBE_ROOT = f"{PROBE}-root"
PROBE_EXTRAS = {
    "full": (f"{PROBE}-beta[fmt]", f"{PROBE_ROOT}[db]"),  # a transitive extra of beta, and the root's own db
    "db": (f"{PROBE}-gamma",),
    "docs": (f"{PROBE}-delta", f"{PROBE}-omega"),  # never requested; omega is nowhere
    "old": (f'{PROBE}-kappa; python_version < "3"',),  # marker-false for every Python here
}
PROBE_DEPS = {
    f"{PROBE}-alpha": (f"{PROBE}-delta", f"{PROBE}-kappa"),
    f"{PROBE}-beta": (f'{PROBE}-iota; extra == "fmt"', f'{PROBE}-kappa; extra == "other"',
                      f'{PROBE}-delta; python_version < "3"'),
    f"{PROBE}-gamma": (), f"{PROBE}-delta": (), f"{PROBE}-kappa": (), f"{PROBE}-iota": (),
}
PROBE_EDGES = {  # (from, to) with the root's extras full and db (db requested by full)
    ("root", "alpha"), ("root", "beta"), ("root", "gamma"),
    ("alpha", "delta"), ("alpha", "kappa"), ("beta", "iota"),
}
"""Not in it: root->delta (extra docs, not requested), root->kappa (extra old, marker-false),
beta->kappa (beta's extra other, not requested), beta->delta (marker-false)."""


def _probe_root() -> sbom.RootProject:
    return sbom.RootProject(PROBE_ROOT, "1.0", "", None, (f"{PROBE}-alpha",), (),
                            tuple(sorted(PROBE_EXTRAS.items())))


def _wheel(folder: Path, name: str, requires: tuple[str, ...], extras: tuple[str, ...] = ()) -> None:
    dist = f"{name.replace('-', '_')}-1.0"
    meta = f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\nLicense-Expression: MIT\n"
    meta += "".join(f"Provides-Extra: {e}\n" for e in extras) + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{name.replace('-', '_')}/__init__.py": b"", f"{dist}.dist-info/METADATA": meta.encode(),
             f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        b"Tag: py3-none-any\n"}
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
        zf.writestr(f"{dist}.dist-info/RECORD", "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n")


@pytest.fixture(scope="module")
def probe_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe-wheels")
    root_requires = [f"{PROBE}-alpha"]
    for extra, reqs in PROBE_EXTRAS.items():  # as a build backend writes them: extra markers added
        for req in reqs:
            spec, _, marker = req.partition(";")
            root_requires.append(f'{spec.strip()}; ({marker.strip()}) and extra == "{extra}"' if marker
                                 else f'{spec}; extra == "{extra}"')
    _wheel(folder, PROBE_ROOT, tuple(root_requires), tuple(PROBE_EXTRAS))
    for name, requires in PROBE_DEPS.items():
        _wheel(folder, name, requires, ("fmt", "other") if name.endswith("-beta") else ())
    return folder


def _pip_install(wheels: Path, target: Path, report: Path, spec: str) -> None:
    """A real installation (into ``target``, offline) that records its report."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "--quiet",
                    "--disable-pip-version-check", "--target", str(target), "--report", str(report), spec],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def probe_install(probe_wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``pip install "mcpc-probe-root[full]"``: (site folder, its installation report)."""
    folder = tmp_path_factory.mktemp("probe-install")
    _pip_install(probe_wheels, folder / "site", folder / "report.json", f"{PROBE_ROOT}[full]")
    return folder / "site", folder / "report.json"


def _short(key: str) -> str:
    return key.removeprefix(f"{PROBE}-")


def _probe_edges(graph: sbom.Graph) -> set[tuple[str, str]]:
    edges = {("root", _short(d)) for d in graph.direct}
    edges |= {(_short(k), _short(d)) for k, deps in graph.edges.items() if k.startswith(PROBE) for d in deps}
    return {e for e in edges if not e[1].startswith("pkg")}


def _bom_edges(result: sbom.SbomResult) -> tuple[set[tuple[str, str]], set[str]]:
    """(probe edges by short name, probe components with no incoming edge) of a built SBOM."""
    data = json.loads(result.text)
    names = {c["bom-ref"]: c["name"] for c in data["components"]}
    names[data["metadata"]["component"]["bom-ref"]] = PROBE_ROOT
    edges = {(_short(names[d["ref"]]).removesuffix("root") or "root", _short(names[t]))
             for d in data["dependencies"] for t in d.get("dependsOn", []) if names[d["ref"]].startswith(PROBE)}
    probes = {_short(n) for n in names.values() if n.startswith(PROBE) and n != PROBE_ROOT}
    return edges, probes - {t for _, t in edges}


def test_a_pip_report_s_requested_extras_of_the_root_become_edges_and_theirs_are_followed(
        probe_install: tuple[Path, Path]) -> None:
    """The report says the root was installed with [full]: full's requirements are the root's
    dependencies, full asks for the root's db and for beta's fmt, and those are followed too; the
    unrequested extras (root's docs, beta's other) and marker-false requirements stay out. No
    component lacks an incoming edge. (Before: only root->alpha, alpha->delta, alpha->kappa.)"""
    _, report = probe_install
    inventory = sbom.load_inventory("pip-report", report)
    assert inventory.requested_extras == {PROBE_ROOT: {"full"}}
    assert sbom.root_extras(_probe_root(), inventory, "all") == (frozenset({"full"}), "pip-report")
    graph = sbom.resolve_graph(inventory, _probe_root(), "all", {"full"})
    assert _probe_edges(graph) == PROBE_EDGES
    assert graph.root_extras == ["db", "full"]
    assert graph.missing == []
    result = sbom.build_sbom(_probe_root(), inventory, None, service_name="x", scope="all")
    validate(result.text, OutputFormat.JSON)
    edges, orphans = _bom_edges(result)
    assert (edges, orphans) == (PROBE_EDGES, set())
    assert (result.components, result.edges) == (6, 6)
    assert json.loads(result.text)["metadata"]["properties"] == [
        {"name": "mcp-comply:sbom:root-extras", "value": "db,full"},
        {"name": "mcp-comply:sbom:root-extras-from", "value": "pip-report"}]
    # The runtime scope follows only extras that are named.
    runtime = sbom.build_sbom(_probe_root(), inventory, None, service_name="x", scope="runtime")
    assert _bom_edges(runtime) == ({("root", "alpha"), ("alpha", "delta"), ("alpha", "kappa")}, set())
    assert "properties" not in json.loads(runtime.text)["metadata"]
    named = sbom.build_sbom(_probe_root(), inventory, None, service_name="x", scope="runtime", extras=("db",))
    assert _bom_edges(named)[0] == {("root", "alpha"), ("root", "gamma"), ("alpha", "delta"), ("alpha", "kappa")}


def test_an_installed_environment_s_root_extras_come_from_a_report_or_from_what_is_installed(
        probe_wheels: Path, probe_install: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed environment records no extras. With --hashes-from naming the installation's
    report, its requested_extras count; without a report, an extra counts when each of its
    marker-true requirements is installed (full and db here; docs lacks omega; old has none)."""
    site, report = probe_install
    monkeypatch.syspath_prepend(str(site))
    root = _probe_root()
    for hashes, origin in (((), "inferred"), ((report,), "pip-report")):
        inventory = sbom.load_inventory("environment", None, hashes)
        assert sbom.root_extras(root, inventory, "all")[1] == origin
        assert sbom.root_extras(root, inventory, "runtime") == (frozenset(), None)
        extras, _ = sbom.root_extras(root, inventory, "all")
        assert extras == ({"full", "db"} if origin == "inferred" else {"full"})
        graph = sbom.resolve_graph(inventory, root, "all", extras)
        assert _probe_edges(graph) == PROBE_EDGES
        assert not [m for m in graph.missing if PROBE in m]
        targets = {d for deps in graph.edges.values() for d in deps} | set(graph.direct)
        assert {k for k in graph.edges if k.startswith(PROBE)} <= targets  # no probe component is an orphan
    # A root installed with [db] only: beta is installed (the earlier install) but not the root's.
    smaller = tmp_path / "db.json"
    _pip_install(probe_wheels, tmp_path / "db-site", smaller, f"{PROBE_ROOT}[db]")
    inventory = sbom.load_inventory("environment", None, (smaller,))
    assert sbom.root_extras(root, inventory, "all") == (frozenset({"db"}), "pip-report")
    graph = sbom.resolve_graph(inventory, root, "all", {"db"})
    assert _probe_edges(graph) == {("root", "alpha"), ("root", "gamma"), ("alpha", "delta"), ("alpha", "kappa")}


def test_inferred_extras_need_every_marker_true_requirement_installed() -> None:
    root = _probe_root()
    versions = {f"{PROBE}-{n}": "1.0" for n in ("alpha", "beta", "gamma", "delta", "kappa", "iota")}

    def inventory(**change: str | None) -> sbom.Inventory:
        pkgs = {**versions, **{f"{PROBE}-{k}": v for k, v in change.items()}}
        return sbom.Inventory({k: sbom.Package(k, v) for k, v in pkgs.items() if v is not None}, "env",
                              installed=True)

    assert sbom.root_extras(root, inventory(), "all") == (frozenset({"full", "db"}), "inferred")
    assert sbom.root_extras(root, inventory(omega="2"), "all")[0] == {"full", "db", "docs"}
    # No gamma: db does not count, so full (which asks for the root's db) does not either.
    assert sbom.root_extras(root, inventory(gamma=None), "all") == (frozenset(), None)
    pinned = sbom.RootProject(PROBE_ROOT, "1.0", "", None, (), (), (("db", (f"{PROBE}-gamma>=2",)),))
    assert sbom.root_extras(pinned, inventory(), "all")[0] == frozenset()  # gamma 1.0 is not >=2
    assert sbom.root_extras(pinned, inventory(gamma="2.1"), "all")[0] == {"db"}
    not_installed = sbom.Inventory(inventory().packages, "lock file uv.lock")
    assert sbom.root_extras(root, not_installed, "all") == (frozenset(), None)  # a lock shows no installation


def test_named_extras_are_checked_against_the_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mcp_comply.cli import main

    root = _probe_root()
    assert sbom.check_extras(root, ["DB", "full", "db"], "--sbom-extras") == ("db", "full")
    with pytest.raises(ConfigError) as info:
        sbom.check_extras(root, ["db", "nope"], "cfg.yaml", "sbom.extras")
    assert str(info.value) == ("cfg.yaml: sbom.extras: nope: not an extra of mcpc-probe-root in pyproject.toml "
                               "(its extras: db, docs, full, old)")
    config = ROOT / "pyproject.toml"
    for value, message in (("nope", "--sbom-extras: nope: not an extra of mcp-comply in pyproject.toml (its "
                                    "extras: fastmcp, release, sigstore, test)"),
                           ("a b", "argument --sbom-extras: not an extra name: 'a b' (letters, digits and -_. "
                                   "inside)"),
                           (",,", "argument --sbom-extras: not an extra name: '' (letters, digits and -_. inside)")):
        assert main(["generate", "--config", str(config), "--only", "sbom", "--sbom-extras", value,
                     "--out", str(tmp_path), "-q"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert message in err
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "svc"\nversion = "1"\n'
                                            '[project.optional-dependencies]\nweb = ["pyyaml"]\n')
    (project / "mcp-comply.yaml").write_text("server: examples.weather_server:build_server\n"
                                             "sbom: {extras: [web, cli]}\n")
    assert main(["generate", "--config", str(project / "mcp-comply.yaml"), "--only", "sbom",
                 "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{project / 'mcp-comply.yaml'}: sbom.extras: cli: not an extra of svc in pyproject.toml (its extras: web)" \
        in err
    for value, message in (("5", "sbom.extras: Input should be a valid tuple"),
                           ("[web, 3]", "sbom.extras[1]: Input should be a valid string")):
        (project / "mcp-comply.yaml").write_text("server: examples.weather_server:build_server\n"
                                                 f"sbom: {{extras: {value}}}\n")
        assert main(["generate", "--config", str(project / "mcp-comply.yaml"), "--only", "sbom",
                     "--out", str(tmp_path / "o"), "-q"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert f"{project / 'mcp-comply.yaml'}: {message}" in err
