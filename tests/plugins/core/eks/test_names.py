"""One pattern per kind of input, used by the DAGs' Params and the runbooks' parsers alike."""

from __future__ import annotations

import pytest

from eks_runbooks.core.eks.names import CHECK_ID, CLUSTER_NAME, REGION
from tests.helpers import REPO


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "us-gov-west-1", "us-iso-east-1", "us-isob-east-1"])
def test_every_partitions_regions_are_accepted(region):
    assert REGION.match(region)


@pytest.mark.parametrize("region", ["us-east-1; rm -rf /", "US-EAST-1", "useast1", ""])
def test_malformed_regions_are_refused(region):
    assert not REGION.match(region)


def test_cluster_names_and_check_ids_follow_eks_and_the_catalogues():
    assert CLUSTER_NAME.match("payments-prod") and not CLUSTER_NAME.match("-payments")
    assert CHECK_ID.match("EKS-IMDSV2") and not CHECK_ID.match("eks-imdsv2")


def test_no_dag_file_writes_a_pattern_of_its_own():
    literal = [
        path.name
        for path in (REPO / "dags").glob("*.py")
        if any(form in path.read_text() for form in ('"pattern": r"', 'pattern=r"'))
    ]
    assert literal == [], "use the patterns of eks_runbooks.core.eks.names"
