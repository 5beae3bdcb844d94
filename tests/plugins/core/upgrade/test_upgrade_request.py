from __future__ import annotations

import re

import pytest

from eks_runbooks.core.upgrade.plan import AddonVersionPolicy
from eks_runbooks.core.upgrade.preflight import load_preflight_catalogue
from eks_runbooks.core.upgrade.request import InvalidUpgradeRequest, UpgradeRequest, parse_upgrade_request

MINIMAL = {"cluster_name": "payments-prod", "region": "us-east-1", "target_version": "1.34"}


def problems_of(conf: dict) -> dict[str, str]:
    with pytest.raises(InvalidUpgradeRequest) as invalid:
        parse_upgrade_request(conf)
    return invalid.value.problems


def test_minimal_request_defaults_to_a_plan_only_run():
    request = parse_upgrade_request(MINIMAL)
    assert request == UpgradeRequest("payments-prod", "us-east-1", "1.34")
    assert request.dry_run is True and request.addon_conflicts == "PRESERVE" and request.nodegroup_parallelism == 1


def test_every_option_is_read():
    request = parse_upgrade_request(
        MINIMAL
        | {
            "aws_conn_id": "aws_prod",
            "dry_run": False,
            "ticket_id": "OPS-1234",
            "addon_conflicts": "NONE",
            "addon_version_policy": "latest",
            "nodegroup_parallelism": 3,
            "force_node_drain": True,
            "ignore_checks": ["K8S-PDB-BLOCKS-DRAIN", "K8S-PDB-BLOCKS-DRAIN"],
            "require_approval": True,
        }
    )
    assert request.addon_version_policy is AddonVersionPolicy.LATEST
    assert request.ignore_checks == ("K8S-PDB-BLOCKS-DRAIN",) and request.ticket_id == "OPS-1234"


def test_a_misspelt_key_is_refused_rather_than_silently_defaulted():
    problems = problems_of(MINIMAL | {"dryrun": False})
    assert list(problems) == ["dryrun"] and "unknown key" in problems["dryrun"] and "dry_run" in problems["dryrun"]


def test_every_problem_is_reported_at_once_by_key():
    problems = problems_of(
        {"cluster_name": "bad name!", "target_version": 1.34, "nodegroup_parallelism": 0, "dry_run": "false"}
    )
    assert set(problems) == {"cluster_name", "region", "target_version", "nodegroup_parallelism", "dry_run"}
    assert problems["region"] == "required"
    assert "string 1.NN" in problems["target_version"]
    assert "not true or false" in problems["dry_run"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("target_version", "1.3x"),
        ("region", "US-EAST-1"),
        ("ticket_id", "OPS 1234; drop"),
        ("addon_conflicts", "overwrite"),
        ("nodegroup_parallelism", True),
        ("nodegroup_parallelism", 11),
        ("ignore_checks", "K8S-PDB-BLOCKS-DRAIN"),
        ("ignore_checks", ["lowercase"]),
        ("aws_conn_id", "a b"),
        ("addon_version_policy", "newest"),
    ],
)
def test_malformed_values_name_their_key(key, value):
    assert list(problems_of(MINIMAL | {key: value})) == [key]


def test_the_message_names_the_key_and_the_value():
    with pytest.raises(InvalidUpgradeRequest, match=r"target_version: '1\.3x'"):
        parse_upgrade_request(MINIMAL | {"target_version": "1.3x"})


def test_an_ignore_checks_id_not_in_the_catalogue_is_refused_naming_it_and_the_valid_ids():
    problems = problems_of(MINIMAL | {"ignore_checks": ["K8S-PDB-BLOCKS-DRAIN", "PDB-BLOCKS-DRAIN"]})
    assert list(problems) == ["ignore_checks"]
    message = problems["ignore_checks"]
    assert "PDB-BLOCKS-DRAIN" in message.split(";")[0] and "K8S-PDB-BLOCKS-DRAIN" not in message.split(";")[0]
    assert all(spec.id in message for spec in load_preflight_catalogue())


def test_the_example_in_a_malformed_ignore_checks_message_is_a_real_check_id():
    message = problems_of(MINIMAL | {"ignore_checks": "K8S-PDB-BLOCKS-DRAIN"})["ignore_checks"]
    examples = re.findall(r'"([A-Z0-9-]+)"', message)
    assert examples and set(examples) <= {spec.id for spec in load_preflight_catalogue()}
