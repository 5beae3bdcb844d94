"""The EC2 reads the runbooks make about a cluster's network and nodes: subnets, route tables, launch templates,
instance types and EBS volumes."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.ec2 import EC2Hook

from eks_runbooks.hooks.pagination import PaginatedReadsMixin
from eks_runbooks.hooks.sessions import OneSessionMixin

#: DescribeInstanceTypes names at most 100 instance types per request (botocore model: ``InstanceTypes`` max 100).
INSTANCE_TYPES_PER_REQUEST = 100
#: Volume ids per DescribeVolumes request: EC2 documents no limit on filter values; 200 keeps a request small.
VOLUME_IDS_PER_REQUEST = 200


class Ec2NetworkHook(OneSessionMixin, PaginatedReadsMixin, EC2Hook):
    """
    Read the EC2 side of an EKS cluster: its subnets, their route tables, its node groups' launch templates, its
    nodes' instance types and the EBS volumes behind its PersistentVolumes.

    Additional arguments (such as ``aws_conn_id`` and ``region_name``) are passed down to the underlying
    AwsBaseHook.

    :param page_size: items per page of every paginated read (``MaxResults``); default: EC2's own.
    :param session: the boto3 session to use (another hook's, ``OneSessionMixin.sibling``); default: its own.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.ec2.EC2Hook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, api_type="client_type", **kwargs)

    def describe_subnets(self, subnet_ids: list[str]) -> list[dict[str, Any]]:
        """
        Describe subnets by id.

        :param subnet_ids: The subnets, e.g. a cluster's ``resourcesVpcConfig.subnetIds``.
        :return: The ``Subnets`` of DescribeSubnets (with ``AvailableIpAddressCount``).
        """
        return self.paginate("describe_subnets", "Subnets", SubnetIds=subnet_ids)

    def find_subnets(self, subnet_ids: list[str]) -> list[dict[str, Any]]:
        """
        Describe those of the subnets that exist (DescribeSubnets by id refuses the whole call for one missing id).

        :param subnet_ids: The subnets, e.g. a bootstrap request's ``subnet_ids``.
        :return: The ``Subnets`` of DescribeSubnets filtered by ``subnet-id``; a missing subnet is simply absent.
        """
        return self.paginate("describe_subnets", "Subnets", Filters=[{"Name": "subnet-id", "Values": subnet_ids}])

    def describe_offered_instance_types(self, instance_types: list[str]) -> list[dict[str, Any]]:
        """
        Describe those of the instance types the hook's region offers.

        :param instance_types: Instance type names, e.g. ``["m7i.large", "m7g.large"]``.
        :return: The ``InstanceTypes`` of DescribeInstanceTypes (vCPUs, ``ProcessorInfo``, ``NetworkInfo``) of the
            types DescribeInstanceTypeOfferings lists for the region; the others are absent.
        """
        if not instance_types:
            return []
        offerings = self.paginate(
            "describe_instance_type_offerings",
            "InstanceTypeOfferings",
            LocationType="region",
            Filters=[{"Name": "instance-type", "Values": instance_types}],
        )
        offered = sorted({offering["InstanceType"] for offering in offerings})
        return self.paginate("describe_instance_types", "InstanceTypes", InstanceTypes=offered) if offered else []

    def describe_route_tables(self, vpc_id: str) -> list[dict[str, Any]]:
        """
        Every route table of a VPC, the main one included.

        :param vpc_id: The VPC, e.g. a cluster's ``resourcesVpcConfig.vpcId``.
        :return: The ``RouteTables`` of DescribeRouteTables.
        """
        return self.paginate("describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])

    def launch_template_data(self, template_id: str, version: str = "$Default") -> dict[str, Any]:
        """
        What one version of a launch template sets (instance type, metadata options, volumes...).

        :param template_id: The launch template's id, e.g. a node group's ``launchTemplate.id``.
        :param version: The version number, or ``$Default``/``$Latest``.
        :return: The ``LaunchTemplateData`` of that version.
        """
        versions = self.conn.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version])
        return versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]

    def describe_instance_types(self, instance_types: list[str]) -> list[dict[str, Any]]:
        """
        Describe instance types by name (in requests of 100, the most one request names).

        :param instance_types: Instance type names, e.g. the ``node.kubernetes.io/instance-type`` of a cluster's
            nodes; each named once.
        :return: The ``InstanceTypes`` of DescribeInstanceTypes (``VCpuInfo``, ``MemoryInfo``, ``NetworkInfo``,
            ``Hypervisor``, ``CurrentGeneration``, ``BareMetal``).
        """
        names = sorted(set(instance_types))
        return [
            described
            for start in range(0, len(names), INSTANCE_TYPES_PER_REQUEST)
            for described in self.paginate(
                "describe_instance_types",
                "InstanceTypes",
                InstanceTypes=names[start : start + INSTANCE_TYPES_PER_REQUEST],
            )
        ]

    def find_volumes(self, volume_ids: list[str]) -> list[dict[str, Any]]:
        """
        Describe those of the EBS volumes that exist (DescribeVolumes by id refuses the whole call for one missing
        id: a PersistentVolume may outlive its volume).

        :param volume_ids: The volumes, e.g. the ``csi.volumeHandle`` of a cluster's PersistentVolumes.
        :return: The ``Volumes`` of DescribeVolumes filtered by ``volume-id`` (``VolumeType``, ``Size`` in GiB,
            ``Iops``, ``Throughput``); a missing volume is simply absent.
        """
        ids = sorted(set(volume_ids))
        return [
            volume
            for start in range(0, len(ids), VOLUME_IDS_PER_REQUEST)
            for volume in self.paginate(
                "describe_volumes",
                "Volumes",
                Filters=[{"Name": "volume-id", "Values": ids[start : start + VOLUME_IDS_PER_REQUEST]}],
            )
        ]
