"""The Elastic Load Balancing reads the runbooks make: a region's load balancers with their tags.

A cluster's load balancers are known only by their tags (the AWS Load Balancer Controller's
``elbv2.k8s.aws/cluster``, the cloud provider's ``kubernetes.io/cluster/<name>``), and neither API filters by tag:
every load balancer of the region is listed, then tagged 20 at a time (DescribeTags takes at most 20 resources:
Elastic Load Balancing API references, DescribeTags).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from eks_runbooks.hooks.pagination import PaginatedReadsMixin
from eks_runbooks.hooks.sessions import OneSessionMixin

#: Resources per DescribeTags request (both APIs).
TAGGED_PER_REQUEST = 20


class LoadBalancersHook(OneSessionMixin, PaginatedReadsMixin, AwsBaseHook):
    """
    Read Application, Network and Gateway Load Balancers (Elastic Load Balancing v2).

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    :param page_size: items per page of every paginated read (``PageSize``); default: the service's own.
    :param session: the boto3 session to use (another hook's, ``OneSessionMixin.sibling``); default: its own.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, client_type="elbv2", **kwargs)

    def load_balancers_with_tags(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """
        Every load balancer of the region with its tags, listed once per hook: the clusters of one fleet task
        share one listing (callers must not change it).

        :return: ``(load balancer, tags)`` pairs: the ``LoadBalancers`` entry of DescribeLoadBalancers
            (``LoadBalancerArn``, ``LoadBalancerName``, ``Type``) and its tags as a dict.
        """
        return self._listed

    @cached_property
    def _listed(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        load_balancers = self.paginate("describe_load_balancers", "LoadBalancers")
        return _with_tags(
            load_balancers,
            "LoadBalancerArn",
            lambda arns: self.conn.describe_tags(ResourceArns=arns)["TagDescriptions"],
            "ResourceArn",
        )


class ClassicLoadBalancersHook(OneSessionMixin, PaginatedReadsMixin, AwsBaseHook):
    """
    Read Classic Load Balancers (Elastic Load Balancing, 2012-06-01 API).

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    :param page_size: items per page of every paginated read (``PageSize``); default: the service's own.
    :param session: the boto3 session to use (another hook's, ``OneSessionMixin.sibling``); default: its own.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, client_type="elb", **kwargs)

    def load_balancers_with_tags(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """
        Every Classic Load Balancer of the region with its tags, listed once per hook (as
        ``LoadBalancersHook.load_balancers_with_tags``).

        :return: ``(load balancer, tags)`` pairs: the ``LoadBalancerDescriptions`` entry of DescribeLoadBalancers
            (``LoadBalancerName``, ``DNSName``) and its tags as a dict.
        """
        return self._listed

    @cached_property
    def _listed(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        load_balancers = self.paginate("describe_load_balancers", "LoadBalancerDescriptions")
        return _with_tags(
            load_balancers,
            "LoadBalancerName",
            lambda names: self.conn.describe_tags(LoadBalancerNames=names)["TagDescriptions"],
            "LoadBalancerName",
        )


def _with_tags(
    load_balancers: list[dict[str, Any]],
    key: str,
    describe_tags: Callable[[list[str]], list[dict[str, Any]]],
    described_key: str,
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Each load balancer with its tags, read ``TAGGED_PER_REQUEST`` at a time."""
    keys = [load_balancer[key] for load_balancer in load_balancers]
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(keys), TAGGED_PER_REQUEST):
        for described in describe_tags(keys[start : start + TAGGED_PER_REQUEST]):
            tags[described[described_key]] = {tag["Key"]: tag.get("Value", "") for tag in described.get("Tags", [])}
    return [(load_balancer, tags.get(load_balancer[key], {})) for load_balancer in load_balancers]
