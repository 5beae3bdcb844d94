"""Cluster definitions kept as YAML files under include/clusters/: a run names one instead of filling the form."""

from __future__ import annotations

from pathlib import Path

import pytest

from eks_runbooks.core.bootstrap.definitions import InvalidClusterDefinition, load_cluster_definitions
from eks_runbooks.core.bootstrap.request import parse_bootstrap_request
from eks_runbooks.core.include import include_path

DEFINITION = """
cluster_name: payments-prod
subnet_ids: [subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002]
admin_principal_arns: [arn:aws:iam::111122223333:role/platform-admin]
compute:
  - {name: general, instance_types: [m7i.large], min: 2, max: 6, desired: 3}
tags: {team: payments}
"""


def test_each_file_is_a_definition_named_by_its_stem(tmp_path: Path):
    (tmp_path / "payments-prod.yaml").write_text(DEFINITION)
    (tmp_path / "notes.txt").write_text("not a definition")
    definitions = load_cluster_definitions(tmp_path)
    assert list(definitions) == ["payments-prod"]
    request = parse_bootstrap_request({"definition": "payments-prod", "dry_run": False}, definitions)
    assert request.cluster_name == "payments-prod" and request.dry_run is False
    assert request.compute[0].instance_types == ("m7i.large",)


def test_a_definition_with_an_unknown_key_is_refused_naming_the_file_and_the_key(tmp_path: Path):
    (tmp_path / "payments-prod.yaml").write_text(DEFINITION + "nodegroups: []\n")
    with pytest.raises(InvalidClusterDefinition, match=r"payments-prod\.yaml.*nodegroups"):
        load_cluster_definitions(tmp_path)


def test_a_run_field_in_a_definition_is_refused_as_one(tmp_path: Path):
    (tmp_path / "payments-prod.yaml").write_text(DEFINITION + "dry_run: false\n")
    with pytest.raises(InvalidClusterDefinition, match=r"payments-prod\.yaml.*dry_run.*run"):
        load_cluster_definitions(tmp_path)


def test_a_file_that_is_not_a_map_of_fields_is_refused(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("- cluster_name: a\n")
    with pytest.raises(InvalidClusterDefinition, match=r"broken\.yaml"):
        load_cluster_definitions(tmp_path)


def test_a_file_name_that_cannot_name_a_definition_is_refused(tmp_path: Path):
    (tmp_path / "Payments Prod.yaml").write_text(DEFINITION)
    with pytest.raises(InvalidClusterDefinition, match=r"Payments Prod\.yaml"):
        load_cluster_definitions(tmp_path)


def test_no_folder_means_no_definitions(tmp_path: Path):
    assert load_cluster_definitions(tmp_path / "missing") == {}


def test_the_example_definition_shipped_in_include_is_a_valid_request():
    definitions = load_cluster_definitions(include_path("clusters"))
    assert "example-payments" in definitions
    request = parse_bootstrap_request({"definition": "example-payments"}, definitions)
    assert request.definition == "example-payments" and request.compute
