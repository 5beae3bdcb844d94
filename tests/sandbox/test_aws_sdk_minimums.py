"""The table of SDK releases that read Pod Identity credentials, and how a declared SDK is compared with it."""

from __future__ import annotations

import pytest
import yaml

from eks_sandbox.eks.aws_sdks import load_sdk_minimums
from tests.helpers import REPO

IDS = {
    "java-v2", "java-v1", "go-v1", "go-v2", "boto3", "botocore", "aws-cli-v1", "aws-cli-v2", "js-v2", "js-v3",
    "kotlin", "ruby", "rust", "cpp", "dotnet", "powershell", "php",
}  # fmt: skip


def test_the_table_lists_every_sdk_of_the_user_guide_with_its_source():
    data = yaml.safe_load((REPO / "include/eks/pod-identity-sdk-minimums.yaml").read_text())
    assert data["source"].startswith("https://docs.aws.amazon.com/eks/latest/userguide/pod-id-minimum-sdk.html")
    assert {row["sdk"] for row in data["sdks"]} == IDS
    assert all(row["title"] and row["minimum"] for row in data["sdks"])


@pytest.mark.parametrize(
    ("declared", "too_old"),
    [
        ("boto3/1.28.0", "1.34.41"),
        ("boto3/1.34.41", None),
        ("boto3/1.34.100", None),  # numeric, not lexical: 100 > 41
        ("go-v2/release-2023-06-01", "release-2023-11-14"),
        ("go-v2/release-2024-01-05", None),
        ("dotnet/3.7.734.0", None),
        ("js-v3/v3.400.0", "3.458.0"),  # a leading v is ignored
        ("rust/release-2024-03-12", "release-2024-03-13"),
    ],
)
def test_a_declared_sdk_is_compared_part_by_part_or_by_release_date(declared, too_old):
    assert load_sdk_minimums(REPO / "include").too_old(declared) == too_old


@pytest.mark.parametrize(
    ("declared", "refusal"),
    [("boto/1.0", "unknown AWS SDK 'boto'"), ("go-v2/1.24.0", "go-v2 versions look like 'release-2023-11-14'")],
)
def test_a_malformed_declaration_is_refused_naming_what_is_wrong(declared, refusal):
    with pytest.raises(ValueError, match=refusal):
        load_sdk_minimums(REPO / "include").parse(declared)
