from __future__ import annotations

from datetime import date

import pytest

from eks_runbooks.core.eks.versions import minor_of
from eks_runbooks.core.inventory.fleet import render_inventory, summarize_cluster

CALENDAR = [
    {
        "clusterVersion": "1.31",
        "versionStatus": "EXTENDED_SUPPORT",
        "endOfStandardSupportDate": "2025-11-26T00:00:00+00:00",
        "endOfExtendedSupportDate": "2026-11-26T00:00:00+00:00",
    },
    {
        "clusterVersion": "1.34",
        "versionStatus": "STANDARD_SUPPORT",
        "endOfStandardSupportDate": "2026-12-02T00:00:00+00:00",
        "endOfExtendedSupportDate": "2027-12-02T00:00:00+00:00",
    },
]


def cluster(version: str) -> dict:
    return {"name": "analytics", "version": version, "status": "ACTIVE"}


def test_extended_support_cluster_counts_days_to_end_of_extended_support():
    summary = summarize_cluster(cluster("1.31"), [], CALENDAR, "us-east-1", date(2026, 11, 21))
    assert (summary.support, summary.support_ends, summary.days_left) == ("EXTENDED_SUPPORT", "2026-11-26", 5)


def test_standard_support_cluster_counts_days_to_end_of_standard_support():
    summary = summarize_cluster(cluster("1.34"), [], CALENDAR, "us-east-1", date(2026, 11, 21))
    assert (summary.support, summary.days_left) == ("STANDARD_SUPPORT", 11)


def test_version_missing_from_calendar_is_unsupported_without_an_end_date():
    summary = summarize_cluster(cluster("1.28"), [], CALENDAR, "us-east-1", date(2026, 11, 21))
    assert (summary.support, summary.support_ends, summary.days_left) == ("UNSUPPORTED", None, None)


def test_nodegroup_lag_behind_control_plane_is_counted_in_minors():
    nodegroups = [{"nodegroupName": "workers", "version": "1.31", "amiType": "AL2_x86_64", "status": "ACTIVE"}]
    summary = summarize_cluster(cluster("1.34"), nodegroups, CALENDAR, "us-east-1", date(2026, 11, 21))
    assert summary.nodegroups[0].minors_behind_control_plane == 3


def test_inventory_lists_the_closest_end_of_support_first_and_flags_al2():
    nodegroups = [{"nodegroupName": "workers", "version": "1.31", "amiType": "AL2_x86_64", "status": "ACTIVE"}]
    later = summarize_cluster(cluster("1.34") | {"name": "payments"}, [], CALENDAR, "us-east-1", date(2026, 11, 21))
    sooner = summarize_cluster(cluster("1.31"), nodegroups, CALENDAR, "us-east-1", date(2026, 11, 21))
    rows = render_inventory([later, sooner]).splitlines()[2:]
    assert rows[0].startswith("| analytics |") and "workers 1.31 (AL2)" in rows[0]
    assert rows[1].startswith("| payments |")


@pytest.mark.parametrize("bad", ["1", "2.1", "1.x", "v1.31", ""])
def test_malformed_versions_are_rejected(bad):
    with pytest.raises(ValueError, match=r"1\.NN"):
        minor_of(bad)
