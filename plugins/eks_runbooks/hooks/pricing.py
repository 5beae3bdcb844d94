"""The price reads the cost audit makes: the AWS Price List Query API and EC2's spot price history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from eks_runbooks.core.clock import utc_now
from eks_runbooks.core.cost.price_list import decode_price_list
from eks_runbooks.hooks.pagination import PaginatedReadsMixin

#: The Price List Query API answers at three endpoints in the aws partition and one in aws-cn (botocore
#: endpoints.json, ``api.pricing``): the one nearest a target's region, by the region's prefix.
PRICE_LIST_ENDPOINTS = {
    "us": "us-east-1",
    "ca": "us-east-1",
    "sa": "us-east-1",
    "mx": "us-east-1",
    "eu": "eu-central-1",
    "me": "eu-central-1",
    "af": "eu-central-1",
    "il": "eu-central-1",
    "ap": "ap-south-1",
    "cn": "cn-northwest-1",
}
DEFAULT_PRICE_LIST_ENDPOINT = "us-east-1"
#: Price reads back off and try again on throttling (botocore's standard retry mode) rather than fail the run; a
#: throttling error that outlasts the retries is raised, never taken for a refusal.
PRICE_READ_RETRIES = {"retries": {"mode": "standard", "max_attempts": 10}}
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
#: What DescribeSpotPriceHistory calls Linux, in EC2-Classic and in a VPC (EC2 API Reference, SpotPrice).
LINUX_SPOT_DESCRIPTIONS = ["Linux/UNIX", "Linux/UNIX (Amazon VPC)"]


def price_list_region(region: str) -> str:
    """The region whose Price List Query API endpoint serves ``region``'s prices (they are global: any endpoint
    answers for any region; the nearest one is asked)."""
    return PRICE_LIST_ENDPOINTS.get(region.split("-", 1)[0], DEFAULT_PRICE_LIST_ENDPOINT)


def refusal_code(error: BaseException) -> str | None:
    """The code of an error that means "no prices from this API for this connection" (access denied, unknown
    operation, endpoint unreachable): the caller falls back on the snapshot. None for throttling and anything
    else, which the caller raises."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "") or "ClientError"
        return None if code in THROTTLING_CODES else code
    if isinstance(error, BotocoreConnectionError | HTTPClientError):
        return type(error).__name__
    return None


def _with_retries(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("config", Config(**PRICE_READ_RETRIES))
    return kwargs


class PricingHook(PaginatedReadsMixin, AwsBaseHook):
    """
    Read the AWS Price List Query API (``pricing:GetProducts``).

    Its ``region_name`` is the endpoint's region (``price_list_region(target_region)``), not the target's. Unless
    ``config`` is given, botocore retries throttled calls in standard mode.
    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    :param page_size: products per page (``MaxResults``, at most 100); default: the API's own.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, client_type="pricing", **_with_retries(kwargs))

    def get_products(self, service_code: str, filters: list[Mapping[str, str]]) -> list[dict[str, Any]]:
        """
        Every product of a service that matches all the filters, decoded.

        :param service_code: The Price List service, e.g. ``AmazonEC2``, ``AmazonEKS``.
        :param filters: GetProducts ``Filters``: ``{"Type": "TERM_MATCH", "Field": "regionCode", "Value": ...}``.
        :return: The products of every page (``PriceList`` items are JSON strings; these are dicts).
        """
        items = self.paginate(
            "get_products", "PriceList", ServiceCode=service_code, Filters=list(filters), FormatVersion="aws_v1"
        )
        return list(decode_price_list(items))


class SpotPriceHook(PaginatedReadsMixin, EC2Hook):
    """
    Read EC2's spot price history for the hook's region.

    Unless ``config`` is given, botocore retries throttled calls in standard mode.
    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    :param page_size: entries per page (``MaxResults``); default: EC2's own.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.ec2.EC2Hook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, api_type="client_type", **_with_retries(kwargs))

    def latest_spot_prices(self, instance_types: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """
        The Linux spot price in effect now, per instance type and availability zone.

        ``StartTime`` now makes DescribeSpotPriceHistory answer the price in effect at that moment per zone
        (awslabs/eks-node-viewer; runbook-facts-wave2.md §2); the latest entry per type and zone is kept.

        :param instance_types: The instance types, e.g. ``["m5.large"]``.
        :return: instance type → zone → the latest ``SpotPriceHistory`` entry (``SpotPrice``, ``Timestamp``).
            A type EC2 gave no price for is absent.
        """
        if not instance_types:
            return {}
        history = self.paginate(
            "describe_spot_price_history",
            "SpotPriceHistory",
            InstanceTypes=sorted(instance_types),
            ProductDescriptions=LINUX_SPOT_DESCRIPTIONS,
            StartTime=utc_now(),
        )
        latest: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in history:
            zones = latest.setdefault(entry["InstanceType"], {})
            known = zones.get(entry["AvailabilityZone"])
            if known is None or entry["Timestamp"] > known["Timestamp"]:
                zones[entry["AvailabilityZone"]] = entry
        return latest
