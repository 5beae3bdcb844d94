"""The pre-flight as a whole: catalogue ↔ functions, what blocks, ignore_checks, and the report."""

from __future__ import annotations

import dataclasses
import json

import pytest

from eks_runbooks.core.catalogue import failed
from eks_runbooks.core.upgrade.preflight import (
    PREFLIGHT_CHECKS,
    CatalogueError,
    GateSpec,
    Severity,
    Status,
    load_preflight_catalogue,
    render_preflight_markdown,
    run_preflight,
)
from tests.plugins.core.upgrade.preflight_builders import healthy_inputs, nodegroup, pdb

CATALOGUE = load_preflight_catalogue()

#: What the brief of issue 3's pre-flight asks for, at the least.
REQUIRED_CHECKS = {
    "EKS-CLUSTER-ACTIVE",
    "EKS-SUBNET-FREE-IPS",
    "EKS-KUBELET-SKEW",
    "EKS-ADDON-COMPATIBLE",
    "EKS-ADDON-HEALTH",
    "EKS-NODEGROUP-HEALTH",
    "EKS-INSIGHTS-UPGRADE-READINESS",
    "K8S-REMOVED-APIS",
    "K8S-PDB-BLOCKS-DRAIN",
    "K8S-SINGLE-REPLICA",
    "K8S-READINESS-PROBE",
    "EKS-AL2-NODES",
    "EKS-FOLLOW-UPS",
}


def blocked_inputs():
    """Subnets short of IPs (blocking), an AL2 node group on the hop to 1.32 (warning), a PDB allowing nothing."""
    return healthy_inputs(
        subnets=[{"SubnetId": "subnet-a", "AvailableIpAddressCount": 3}],
        nodegroups=[nodegroup("general"), nodegroup("legacy", ami_type="AL2_x86_64")],
        pdbs=[pdb("shop", "web", {"matchLabels": {"app": "web"}}, maxUnavailable=0)],
    )


def test_catalogue_and_functions_match_one_to_one():
    ids = [spec.id for spec in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(PREFLIGHT_CHECKS)
    assert set(ids) >= REQUIRED_CHECKS


def test_every_catalogue_entry_has_a_source_and_remediation():
    for spec in CATALOGUE:
        assert spec.source and spec.remediation and spec.rationale and spec.title, spec.id
        assert isinstance(spec.severity, Severity)


def test_checks_that_must_stop_the_hop_are_blocking_and_the_advisory_ones_are_not():
    blocking = {spec.id for spec in CATALOGUE if spec.blocking}
    assert {"K8S-SINGLE-REPLICA", "K8S-READINESS-PROBE", "EKS-FOLLOW-UPS"}.isdisjoint(blocking)
    assert REQUIRED_CHECKS - {"K8S-SINGLE-REPLICA", "K8S-READINESS-PROBE", "EKS-FOLLOW-UPS"} <= blocking


def test_catalogue_entry_without_a_function_is_an_error():
    orphan = dataclasses.replace(CATALOGUE[0], id="EKS-NOT-WRITTEN-YET")
    with pytest.raises(CatalogueError, match="without a check function: EKS-NOT-WRITTEN-YET"):
        run_preflight(healthy_inputs(), (*CATALOGUE, orphan))


def test_function_without_a_catalogue_entry_is_an_error(monkeypatch):
    monkeypatch.setitem(PREFLIGHT_CHECKS, "EKS-UNLISTED", lambda inputs: [])
    with pytest.raises(CatalogueError, match="without a catalogue entry: EKS-UNLISTED"):
        run_preflight(healthy_inputs(), CATALOGUE)


def test_malformed_catalogue_entries_are_refused(tmp_path):
    entry = "{id: EKS-X, title: t, severity: URGENT, blocking: true, rationale: r, remediation: m, source: s}"
    (tmp_path / "bad.yaml").write_text(f"checks:\n  - {entry}\n")
    with pytest.raises(CatalogueError, match="severity 'URGENT'"):
        load_preflight_catalogue(tmp_path / "bad.yaml")
    (tmp_path / "nosource.yaml").write_text("checks:\n  - {id: EKS-X, title: t, severity: LOW, blocking: false}\n")
    with pytest.raises(CatalogueError, match=r"EKS-X\) lacks \['rationale', 'remediation', 'source'\]"):
        load_preflight_catalogue(tmp_path / "nosource.yaml")


def test_healthy_cluster_passes_and_reports_every_check_it_ran():
    result = run_preflight(healthy_inputs(), CATALOGUE)
    assert result.passed and not result.blocking
    assert {finding.check_id for finding in result.passes} == {spec.id for spec in CATALOGUE}
    assert "pre-flight passed" in result.summary


def test_blocking_failure_stops_the_hop_naming_the_checks():
    result = run_preflight(blocked_inputs(), CATALOGUE)
    assert not result.passed
    assert [finding.check_id for finding in result.blocking] == ["EKS-SUBNET-FREE-IPS", "K8S-PDB-BLOCKS-DRAIN"]
    assert [finding.check_id for finding in result.warnings] == ["EKS-AL2-NODES"]
    assert result.summary.startswith(
        "payments 1.31 → 1.32 pre-flight BLOCKED by EKS-SUBNET-FREE-IPS, K8S-PDB-BLOCKS-DRAIN"
    )


def test_ignored_check_is_recorded_not_dropped():
    result = run_preflight(blocked_inputs(), CATALOGUE, ignore_checks=["K8S-PDB-BLOCKS-DRAIN"])
    [ignored] = result.ignored
    assert ignored.check_id == "K8S-PDB-BLOCKS-DRAIN" and ignored.status is Status.IGNORED and not ignored.blocking
    assert "shop/web" in ignored.detail and ignored.remediation
    assert [finding.check_id for finding in result.blocking] == ["EKS-SUBNET-FREE-IPS"]
    both = run_preflight(blocked_inputs(), CATALOGUE, ignore_checks=["K8S-PDB-BLOCKS-DRAIN", "EKS-SUBNET-FREE-IPS"])
    assert both.passed and len(both.ignored) == 2


def test_unknown_ignore_check_ids_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"payments: ignore_checks names unknown check\(s\) PDB-BLOCKS-DRAIN, X-Y;"):
        run_preflight(healthy_inputs(), CATALOGUE, ignore_checks=["X-Y", "PDB-BLOCKS-DRAIN", "EKS-AL2-NODES"])


