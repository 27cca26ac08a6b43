"""Shared fixtures: a process-wide in-memory span exporter, fresh registries, server builders."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "examples"))

import servers  # noqa: E402

# OpenTelemetry allows one global TracerProvider per process; the frameworks' own spans go there,
# so every test shares this one and clears the exporter before it runs.
_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
trace.set_tracer_provider(_PROVIDER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture(params=servers.FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def build() -> Any:
    return servers.BUILDERS


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The exact value of one sample, 0.0 when the series does not exist."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def series(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    """Label sets of every sample called ``name``."""
    out = []
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name:
                out.append(dict(s.labels))
    return out


@pytest.fixture(scope="session")
def complete_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete release project (see project_fixture.py), built once for the session."""
    from project_fixture import make_project

    return make_project(tmp_path_factory.mktemp("complete") / "project")


@pytest.fixture
def project(complete_project: Path, tmp_path: Path) -> Path:
    """A private copy of the complete project, for a test to break."""
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(complete_project, copy)
    return copy
