"""The one check framework: strict catalogue files, registries that refuse what would go unnoticed."""

from __future__ import annotations

import pytest

from eks_runbooks.core.catalogue import (
    CatalogueError,
    CheckRegistry,
    Severity,
    Status,
    check_against_registry,
    load_catalogue_entries,
    passed,
    skipped,
)

ENTRY = "{id: EKS-X, title: t, severity: LOW, rationale: r, remediation: m, source: s}"


def catalogue(tmp_path, *entries: str):
    path = tmp_path / "checks.yaml"
    path.write_text("checks:\n" + "".join(f"  - {entry}\n" for entry in entries))
    return path


def test_an_entry_comes_back_with_its_severity_typed_and_its_prose_on_one_line(tmp_path):
    path = catalogue(
        tmp_path, "{id: EKS-X, title: t, severity: HIGH, rationale: 'two\n\n    lines', remediation: m, source: s}"
    )
    [entry] = load_catalogue_entries(path)
    assert entry["severity"] is Severity.HIGH and entry["rationale"] == "two lines"


def test_an_unknown_field_is_refused_naming_the_fields_an_entry_has(tmp_path):
    path = catalogue(tmp_path, ENTRY.replace("source: s", "source: s, blocking: true, blockng: true"))
    with pytest.raises(CatalogueError, match=r"EKS-X\) has unknown field\(s\) \['blockng'\]"):
        load_catalogue_entries(path, ("blocking",))


def test_a_runbooks_own_fields_are_required(tmp_path):
    with pytest.raises(CatalogueError, match=r"EKS-X\) lacks \['needs'\]"):
        load_catalogue_entries(catalogue(tmp_path, ENTRY), ("needs",))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((ENTRY.replace("EKS-X", "eks_x"),), "'eks_x' is not UPPER-KEBAB"),
        ((ENTRY.replace("LOW", "URGENT"),), "severity 'URGENT', not one of CRITICAL, HIGH, MEDIUM, LOW, INFO"),
        ((ENTRY, ENTRY), "check ids listed twice: EKS-X"),
    ],
    ids=["id", "severity", "duplicate"],
)
def test_malformed_catalogues_are_refused(tmp_path, entries, message):
    with pytest.raises(CatalogueError, match=message):
        load_catalogue_entries(catalogue(tmp_path, *entries))


def test_a_registry_refuses_a_malformed_id_and_a_second_function_for_one_id():
    registry: CheckRegistry = CheckRegistry("cost")
    with pytest.raises(ValueError, match="cost check id 'idle-nodes' is not UPPER-KEBAB"):
        registry.check("idle-nodes")
    registry.check("COST-IDLE-NODES")(lambda facts: passed("none idle"))
    with pytest.raises(ValueError, match="cost check COST-IDLE-NODES is registered twice"):
        registry.check("COST-IDLE-NODES")(lambda facts: skipped("again"))
    assert registry["COST-IDLE-NODES"](None).status is Status.PASS


def test_catalogue_and_registry_are_held_against_each_other_both_ways():
    with pytest.raises(CatalogueError) as raised:
        check_against_registry(["EKS-A", "EKS-B"], {"EKS-B": None, "EKS-C": None})
    assert str(raised.value) == (
        "catalogue entries without a check function: EKS-A; check functions without a catalogue entry: EKS-C"
    )