def test_fail_from_a_check_the_catalogue_says_does_not_block_is_a_warning(monkeypatch):
    monkeypatch.setitem(
        PREFLIGHT_CHECKS, "K8S-SINGLE-REPLICA", lambda inputs: [failed("one replica", ["a/Deployment/b"])]
    )
    result = run_preflight(healthy_inputs(), CATALOGUE)
    assert result.passed and [finding.check_id for finding in result.warnings] == ["K8S-SINGLE-REPLICA"]


def test_a_check_that_cannot_read_its_inputs_fails_naming_itself():
    inputs = healthy_inputs(subnets=[{"AvailableIpAddressCount": 9}])  # no SubnetId
    result = run_preflight(inputs, CATALOGUE)
    [finding] = result.blocking
    assert finding.check_id == "EKS-SUBNET-FREE-IPS"
    assert "check EKS-SUBNET-FREE-IPS could not run: KeyError" in finding.detail


def test_findings_carry_their_catalogue_entry():
    result = run_preflight(blocked_inputs(), CATALOGUE)
    spec: GateSpec = next(spec for spec in CATALOGUE if spec.id == "K8S-PDB-BLOCKS-DRAIN")
    [finding] = [finding for finding in result.findings if finding.check_id == spec.id]
    assert (finding.title, finding.severity, finding.remediation) == (spec.title, spec.severity, spec.remediation)


def test_markdown_lists_blocking_first_then_warnings_then_passes_with_remediation():
    result = run_preflight(blocked_inputs(), CATALOGUE, ignore_checks=["K8S-PDB-BLOCKS-DRAIN"])
    markdown = render_preflight_markdown(result)
    headings = [line for line in markdown.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Blocking — fix before the control plane is touched",
        "### Ignored (ignore_checks) — would have blocked",
        "### Warnings",
        "### Passed",
    ]
    assert "**BLOCKED**" in markdown and "payments 1.31 → 1.32" in markdown
    blocking_section = markdown.split("### Ignored")[0]
    assert "EKS-SUBNET-FREE-IPS" in blocking_section and "Fix: Free IP addresses" in blocking_section
    assert "`shop/PodDisruptionBudget/web`" in markdown
    assert markdown.index("### Warnings") < markdown.index("EKS-AL2-NODES") < markdown.index("### Passed")


def test_result_serialises_to_json_for_the_report():
    document = json.loads(json.dumps(run_preflight(blocked_inputs(), CATALOGUE).as_dict()))
    assert document["passed"] is False
    assert {"check_id": "EKS-SUBNET-FREE-IPS", "status": "FAIL", "blocking": True, "severity": "CRITICAL"}.items() <= (
        document["findings"][1].items()
    )


def test_a_later_hop_in_plan_mode_is_judged_on_the_versions_the_earlier_hops_leave():
    from eks_runbooks.core.upgrade.preflight import project_to_hop_start
    from tests.plugins.core.upgrade.preflight_builders import addon, node

    today = healthy_inputs(
        nodegroups=[nodegroup("general", "1.31"), nodegroup("batch", "1.30")],
        addons=[addon("coredns", "v1.11.4-eksbuild.1"), addon("vpc-cni", "v1.19.0-eksbuild.1")],
        nodes=[node("managed"), node("self-managed", labels={}, kubelet="v1.31.7")],
        hop_from="1.33",
        hop_to="1.34",
    )
    projected = project_to_hop_start(today, {"coredns": "v1.12.4-eksbuild.2"})
    assert projected.cluster["version"] == "1.33"
    assert [ng["version"] for ng in projected.nodegroups] == ["1.33", "1.33"]
    assert {a["addonName"]: a["addonVersion"] for a in projected.addons} == {
        "coredns": "v1.12.4-eksbuild.2",
        "vpc-cni": "v1.19.0-eksbuild.1",
    }
    # Nodes outside managed node groups are not this runbook's to move: they keep their kubelet.
    assert projected.nodes == today.nodes
