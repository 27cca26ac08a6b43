"""SPDX licences from free-text metadata, with license-expression: the issue's examples exactly,
and every package installed here (the CI's environment) mapped or kept as its name."""

from __future__ import annotations

from importlib import metadata

import pytest
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from license_expression import get_spdx_licensing

from mcp_comply.generate import sbom
from mcp_comply.generate._licences import parse_expression, spdx_of


@pytest.mark.parametrize(("text", "spdx"), [
    ("Apache 2.0", "Apache-2.0"),
    ("MIT license", "MIT"),
    ("3-Clause BSD License", "BSD-3-Clause"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("ISC License (ISCL)", "ISC"),
    ("apache-2.0 or mit", "Apache-2.0 OR MIT"),
    ("LicenseRef-Apache", "Apache-2.0"),  # a known alias of an SPDX id
    # Ambiguous or unknown: kept as names, never guessed.
    ("PSFL", None), ("BSD", None), ("Apache Software License", None), ("Dual License", None),
])
def test_free_text_licences_map_to_spdx_or_stay_names(text: str, spdx: str | None) -> None:
    assert spdx_of(text) == spdx
    (licence,) = sbom._licenses(sbom.Package(name="x", version="1", license_text=text))
    if spdx is None:
        assert isinstance(licence, DisjunctiveLicense)
        assert (licence.id, licence.name) == (None, text)
    else:
        assert (licence.value if isinstance(licence, LicenseExpression) else licence.id) == spdx


def test_unknown_is_no_licence() -> None:
    assert spdx_of("UNKNOWN") is None
    assert sbom._licenses(sbom.Package(name="x", version="1", license_text="UNKNOWN")) == []


def test_every_installed_package_has_spdx_licences_or_its_own_names() -> None:
    """For each installed distribution: an SPDX id or expression that license-expression validates,
    else exactly the text the metadata gave (a License field or a classifier)."""
    spdx = get_spdx_licensing()
    mapped = named = 0
    for dist in metadata.distributions():
        if not dist.metadata["Name"]:
            continue
        pkg = sbom._from_metadata(dist.metadata)
        given = ([pkg.license_expression] if pkg.license_expression else
                 [pkg.license_text] if pkg.license_text and pkg.license_text.strip().upper() != "UNKNOWN" else
                 sorted(set(pkg.license_classifiers)))
        licences = sbom._licenses(pkg)
        assert len(licences) == len([g for g in given if g]), pkg.name
        for text, licence in zip(given, licences, strict=True):
            if isinstance(licence, LicenseExpression) or licence.id:
                value = licence.value if isinstance(licence, LicenseExpression) else str(licence.id)
                assert spdx.validate(value).errors == [], (pkg.name, value)
                assert value == spdx_of(text.strip()), (pkg.name, text)
                mapped += 1
            else:
                assert licence.name == text.strip(), pkg.name
                assert spdx_of(text.strip()) is None, (pkg.name, text)
                named += 1
        if pkg.license_expression:  # PEP 639: an SPDX expression, kept as such
            assert parse_expression(pkg.license_expression) is not None, (pkg.name, pkg.license_expression)
    assert mapped > 2 * named, (mapped, named)


@pytest.mark.filterwarnings("ignore:The Component this BOM is describing")  # a probe root without dependencies
def test_the_sbom_of_this_environment_validates_with_the_mapped_licences() -> None:
    """CycloneDX's own schema accepts every id the mapping produced (its SPDX enum)."""
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from cyclonedx.validation import make_schemabased_validator

    from mcp_comply.generate.sbom import RootProject, build_sbom, from_environment

    root = RootProject("probe", "1.0", "", None, (), ())
    result = build_sbom(root, from_environment(), None, service_name="probe", scope="all", fmt="json")
    assert make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6).validate_str(result.text) is None
    assert '"name": "Apache 2.0"' not in result.text
