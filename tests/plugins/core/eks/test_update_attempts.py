"""Counting failed attempts at one EKS update: what gives a cleared step a new clientRequestToken."""

from __future__ import annotations

from eks_runbooks.core.eks.updates import failed_attempts


def update(status: str, version: str = "1.33", update_type: str = "VersionUpdate") -> dict:
    return {"type": update_type, "status": status, "params": [{"type": "Version", "value": version}]}


def test_only_failed_or_cancelled_updates_to_the_same_version_count_as_failed_attempts():
    history = [
        update("Failed"),
        update("Cancelled"),
        update("Successful"),
        update("InProgress"),
        update("Failed", version="1.32"),
        update("Failed", update_type="ConfigUpdate"),
    ]
    assert failed_attempts(history, "VersionUpdate", "Version", "1.33") == 2


def test_a_target_without_failed_updates_has_no_failed_attempts():
    assert failed_attempts([], "AddonUpdate", "AddonVersion", "v1.19.0-eksbuild.1") == 0
    assert failed_attempts([update("Successful")], "VersionUpdate", "Version", "1.33") == 0
