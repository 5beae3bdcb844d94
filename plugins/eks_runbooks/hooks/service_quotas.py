"""The Service Quotas reads the runbooks make: an account's quota before a run would run into it."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class ServiceQuotasHook(AwsBaseHook):
    """
    Read the quotas applied to the account in the hook's region.

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, client_type="service-quotas", **kwargs)

    def applied_quota_value(self, service_code: str, quota_code: str) -> float | None:
        """
        The quota's value applied to the account.

        :param service_code: The service, e.g. ``eks``.
        :param quota_code: The quota, e.g. ``L-1194D53C`` (EKS clusters per Region).
        :return: GetServiceQuota ``Quota.Value``; None when Service Quotas holds no applied value for the account
            (NoSuchResourceException: "If the applied quota value is not available for a quota, the quota is not
            retrieved", Service Quotas API reference, GetServiceQuota). A denied call raises.
        """
        try:
            return self.conn.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]["Value"]
        except self.conn.exceptions.NoSuchResourceException:
            return None
