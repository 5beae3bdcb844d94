"""The demo's audit covers every cluster of the demo fleet, in both accounts (Variable eks_fleet, scripts/demo.py)."""

from __future__ import annotations

import importlib.util
import os
import sys

import yaml

from tests.helpers import DEMO_FLEET, REPO


def demo_module(monkeypatch):
    """scripts/demo.py as the demo runs it: its folder on the path for the modules beside it."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("demo_script", REPO / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_demo_audit_discovers_every_demo_cluster_in_both_accounts(demo_fleet, airflow_db, monkeypatch, tmp_path):
    from eks_runbooks.tasks.audit import audit_targets, discover_clusters

    environment = demo_module(monkeypatch).airflow_environment(
        8080, os.environ["AWS_ENDPOINT_URL"], "2026-01-20", tmp_path, {"runbooks": "secret"}
    )
    for name, value in environment.items():
        if name.startswith(("AIRFLOW_CONN_AWS_", "AIRFLOW_VAR_EKS_FLEET")):
            monkeypatch.setenv(name, value)

    clusters, unreachable = discover_clusters(audit_targets(None), [])

    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    expected = {
        (str(account["id"]), region, cluster["name"])
        for account in fleet["accounts"]
        for region, contents in account["regions"].items()
        for cluster in contents.get("clusters", [])
    }
    assert unreachable == []
    assert len(expected) == 6 and len({account for account, _, _ in expected}) == 2
    found = {(ref.aws_conn_id, ref.region, ref.cluster_name) for ref in clusters}
    assert {(region, name) for _, region, name in found} == {(region, name) for _, region, name in expected}
    assert len({conn_id for conn_id, _, _ in found}) == 2  # one connection per account
