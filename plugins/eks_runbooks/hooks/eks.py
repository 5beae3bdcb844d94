"""The EKS hook the runbooks use: the provider's ``EksHook`` plus paginated reads, updates and waiters."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from airflow.providers.amazon.aws.hooks.eks import EksHook

from eks_runbooks.core.eks.updates import UpdateRef
from eks_runbooks.hooks.pagination import PaginatedReadsMixin
from eks_runbooks.hooks.sessions import OneSessionMixin

WAITERS_FILE = Path(__file__).resolve().parents[1] / "waiters" / "eks_runbooks.json"
#: The operations that start an EKS update (their answer is an ``update`` to follow with DescribeUpdate).
UPDATE_OPERATIONS = ("update_cluster_version", "update_addon", "update_nodegroup_version")
#: How many of a target's latest updates a runbook looks through (for the one in flight, or recent failures).
RECENT_UPDATES = 20
#: How long the presigned URL of an EKS token may be used (the provider's ``eks_get_token`` value).
TOKEN_URL_EXPIRES_IN = 60

T = TypeVar("T")


class EksRunbookHook(OneSessionMixin, PaginatedReadsMixin, EksHook):
    """
    Interact with Amazon EKS: the provider's ``EksHook`` plus the reads and updates the runbooks make.

    Reads are paginated to the last page; every EKS call the runbooks make goes through a method here. botocore
    has no waiter for an insights refresh: ``insights_refresh_completed`` lives in ``waiters/eks_runbooks.json``;
    botocore's own waiters stay available under their names. EKS updates are followed by
    ``triggers.eks.EksUpdatesTrigger`` (or by polling ``update_statuses`` in the worker).

    One boto3 session per hook (``OneSessionMixin``): the EC2 and Elastic Load Balancing reads of the same clusters
    go through ``sibling`` hooks on it, and EKS's catalogue for the region (the version calendar, the add-on
    versions of a Kubernetes version) is read once per hook, whatever the number of clusters read through it.

    Additional arguments (such as ``aws_conn_id``) may be specified and are passed down to the underlying
    AwsBaseHook.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.eks.EksHook`
    """

    @cached_property
    def waiter_path(self) -> Path:
        return WAITERS_FILE

    def get_cluster(self, cluster_name: str) -> dict[str, Any]:
        """
        Describe one cluster.

        :param cluster_name: The name of the cluster.
        :return: The ``cluster`` object of DescribeCluster.
        """
        return self.conn.describe_cluster(name=cluster_name)["cluster"]

    def find_cluster(self, cluster_name: str) -> dict[str, Any] | None:
        """
        Describe one cluster, if there is one of that name.

        :param cluster_name: The name of the cluster.
        :return: The ``cluster`` object of DescribeCluster; None when the region has no cluster of that name.
        """
        try:
            return self.get_cluster(cluster_name)
        except self.conn.exceptions.ResourceNotFoundException:
            return None

    @cached_property
    def _region_reads(self) -> dict[tuple[str | None, ...], Any]:
        return {}

    def _once(self, key: tuple[str | None, ...], read: Callable[[], T]) -> T:
        """What ``read`` returns, read once per hook: the answer is the region's, not a cluster's."""
        if key not in self._region_reads:
            self._region_reads[key] = read()
        return self._region_reads[key]

    def kubernetes_token(self, cluster_name: str) -> str:
        """
        A token for the cluster's Kubernetes API: a presigned STS ``GetCallerIdentity`` URL naming the cluster
        (``k8s-aws-v1.<base64>``), signed with the hook's session, as the provider's ``eks_get_token`` signs it —
        without making two boto3 clients per token.

        :param cluster_name: The cluster the token is for (the signed ``x-k8s-aws-id`` header).
        :return: The bearer token; its URL may be used for ``TOKEN_URL_EXPIRES_IN`` seconds.
        """
        from botocore.signers import RequestSigner

        session = self.get_session()
        region = self.region_name or session.region_name
        signer = RequestSigner(
            service_id=self.conn.meta.service_model.service_id,
            region_name=region,
            signing_name="sts",
            signature_version="v4",
            credentials=session.get_credentials(),
            event_emitter=session.events,
        )
        request = {
            "method": "GET",
            "url": f"{self._sts_endpoint}/?Action=GetCallerIdentity&Version=2011-06-15",
            "body": {},
            "headers": {"x-k8s-aws-id": cluster_name},
            "context": {},
        }
        url = signer.generate_presigned_url(
            request, region_name=region, expires_in=TOKEN_URL_EXPIRES_IN, operation_name=""
        )
        return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")

    @cached_property
    def _sts_endpoint(self) -> str:
        # EKS accepts only the regional STS endpoint (the provider's own kubeconfig insists on it too).
        sts = self.get_session().client("sts", region_name=self.region_name, endpoint_url=self.conn_config.endpoint_url)
        return sts.meta.endpoint_url

    def describe_insights(
        self,
        cluster_name: str,
        categories: list[str] | None = None,
        *,
        refresh: bool = False,
        waiter_delay: float = 15,
        waiter_max_attempts: int = 40,
    ) -> list[dict[str, Any]]:
        """
        Describe a cluster's insights, refreshing them first when asked (EKS otherwise refreshes once a day).

        :param cluster_name: The name of the cluster.
        :param categories: Only these categories, e.g. ``["UPGRADE_READINESS"]`` (default: all).
        :param refresh: Start an insights refresh and wait for it (waiter ``insights_refresh_completed``) first.
        :param waiter_delay: Seconds between DescribeInsightsRefresh calls while the refresh runs.
        :param waiter_max_attempts: How many times to look before giving up.
        :return: The ``insight`` object of DescribeInsight for each.
        """
        if refresh:
            self.conn.start_insights_refresh(clusterName=cluster_name)
            self.get_waiter("insights_refresh_completed").wait(
                clusterName=cluster_name, WaiterConfig={"Delay": waiter_delay, "MaxAttempts": waiter_max_attempts}
            )
        arguments = {"filter": {"categories": categories}} if categories else {}
        return [
            self.conn.describe_insight(clusterName=cluster_name, id=summary["id"])["insight"]
            for summary in self.paginate("list_insights", "insights", clusterName=cluster_name, **arguments)
        ]

    def tag_cluster(self, cluster_arn: str, tags: dict[str, str]) -> None:
        """
        Add tags to a cluster (or to another EKS resource: an add-on, an association).

        :param cluster_arn: The resource's ARN.
        :param tags: Tag keys and values to set.
        """
        self.conn.tag_resource(resourceArn=cluster_arn, tags=tags)

    def untag_cluster(self, cluster_arn: str, keys: list[str]) -> None:
        """
        Remove tags from a cluster.

        :param cluster_arn: The cluster's ARN.
        :param keys: The tag keys to remove.
        """
        self.conn.untag_resource(resourceArn=cluster_arn, tagKeys=keys)

    def start_update(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """
        Start an EKS update: UpdateClusterVersion, UpdateAddon or UpdateNodegroupVersion.

        :param operation: ``update_cluster_version``, ``update_addon`` or ``update_nodegroup_version``.
        :param request: The operation's arguments (with its ``clientRequestToken``).
        :return: The ``update`` object EKS returned (for a repeated token: the update it already started).
        """
        if operation not in UPDATE_OPERATIONS:
            raise ValueError(f"{operation} is not an EKS update; expected one of {', '.join(UPDATE_OPERATIONS)}")
        return getattr(self.conn, operation)(**request)["update"]

    def update_statuses(self, cluster_name: str, updates: list[UpdateRef]) -> list[str]:
        """
        The status of each update (for a wait in the worker).

        :param cluster_name: The name of the cluster the updates belong to.
        :param updates: The updates to look at.
        :return: Each update's ``status`` (InProgress, Successful, Failed, Cancelled), in the same order.
        """
        return [self.describe_update(cluster_name, ref)["status"] for ref in updates]

    async def wait_client(self) -> Any:
        """An aiobotocore EKS client for a trigger to hold for its whole wait, as the provider's waiter triggers
        do: ``async with await hook.wait_client() as client``."""
        return await self.get_async_conn()

    async def update_statuses_async(
        self, cluster_name: str, updates: list[UpdateRef], client: Any | None = None
    ) -> list[str]:
        """
        The status of each update, read through the async client (for triggers).

        :param cluster_name: The name of the cluster the updates belong to.
        :param updates: The updates to look at.
        :param client: An open aiobotocore EKS client to reuse (a trigger keeps one for its whole wait); without
            one, a client is opened for this call.
        :return: Each update's ``status`` (InProgress, Successful, Failed, Cancelled), in the same order.
        """
        if client is None:
            async with await self.get_async_conn() as opened:
                return await self.update_statuses_async(cluster_name, updates, client=opened)
        return [
            (await client.describe_update(**update_request(cluster_name, ref)))["update"]["status"] for ref in updates
        ]

    def creation_states(self, cluster_name: str, resources: list[str]) -> dict[str, dict[str, Any]]:
        """
        The status and health issues of resources being created (for a wait in the worker).

        :param cluster_name: The name of the cluster.
        :param resources: ``"cluster"``, ``"addon/<name>"`` or ``"nodegroup/<name>"`` refs.
        :return: ``{ref: {"status": ..., "issues": [health issues]}}``.
        """
        return {ref: creation_state(ref, self._describe_created(self.conn, cluster_name, ref)) for ref in resources}

    async def creation_states_async(self, cluster_name: str, resources: list[str]) -> dict[str, dict[str, Any]]:
        """``creation_states`` through the async client (for triggers)."""
        async with await self.get_async_conn() as client:
            return {
                ref: creation_state(ref, await self._describe_created(client, cluster_name, ref)) for ref in resources
            }

    @staticmethod
    def _describe_created(client: Any, cluster_name: str, ref: str) -> Any:
        kind, _, name = ref.partition("/")
        if kind == "cluster":
            return client.describe_cluster(name=cluster_name)
        if kind == "addon":
            return client.describe_addon(clusterName=cluster_name, addonName=name)
        if kind == "nodegroup":
            return client.describe_nodegroup(clusterName=cluster_name, nodegroupName=name)
        raise ValueError(f"{ref!r} is not cluster, addon/<name> or nodegroup/<name>")

    def describe_nodegroups(self, cluster_name: str) -> list[dict[str, Any]]:
        """
        Describe every managed node group of a cluster.

        :param cluster_name: The name of the cluster.
        :return: The ``nodegroup`` object of DescribeNodegroup for each, in ListNodegroups order.
        """
        return [
            self.conn.describe_nodegroup(clusterName=cluster_name, nodegroupName=name)["nodegroup"]
            for name in self.paginate("list_nodegroups", "nodegroups", clusterName=cluster_name)
        ]

    def describe_addons(self, cluster_name: str) -> list[dict[str, Any]]:
        """
        Describe every managed add-on installed on a cluster.

        :param cluster_name: The name of the cluster.
        :return: The ``addon`` object of DescribeAddon for each, in ListAddons order.
        """
        return [
            self.conn.describe_addon(clusterName=cluster_name, addonName=name)["addon"]
            for name in self.paginate("list_addons", "addons", clusterName=cluster_name)
        ]

    def list_pod_identity_associations(self, cluster_name: str) -> list[dict[str, Any]]:
        """
        The Pod Identity associations of a cluster, as summaries (namespace, service account, id; no role).

        :param cluster_name: The name of the cluster.
        :return: The ``associations`` of ListPodIdentityAssociations.
        """
        return self.paginate("list_pod_identity_associations", "associations", clusterName=cluster_name)

    def describe_pod_identity_associations(self, cluster_name: str) -> list[dict[str, Any]]:
        """
        Describe every Pod Identity association of a cluster (with its role and tags).

        :param cluster_name: The name of the cluster.
        :return: The ``association`` object of DescribePodIdentityAssociation for each.
        """
        return [
            self.conn.describe_pod_identity_association(
                clusterName=cluster_name, associationId=summary["associationId"]
            )["association"]
            for summary in self.list_pod_identity_associations(cluster_name)
        ]

    def describe_fargate_profiles(self, cluster_name: str) -> list[dict[str, Any]]:
        """
        Describe every Fargate profile of a cluster.

        :param cluster_name: The name of the cluster.
        :return: The ``fargateProfile`` object of DescribeFargateProfile for each.
        """
        return [
            self.conn.describe_fargate_profile(clusterName=cluster_name, fargateProfileName=name)["fargateProfile"]
            for name in self.paginate("list_fargate_profiles", "fargateProfileNames", clusterName=cluster_name)
        ]

    def addon_pod_identity_configuration(self, addon_name: str, addon_version: str) -> list[dict[str, Any]]:
        """
        What an add-on version says about Pod Identity: its service accounts and recommended policies.

        :param addon_name: The add-on, e.g. ``aws-ebs-csi-driver``.
        :param addon_version: Its version, e.g. ``v1.37.0-eksbuild.1``.
        :return: DescribeAddonConfiguration ``podIdentityConfiguration`` (empty: the version does not support it).
        """
        answer = self.conn.describe_addon_configuration(addonName=addon_name, addonVersion=addon_version)
        return answer.get("podIdentityConfiguration") or []

    def describe_addon(self, cluster_name: str, addon_name: str) -> dict[str, Any]:
        """
        Describe one installed add-on.

        :param cluster_name: The name of the cluster.
        :param addon_name: The add-on.
        :return: The ``addon`` object of DescribeAddon.
        """
        return self.conn.describe_addon(clusterName=cluster_name, addonName=addon_name)["addon"]

    def create_addon(self, cluster_name: str, addon_name: str, request_token: str) -> None:
        """
        Install an add-on at EKS's default version for the cluster.

        :param cluster_name: The name of the cluster.
        :param addon_name: The add-on.
        :param request_token: The idempotency token (a retry installs nothing twice).
        """
        self.conn.create_addon(clusterName=cluster_name, addonName=addon_name, clientRequestToken=request_token)

    def set_addon_pod_identity(
        self,
        cluster_name: str,
        addon_name: str,
        associations: list[dict[str, str]],
        *,
        request_token: str | None = None,
        service_account_role_arn: str | None = None,
    ) -> None:
        """
        Replace an add-on's Pod Identity associations (``[]``: none, back to IRSA with ``service_account_role_arn``)
        and wait until the add-on is ACTIVE again.

        :param cluster_name: The name of the cluster.
        :param addon_name: The add-on.
        :param associations: ``[{"serviceAccount", "roleArn"}]``, every association the add-on should own.
        :param request_token: The idempotency token.
        :param service_account_role_arn: The IRSA role to set at the same time.
        """
        request: dict[str, Any] = {
            "clusterName": cluster_name,
            "addonName": addon_name,
            "podIdentityAssociations": associations,
            "resolveConflicts": "PRESERVE",
        }
        if request_token:
            request["clientRequestToken"] = request_token
        if service_account_role_arn:
            request["serviceAccountRoleArn"] = service_account_role_arn
        self.conn.update_addon(**request)
        self.conn.get_waiter("addon_active").wait(clusterName=cluster_name, addonName=addon_name)

    def create_pod_identity_association(
        self,
        cluster_name: str,
        namespace: str,
        service_account: str,
        role_arn: str,
        tags: dict[str, str],
        request_token: str,
    ) -> dict[str, Any]:
        """
        Associate a service account with a role.

        :param cluster_name: The name of the cluster.
        :param namespace: The service account's namespace.
        :param service_account: The service account's name.
        :param role_arn: The role its pods get.
        :param tags: Tags of the association.
        :param request_token: The idempotency token.
        :return: The ``association`` object of CreatePodIdentityAssociation.
        """
        return self.conn.create_pod_identity_association(
            clusterName=cluster_name,
            namespace=namespace,
            serviceAccount=service_account,
            roleArn=role_arn,
            tags=tags,
            clientRequestToken=request_token,
        )["association"]

    def delete_pod_identity_association(self, cluster_name: str, association_id: str) -> bool:
        """
        Delete an association.

        :param cluster_name: The name of the cluster.
        :param association_id: The association.
        :return: False when it was already gone.
        """
        try:
            self.conn.delete_pod_identity_association(clusterName=cluster_name, associationId=association_id)
        except self.conn.exceptions.ResourceNotFoundException:
            return False
        return True

    def describe_addon_versions(self, kubernetes_version: str, addon_name: str | None = None) -> list[dict[str, Any]]:
        """
        The add-on versions EKS publishes for a Kubernetes version (read once per hook; callers must not change
        the answer).

        :param kubernetes_version: The cluster version the versions must be compatible with, e.g. ``1.33``.
        :param addon_name: Only this add-on (default: every add-on).
        :return: The ``addons`` entries of DescribeAddonVersions, each with its ``addonVersions``.
        """
        arguments = {"kubernetesVersion": kubernetes_version} | ({"addonName": addon_name} if addon_name else {})
        return self._once(
            ("addon_versions", kubernetes_version, addon_name),
            lambda: self.paginate("describe_addon_versions", "addons", **arguments),
        )

    def describe_cluster_versions(self) -> list[dict[str, Any]]:
        """
        EKS's version calendar: every version with its support status and dates (UNSUPPORTED ones included);
        read once per hook.

        :return: The ``clusterVersions`` entries of DescribeClusterVersions.
        """
        return self._once(
            ("cluster_versions",),
            lambda: self.paginate("describe_cluster_versions", "clusterVersions", includeAll=True),
        )

    def describe_cluster_version(self, kubernetes_version: str) -> dict[str, Any] | None:
        """
        EKS's calendar entry for one Kubernetes version: its support status and dates (read once per hook).

        :param kubernetes_version: The version, e.g. a cluster's ``version`` ``1.31``.
        :return: Its ``clusterVersions`` entry of DescribeClusterVersions (``versionStatus``,
            ``endOfStandardSupportDate``, ``endOfExtendedSupportDate``); None when EKS does not list it.
        """
        versions = self._once(
            ("cluster_version", kubernetes_version),
            lambda: self.paginate(
                "describe_cluster_versions", "clusterVersions", clusterVersions=[kubernetes_version], includeAll=True
            ),
        )
        return next((v for v in versions if v.get("clusterVersion") == kubernetes_version), None)

    def recent_updates(
        self,
        cluster_name: str,
        nodegroup_name: str | None = None,
        addon_name: str | None = None,
        limit: int = RECENT_UPDATES,
    ) -> list[dict[str, Any]]:
        """
        Describe the latest updates of a cluster, or of one of its node groups or add-ons.

        :param cluster_name: The name of the cluster.
        :param nodegroup_name: The node group, for node group updates.
        :param addon_name: The add-on, for add-on updates.
        :param limit: How many of the latest updates to describe.
        :return: The ``update`` objects of DescribeUpdate, newest first.
        """
        scope = update_scope(cluster_name, nodegroup_name, addon_name)
        ids = self.paginate("list_updates", "updateIds", **scope)[-limit:] if limit > 0 else []
        return [self.conn.describe_update(**scope, updateId=update_id)["update"] for update_id in reversed(ids)]

    def describe_update(self, cluster_name: str, update: UpdateRef) -> dict[str, Any]:
        """
        Describe one update of a cluster, or of one of its node groups or add-ons.

        :param cluster_name: The name of the cluster the update belongs to.
        :param update: The update, as returned when it was started.
        :return: The ``update`` object of DescribeUpdate.
        """
        return self.conn.describe_update(**update_request(cluster_name, update))["update"]


def update_request(cluster_name: str, update: UpdateRef) -> dict[str, str]:
    """DescribeUpdate arguments for an update of a cluster, a node group or an add-on."""
    return update_scope(cluster_name, update.nodegroup_name, update.addon_name) | {"updateId": update.update_id}


def update_scope(cluster_name: str, nodegroup_name: str | None = None, addon_name: str | None = None) -> dict[str, str]:
    """ListUpdates arguments naming what was updated: the cluster itself, one node group or one add-on."""
    scope = {"name": cluster_name}
    if nodegroup_name:
        scope["nodegroupName"] = nodegroup_name
    if addon_name:
        scope["addonName"] = addon_name
    return scope


def creation_state(ref: str, answer: dict[str, Any]) -> dict[str, Any]:
    """A resource's status and health issues from its Describe answer (cluster, addon or nodegroup)."""
    kind = ref.partition("/")[0]
    described = answer[kind]
    issues = (described.get("health") or {}).get("issues") or []
    return {"status": described["status"], "issues": issues}
