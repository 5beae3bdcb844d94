"""Read what the Pod Identity migration decides on: the cluster, its IRSA estate, associations, roles, agent.

Read-only: DescribeCluster, the Pod Identity associations, Fargate profiles and add-ons (with what their version
says about Pod Identity), the roles' trust policies, the account's OIDC providers, and the Kubernetes objects the
estate is built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eks_runbooks.core.pod_identity.assess import MigrationFacts
from eks_runbooks.core.pod_identity.estate import Credentials, KubernetesObjects, map_irsa_estate, pod_view
from eks_runbooks.core.pod_identity.facts import load_pod_identity_facts
from eks_runbooks.core.pod_identity.plan import migrated_by_this_runbook
from eks_runbooks.core.pod_identity.trust import oidc_provider_arn

if TYPE_CHECKING:
    from eks_runbooks.core.pod_identity.request import MigrationRequest
    from eks_runbooks.hooks.eks import EksRunbookHook
    from eks_runbooks.hooks.iam import IamRolesHook
    from eks_runbooks.readers.cluster import KubernetesReader

_KINDS = {
    "service_accounts": ("v1", "ServiceAccount"),
    "pods": ("v1", "Pod"),
    "nodes": ("v1", "Node"),
    "replica_sets": ("apps/v1", "ReplicaSet"),
    "deployments": ("apps/v1", "Deployment"),
    "stateful_sets": ("apps/v1", "StatefulSet"),
    "daemon_sets": ("apps/v1", "DaemonSet"),
    "jobs": ("batch/v1", "Job"),
    "cron_jobs": ("batch/v1", "CronJob"),
}


def read_kubernetes_objects(kube: KubernetesReader) -> KubernetesObjects:
    return KubernetesObjects(**{name: kube.list(version, kind) for name, (version, kind) in _KINDS.items()})


def _addon_service_accounts(
    addons: list[dict[str, Any]], configuration: Mapping[str, list[dict[str, Any]]], objects: KubernetesObjects
) -> dict[str, str]:
    """``namespace/name`` of each add-on's service account → the add-on: from the version's
    podIdentityConfiguration, else the service account its serviceAccountRoleArn annotates."""
    owners: dict[str, str] = {}
    annotation = load_pod_identity_facts().irsa_annotation
    for addon in addons:
        namespace = (addon.get("namespaceConfig") or {}).get("namespace") or "kube-system"
        for entry in configuration.get(addon["addonName"], []):
            owners[f"{namespace}/{entry['serviceAccount']}"] = addon["addonName"]
        role = addon.get("serviceAccountRoleArn")
        for account in objects.service_accounts:
            metadata = account["metadata"]
            if (
                role
                and metadata["namespace"] == namespace
                and (metadata.get("annotations") or {}).get(annotation) == role
            ):
                owners[f"{namespace}/{metadata['name']}"] = addon["addonName"]
    return owners


def read_migration_facts(
    hook: EksRunbookHook, iam: IamRolesHook, kube: KubernetesReader, request: MigrationRequest
) -> MigrationFacts:
    """Everything one run of the migration decides on, for the service accounts in the request's scope."""
    facts = load_pod_identity_facts()
    cluster = hook.get_cluster(request.cluster_name)
    partition, account_id = cluster["arn"].split(":")[1], cluster["arn"].split(":")[4]
    issuer = ((cluster.get("identity") or {}).get("oidc") or {}).get("issuer")
    provider = oidc_provider_arn(partition, account_id, issuer) if issuer else None
    addons = hook.describe_addons(request.cluster_name)
    configuration = {
        addon["addonName"]: hook.addon_pod_identity_configuration(addon["addonName"], addon["addonVersion"])
        for addon in addons
        if addon.get("serviceAccountRoleArn") or addon.get("podIdentityAssociations")
    }
    associations = hook.describe_pod_identity_associations(request.cluster_name)
    objects = read_kubernetes_objects(kube)
    owners = _addon_service_accounts(addons, configuration, objects)
    ours = [f"{a['namespace']}/{a['serviceAccount']}" for a in associations if migrated_by_this_runbook(a)]
    estate = [
        account
        for account in map_irsa_estate(objects, addon_service_accounts=owners, also=ours, facts=facts)
        if request.in_scope(account.namespace, account.name) and (request.include_addons or account.addon is None)
    ]
    roles_named = {account.role_arn for account in estate if account.role_arn} | {
        a["roleArn"] for a in associations if f"{a['namespace']}/{a['serviceAccount']}" in {x.key for x in estate}
    }
    nodes = {node["metadata"]["name"]: node for node in objects.nodes}
    return MigrationFacts(
        cluster=cluster,
        account_id=account_id,
        oidc_provider_arn=provider,
        oidc_provider_exists=bool(provider) and iam.oidc_provider_exists(provider),
        estate=estate,
        associations=associations,
        fargate_profiles=hook.describe_fargate_profiles(request.cluster_name),
        addons=addons,
        addon_pod_identity=configuration,
        roles={arn: _role(iam, arn, account_id) for arn in sorted(roles_named)},
        nodes=list(objects.nodes),
        agent_pods=[
            pod
            for pod in objects.pods
            if pod["metadata"]["namespace"] == facts.agent_namespace
            and any(ref.get("name") == facts.agent_daemonset for ref in pod["metadata"].get("ownerReferences") or [])
        ],
        annotated_by_role=_annotated_by_role(objects),
        irsa_pods_by_role=_irsa_pods_by_role(objects, nodes),
    )


def _role(iam: IamRolesHook, arn: str, account_id: str) -> dict[str, Any] | None:
    from eks_runbooks.hooks.iam import role_name_of

    if arn.split(":")[4] != account_id:
        return None  # another account's role: not readable with the cluster account's identity
    return iam.get_role(role_name_of(arn))


def _annotated_by_role(objects: KubernetesObjects) -> dict[str, list[str]]:
    annotation = load_pod_identity_facts().irsa_annotation
    found: dict[str, list[str]] = {}
    for account in objects.service_accounts:
        metadata = account["metadata"]
        role = (metadata.get("annotations") or {}).get(annotation)
        if role:
            found.setdefault(role, []).append(f"{metadata['namespace']}/{metadata['name']}")
    return found


def _irsa_pods_by_role(objects: KubernetesObjects, nodes: Mapping[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pod in objects.pods:
        view = pod_view(pod, nodes)
        if view.credentials is Credentials.IRSA and view.irsa_role:
            found.setdefault(view.irsa_role, []).append(f"{pod['metadata']['namespace']}/{view.name}")
    return found
