"""The IAM calls the runbooks make: role trust policies and the account's OIDC providers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class IamRolesHook(AwsBaseHook):
    """
    Read and change IAM role trust policies, and list the account's OIDC providers.

    Additional arguments (such as ``aws_conn_id``) may be specified and are passed down to the underlying
    AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, client_type="iam", **kwargs)

    def get_role(self, role_name: str) -> dict[str, Any] | None:
        """
        One role, its trust policy decoded to a dict.

        :param role_name: The role's name (the last part of its ARN).
        :return: GetRole ``Role`` with ``AssumeRolePolicyDocument`` as a dict; None when the role does not exist.
        """
        try:
            role = self.conn.get_role(RoleName=role_name)["Role"]
        except self.conn.exceptions.NoSuchEntityException:
            return None
        document = role.get("AssumeRolePolicyDocument") or {}
        if isinstance(document, str):  # URL-encoded JSON on the wire; boto3 usually decodes it
            document = json.loads(unquote(document))
        return {**role, "AssumeRolePolicyDocument": document}

    def caller_principal_arn(self, sts: Any) -> str:
        """
        The IAM role or user ARN the connection acts as, with the role's path.

        GetCallerIdentity answers an assumed-role ARN (``arn:aws:sts::<account>:assumed-role/<name>/<session>``),
        which carries no path; an access entry needs the role's own ARN (aws/containers-roadmap#185), so a role is
        looked up by name.

        :param sts: The connection's ``StsHook``.
        :return: ``arn:aws:iam::<account>:role/<path><name>`` or the user's ARN.
        """
        arn = sts.conn.get_caller_identity()["Arn"]
        if ":assumed-role/" not in arn:
            return arn
        role = self.get_role(arn.split(":assumed-role/", 1)[1].split("/", 1)[0])
        if role is None:
            raise ValueError(f"The connection acts as {arn}, but its role cannot be read (iam:GetRole)")
        return role["Arn"]

    def update_trust_policy(self, role_name: str, document: dict[str, Any]) -> None:
        """
        Replace a role's trust policy.

        :param role_name: The role's name.
        :param document: The whole new trust policy.
        """
        self.conn.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(document))

    def oidc_provider_exists(self, provider_arn: str) -> bool:
        """
        Whether the account has this IAM OIDC provider.

        :param provider_arn: ``arn:aws:iam::<account>:oidc-provider/<issuer host and path>``.
        """
        providers = self.conn.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        return any(provider["Arn"] == provider_arn for provider in providers)

    def attached_policy_arns(self, role_name: str) -> list[str]:
        """
        The managed policies attached to a role.

        :param role_name: The role's name.
        :return: The ``PolicyArn`` of each of ListAttachedRolePolicies' ``AttachedPolicies``, every page.
        """
        pages = self.conn.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
        return [policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]]

    def user_exists(self, user_name: str) -> bool:
        """
        Whether the account has this IAM user.

        :param user_name: The user's name (the last part of its ARN).
        """
        try:
            self.conn.get_user(UserName=user_name)
        except self.conn.exceptions.NoSuchEntityException:
            return False
        return True


def role_name_of(role_arn: str) -> str:
    """``arn:aws:iam::123:role/path/name`` → ``name``."""
    return role_arn.rpartition("/")[2]
