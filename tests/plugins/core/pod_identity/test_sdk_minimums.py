"""Declared AWS SDKs against the minimum versions that read Pod Identity credentials."""

from __future__ import annotations

import pytest

from eks_runbooks.core.pod_identity.facts import UnknownSdk, load_sdk_minimums, sdk_below_minimum


def test_every_sdk_of_the_minimum_table_has_a_version_this_runbook_can_compare():
    from eks_runbooks.core.pod_identity.facts import sdk_version_key

    minimums = load_sdk_minimums()
    assert {"boto3", "java-v2", "go-v2", "js-v3"} <= set(minimums)
    for version in minimums.values():
        sdk_version_key(version)


@pytest.mark.parametrize(
    ("declared", "too_old"),
    [
        ("boto3/1.28.0", True),
        ("boto3/1.34.41", False),
        ("boto3/1.35.2", False),
        ("java-v2/2.21.29", True),
        ("go-v2/release-2023-06-01", True),
        ("go-v2/release-2024-01-05", False),
    ],
)
def test_an_sdk_is_too_old_exactly_below_its_minimum(declared, too_old):
    assert (sdk_below_minimum(declared) is not None) is too_old


def test_an_sdk_the_table_does_not_know_cannot_be_judged():
    with pytest.raises(UnknownSdk, match="cobol"):
        sdk_below_minimum("cobol/1.0")
    with pytest.raises(UnknownSdk, match="not a version"):
        sdk_below_minimum("boto3/latest")
