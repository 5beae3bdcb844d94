"""The AWS services the sandbox serves through moto answer as AWS does where the runbooks depend on it."""

from __future__ import annotations

import boto3


def test_a_key_scheduled_for_deletion_by_its_arn_is_pending_deletion(sandbox):
    # KMS API Reference, ScheduleKeyDeletion: KeyId is a key ID or a key ARN (the bootstrap's teardown uses the ARN).
    kms = boto3.client("kms", region_name="us-east-1")
    arn = kms.create_key(Description="secrets of a cluster whose bootstrap failed")["KeyMetadata"]["Arn"]

    kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)

    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
