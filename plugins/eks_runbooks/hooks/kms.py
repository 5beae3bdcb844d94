"""The KMS reads the runbooks make: whether a key can encrypt a cluster's secrets."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class KmsKeysHook(AwsBaseHook):
    """
    Read AWS KMS keys.

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, client_type="kms", **kwargs)

    def describe_key(self, key_id: str) -> dict[str, Any] | None:
        """
        Describe a key.

        :param key_id: The key's ARN or id, or an alias ARN (``alias/...``).
        :return: DescribeKey ``KeyMetadata`` (``KeyState``, ``KeySpec``, ``KeyUsage``, ``Arn``); None when KMS has
            no such key.
        """
        try:
            return self.conn.describe_key(KeyId=key_id)["KeyMetadata"]
        except self.conn.exceptions.NotFoundException:
            return None
